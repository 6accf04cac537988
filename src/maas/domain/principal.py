"""Who is calling: the identity a checked API key stands for."""

from __future__ import annotations

from dataclasses import dataclass

from maas.domain.roles import Role

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    key_name: str
    role: Role
    tenant_id: str
    tenant_name: str

    @property
    def actor(self) -> str:
        """How this caller appears in histories: ``key-name (key id prefix)``."""
        return f"{self.key_name} ({self.key_id[:8]})"
