"""Roles of API keys, ordered from least to most powerful."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """What a key may do. Each role may do everything the roles before it may."""

    CONSUMER = "consumer"
    """Predict only."""
    VIEWER = "viewer"
    """Read models, versions, reports; predict is not included."""
    DEVELOPER = "developer"
    """Datasets, training, uploads, aliases."""
    ADMIN = "admin"
    """Keys, tenants, everything."""

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether a key with this role may do what needs ``needed``.

        ``consumer`` and ``viewer`` are side by side: a viewer reads but does not predict, a
        consumer predicts but does not read. Developers and admins do both.
        """
        if self is needed:
            return True
        if {self, needed} == {Role.CONSUMER, Role.VIEWER}:
            return False
        return self.rank > needed.rank


_RANK = {Role.CONSUMER: 0, Role.VIEWER: 0, Role.DEVELOPER: 1, Role.ADMIN: 2}
