"""The artifact store contract: atomic puts, checksummed gets.

An artifact store implements:

- ``put(key, data)``: store ``data`` under ``key`` so that no reader ever sees a partial object
  (write to a temporary name, then rename; or a single-request upload). Returns where it went,
  its sha256 and its size.
- ``get(uri, sha256=...)``: read the bytes back and verify them against ``sha256``; raise
  ``IntegrityError`` on mismatch and ``NotFoundError`` when nothing is there.
- ``delete(uri)``: remove the object; no error if it is already gone.

Keys are relative, ``/``-separated, made of safe characters only (``check_key``): a key can
never escape the store's root.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from maas.errors import InvalidNameError

__all__ = ["ArtifactStore", "StoredArtifact", "check_key", "sha256_hex"]

_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    uri: str
    sha256: str
    size: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """Return ``key`` if every ``/``-separated part is a safe name (no ``..``, no absolute path).

    Raises:
        InvalidNameError: the key could escape the store's root or holds unsafe characters.
    """
    parts = key.split("/")
    if not key or any(not _KEY_PART.match(p) or ".." in p for p in parts):
        raise InvalidNameError(
            f"artifact key {key!r} is not a relative path of safe names.",
            field="key",
            received=key,
        )
    return key


@runtime_checkable
class ArtifactStore(Protocol):
    """Where model artifacts (and later datasets) are kept."""

    root_uri: str

    def put(self, key: str, data: bytes) -> StoredArtifact:
        """Store ``data`` atomically under ``key`` (overwriting is allowed but never partial)."""
        ...

    def get(self, uri: str, *, sha256: str) -> bytes:
        """Read and verify the object at ``uri``.

        Raises:
            NotFoundError: nothing is stored there.
            IntegrityError: the bytes do not hash to ``sha256``.
        """
        ...

    def delete(self, uri: str) -> None:
        """Remove the object at ``uri`` if it exists."""
        ...
