"""Names of models, aliases and tenants: checked so they are safe in URLs, paths and keys."""

from __future__ import annotations

import re

from maas.errors import InvalidNameError

__all__ = ["RESERVED_ALIASES", "check_alias", "check_name", "parse_model_ref"]

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

RESERVED_ALIASES = frozenset({"latest"})
"""Aliases the platform computes itself and which cannot be set."""


def check_name(value: str, *, field: str = "name") -> str:
    """Return ``value`` if it is a valid model or tenant name.

    A name is 1–64 characters of lower-case letters, digits, ``.``, ``_`` and ``-``, starting
    and ending with a letter or digit, and never containing ``..``, so it can never name a
    parent folder.

    Raises:
        InvalidNameError: the name does not follow those rules.
    """
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise InvalidNameError(
            f"{field} must be 1-64 lower-case letters, digits, '.', '_' or '-', starting and "
            f"ending with a letter or digit. Got {value!r} instead.",
            field=field,
            expected="^[a-z0-9][a-z0-9._-]{0,62}[a-z0-9]$",
            received=value,
        )
    return value


def check_alias(value: str, *, field: str = "alias", allow_reserved: bool = False) -> str:
    """Return ``value`` if it is a valid alias name (``production``, ``staging``, ...).

    Raises:
        InvalidNameError: the alias is malformed, all digits (it would read as a version) or
            reserved.
    """
    if not isinstance(value, str) or not _ALIAS.match(value):
        raise InvalidNameError(
            f"{field} must start with a letter and hold at most 40 lower-case letters, digits, "
            f"'_' or '-'. Got {value!r} instead.",
            field=field,
            expected="^[a-z][a-z0-9_-]{0,39}$",
            received=value,
        )
    if value in RESERVED_ALIASES and not allow_reserved:
        raise InvalidNameError(
            f"{field} {value!r} is reserved and set by the platform itself.",
            field=field,
            received=value,
        )
    return value


def parse_model_ref(ref: str) -> tuple[str, str | int]:
    """Split ``NAME``, ``NAME@ALIAS`` or ``NAME@VERSION`` into a name and an alias or version.

    A bare name means its ``production`` alias.

    Raises:
        InvalidNameError: either part is malformed.
    """
    name, sep, selector = ref.partition("@")
    check_name(name, field="model")
    if not sep:
        return name, "production"
    if selector.isdigit():
        version = int(selector)
        if version < 1:
            raise InvalidNameError(
                "version must be a positive integer.", field="version", received=selector
            )
        return name, version
    return name, check_alias(selector, allow_reserved=True)
