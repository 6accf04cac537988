"""Encryption at rest: AES-256-GCM envelope encryption of artifacts, one data key per tenant.

- The **master key** (32 bytes, from ``MAAS_MASTER_KEY`` or a key file) never touches a blob:
  it only wraps the data keys (AES-256-GCM, bound to the tenant and key version).
- Each tenant's **data key** is made on first use and kept wrapped in ``tenant_keys``;
  unwrapped keys are cached in memory by the ``Keyring``.
- ``rotate_master`` re-wraps every data key in one transaction; no blob is rewritten.

A sealed blob is ``MAGIC | data key version (4 bytes, big endian) | nonce (12) | ciphertext |
tag (16)``, authenticated together with its store key (``<tenant_id>/...``), so a flipped byte,
another tenant's key or a blob copied to another path all fail to open.

The sha256 a put returns (and the registry records) is that of the sealed bytes **as stored**:
the inner store's own check still runs on every get, before decryption, and checksums never
reveal anything about the plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from maas.errors import IntegrityError, InvalidNameError, InvalidParameterError
from maas.store.artifacts.base import ArtifactStore, StoredArtifact, check_key
from maas.store.db import Database
from maas.store.tables import TenantKeyRow, utcnow

__all__ = [
    "MAGIC",
    "EncryptedArtifactStore",
    "Keyring",
    "load_master_key",
    "master_key_id",
    "open_blob",
    "parse_master_key",
    "rotate_master_key",
    "seal_blob",
]

MAGIC = b"MAASENC1"
"""First bytes of every sealed blob."""

_HEADER = struct.Struct(">8sI")
_NONCE = 12
_TAG = 16
_KEY_BYTES = 32


def parse_master_key(text: str | bytes) -> bytes:
    """A 32-byte master key from its text form: 64 hex digits or base64 (standard or URL-safe).

    Raises:
        InvalidParameterError: the text is not 32 bytes in one of these forms.
    """
    raw = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    raw = raw.strip()
    candidates: list[bytes] = []
    if len(raw) == 2 * _KEY_BYTES:
        try:
            candidates.append(bytes.fromhex(raw))
        except ValueError:
            pass
    padded = (raw + "=" * (-len(raw) % 4)).encode("ascii", "replace")
    for altchars in (None, b"-_"):
        try:
            candidates.append(base64.b64decode(padded, altchars=altchars, validate=True))
        except (binascii.Error, ValueError):
            continue
    for key in candidates:
        if len(key) == _KEY_BYTES:
            return key
    raise InvalidParameterError(
        "master_key must be 32 bytes as 64 hex digits or base64 "
        '(make one with: python -c "import secrets; print(secrets.token_hex(32))"). '
        "Got something else instead.",
        field="master_key",
        expected="32 bytes, hex or base64",
    )


def load_master_key(secret: SecretStr | None, file: Path | None) -> bytes | None:
    """The master key from settings: the secret if set, else the key file (raw 32 bytes, hex
    or base64), else None (encryption off).

    Raises:
        InvalidParameterError: both are set, the file cannot be read, or the key is malformed.
    """
    if secret is not None and file is not None:
        raise InvalidParameterError(
            "Set master_key or master_key_file, not both.", field="master_key_file"
        )
    if secret is not None:
        return parse_master_key(secret.get_secret_value())
    if file is None:
        return None
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise InvalidParameterError(
            f"master_key_file {str(file)!r} cannot be read: {exc.strerror}.",
            field="master_key_file",
            received=str(file),
        ) from exc
    return data if len(data) == _KEY_BYTES else parse_master_key(data)


def master_key_id(master: bytes) -> str:
    """A short public fingerprint of a master key, stored next to what it wrapped."""
    return hashlib.sha256(b"maas master key id\x00" + master).hexdigest()[:16]


def _check_master(master: bytes) -> bytes:
    if len(master) != _KEY_BYTES:
        raise InvalidParameterError(
            f"The master key must be {_KEY_BYTES} bytes. Got {len(master)} instead.",
            field="master_key",
            expected=_KEY_BYTES,
            received=len(master),
        )
    return master


def _wrap_aad(tenant_id: str, version: int) -> bytes:
    return b"maas data key\x00" + tenant_id.encode() + b"\x00" + str(version).encode()


def _wrap(master: bytes, tenant_id: str, version: int, data_key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _wrap_aad(tenant_id, version))


def _unwrap(master: bytes, row: TenantKeyRow) -> bytes:
    if row.master_key_id != master_key_id(master):
        raise IntegrityError(
            f"The data key of tenant {row.tenant_id!r} (version {row.key_version}) is wrapped "
            f"by master key {row.master_key_id}, but the master key given is "
            f"{master_key_id(master)}: configure the master key it was wrapped with.",
            field="master_key",
            expected=row.master_key_id,
            received=master_key_id(master),
        )
    blob = row.wrapped_key
    try:
        return AESGCM(master).decrypt(
            blob[:_NONCE], blob[_NONCE:], _wrap_aad(row.tenant_id, row.key_version)
        )
    except InvalidTag as exc:
        raise IntegrityError(
            f"The data key of tenant {row.tenant_id!r} (version {row.key_version}) cannot be "
            f"unwrapped: its stored bytes were altered.",
            field="wrapped_key",
        ) from exc


class Keyring:
    """The tenants' data keys, made on first use, unwrapped once and cached in memory.

    Raises:
        InvalidParameterError: ``master_key`` is not 32 bytes.
    """

    def __init__(self, db: Database, master_key: bytes) -> None:
        self.db = db
        self._master = _check_master(master_key)
        self.master_key_id = master_key_id(master_key)
        self._keys: dict[tuple[str, int], bytes] = {}
        self._current: dict[str, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Keyring(master_key_id={self.master_key_id!r})"

    def current_key(self, tenant_id: str) -> tuple[int, bytes]:
        """The version and bytes of the key that seals the tenant's new blobs (made if none).

        Raises:
            IntegrityError: the stored data key cannot be unwrapped with this master key.
        """
        with self._lock:
            version = self._current.get(tenant_id)
            if version is not None:
                return version, self._keys[(tenant_id, version)]
        for _ in range(3):  # a concurrent process may create the first key at the same moment
            with self.db.writer() as session, session.begin():
                row = session.scalars(
                    select(TenantKeyRow)
                    .where(TenantKeyRow.tenant_id == tenant_id)
                    .order_by(TenantKeyRow.key_version.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    data_key = _unwrap(self._master, row)
                    version = row.key_version
                else:
                    data_key, version = AESGCM.generate_key(bit_length=256), 1
                    try:
                        with session.begin_nested():
                            session.add(
                                TenantKeyRow(
                                    tenant_id=tenant_id,
                                    key_version=version,
                                    wrapped_key=_wrap(self._master, tenant_id, version, data_key),
                                    master_key_id=self.master_key_id,
                                    created_at=utcnow(),
                                )
                            )
                    except sa_exc.IntegrityError:
                        continue
            with self._lock:
                self._keys[(tenant_id, version)] = data_key
                self._current[tenant_id] = version
            return version, data_key
        raise IntegrityError(f"No data key could be made for tenant {tenant_id!r}.")

    def key(self, tenant_id: str, version: int) -> bytes:
        """The data key that opens the tenant's blobs sealed with ``version``.

        Raises:
            IntegrityError: there is no such key, or it cannot be unwrapped.
        """
        with self._lock:
            cached = self._keys.get((tenant_id, version))
        if cached is not None:
            return cached
        with self.db.session() as session:
            row = session.get(TenantKeyRow, (tenant_id, version))
            if row is None:
                raise IntegrityError(
                    f"Tenant {tenant_id!r} has no data key version {version}.",
                    field="key_version",
                    received=version,
                )
            data_key = _unwrap(self._master, row)
        with self._lock:
            self._keys[(tenant_id, version)] = data_key
        return data_key

    def rotate_master(self, new_master: bytes) -> int:
        """Re-wrap every data key still wrapped by this keyring's master key with
        ``new_master``, in one transaction, and use ``new_master`` from now on. Blobs are not
        touched. Keys already under ``new_master`` are skipped, so a rotation can be run again
        (for example after a server still holding the old key made a new tenant's key).

        Returns:
            How many data keys were re-wrapped.

        Raises:
            InvalidParameterError: ``new_master`` is not 32 bytes or is the current key.
            IntegrityError: a data key is wrapped by a third master key (nothing is changed).
        """
        new_master = _check_master(new_master)
        new_id = master_key_id(new_master)
        if new_id == self.master_key_id:
            raise InvalidParameterError(
                "The new master key must differ from the current one.", field="new_master_key"
            )
        rewrapped = 0
        with self.db.writer() as session, session.begin():
            rows = session.scalars(select(TenantKeyRow).with_for_update()).all()
            for row in rows:
                if row.master_key_id == new_id:
                    continue
                data_key = _unwrap(self._master, row)
                row.wrapped_key = _wrap(new_master, row.tenant_id, row.key_version, data_key)
                row.master_key_id = new_id
                row.rotated_at = utcnow()
                rewrapped += 1
        with self._lock:
            self._master, self.master_key_id = new_master, new_id
        return rewrapped


def rotate_master_key(db: Database, *, old_master: bytes, new_master: bytes) -> int:
    """Re-wrap every tenant's data key from ``old_master`` to ``new_master`` (the admin
    command's entry point); see ``Keyring.rotate_master``.

    Raises:
        InvalidParameterError: a key is not 32 bytes, or both are the same.
        IntegrityError: a data key is wrapped by neither key (nothing is changed).
    """
    return Keyring(db, old_master).rotate_master(new_master)


def _tenant_of(key: str) -> str:
    return check_key(key).split("/", 1)[0]


def seal_blob(keyring: Keyring, key: str, data: bytes) -> bytes:
    """Encrypt ``data`` to be stored under ``key`` with the data key of its tenant (the key's
    first part).

    Raises:
        InvalidNameError: ``key`` is not a relative path of safe names.
        IntegrityError: the tenant's data key cannot be unwrapped.
    """
    version, data_key = keyring.current_key(_tenant_of(key))
    header = _HEADER.pack(MAGIC, version)
    nonce = os.urandom(_NONCE)
    return header + nonce + AESGCM(data_key).encrypt(nonce, data, header + key.encode())


def open_blob(keyring: Keyring, key: str, blob: bytes) -> bytes:
    """Decrypt a blob ``seal_blob`` made for ``key``.

    Raises:
        InvalidNameError: ``key`` is not a relative path of safe names.
        IntegrityError: the blob is not sealed, is damaged, was sealed for another key or
            tenant, or its data key is missing or cannot be unwrapped.
    """
    tenant_id = _tenant_of(key)
    if len(blob) < _HEADER.size + _NONCE + _TAG or not blob.startswith(MAGIC):
        raise IntegrityError(
            f"Artifact {key!r} is not an encrypted blob.", field="key", received=key
        )
    header = blob[: _HEADER.size]
    _, version = _HEADER.unpack(header)
    nonce = blob[_HEADER.size : _HEADER.size + _NONCE]
    data_key = keyring.key(tenant_id, version)
    try:
        return AESGCM(data_key).decrypt(nonce, blob[_HEADER.size + _NONCE :], header + key.encode())
    except InvalidTag as exc:
        raise IntegrityError(
            f"Artifact {key!r} cannot be decrypted: it was altered, or sealed for another "
            f"path or tenant.",
            field="key",
            received=key,
        ) from exc


class EncryptedArtifactStore:
    """An ``ArtifactStore`` that seals what it puts and opens what it gets, around another.

    ``allow_plaintext`` lets gets return blobs stored before encryption was turned on (they
    lack ``MAGIC``; only their recorded sha256 guards them). It is off by default: with it on,
    someone able to write both the store and the database could swap a sealed blob for a
    plaintext one (a flipped magic byte plus a forged checksum is read as legacy plaintext).
    """

    def __init__(
        self, inner: ArtifactStore, keyring: Keyring, *, allow_plaintext: bool = False
    ) -> None:
        self.inner = inner
        self.keyring = keyring
        self.allow_plaintext = allow_plaintext
        self.root_uri = inner.root_uri

    def __repr__(self) -> str:
        return f"EncryptedArtifactStore({self.inner!r}, {self.keyring!r})"

    def put(self, key: str, data: bytes) -> StoredArtifact:
        """Seal ``data`` and store it under ``key``; sha256 and size are of the sealed bytes.

        Raises:
            InvalidNameError: ``key`` is not a relative path of safe names.
            IntegrityError: the tenant's data key cannot be unwrapped.
            ConflictError: ``key`` collides with something in the inner store.
        """
        return self.inner.put(key, seal_blob(self.keyring, key, data))

    def get(self, uri: str, *, sha256: str) -> bytes:
        """Read the blob at ``uri``, check its sha256, and decrypt it.

        Raises:
            InvalidNameError: ``uri`` is not an object of this store.
            NotFoundError: nothing is stored at ``uri``.
            IntegrityError: the bytes do not hash to ``sha256``, fail to decrypt, or are
                plaintext while ``allow_plaintext`` is off.
        """
        key = self._key_for(uri)
        blob = self.inner.get(uri, sha256=sha256)
        if not blob.startswith(MAGIC) and self.allow_plaintext:
            return blob
        return open_blob(self.keyring, key, blob)

    def delete(self, uri: str) -> None:
        """Remove the blob at ``uri`` if it exists.

        Raises:
            InvalidNameError: ``uri`` is not an object of this store.
        """
        self.inner.delete(uri)

    def _key_for(self, uri: str) -> str:
        """The store key ``uri`` names (the path under the root, which the blob is bound to)."""
        head = self.root_uri.rstrip("/") + "/"
        key = uri.removeprefix(head) if uri.startswith(head) else ""
        try:
            return check_key(key)
        except InvalidNameError:
            raise InvalidNameError(
                f"Artifact URI must name an object under {self.root_uri}. Got {uri!r} instead.",
                field="uri",
                expected=f"{self.root_uri}/<key>",
                received=uri,
            ) from None
