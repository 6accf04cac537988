"""Encryption at rest: artifacts are unreadable on disk, any tampering is refused at load, and a
master key rotation re-wraps the data keys without touching a blob."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from maas.errors import IntegrityError, InvalidNameError, InvalidParameterError
from maas.runtimes.catalog import get_runtime
from maas.store.artifacts.base import sha256_hex
from maas.store.artifacts.encryption import (
    MAGIC,
    EncryptedArtifactStore,
    Keyring,
    load_master_key,
    master_key_id,
    open_blob,
    parse_master_key,
    rotate_master_key,
    seal_blob,
)
from maas.store.artifacts.local import LocalArtifactStore
from maas.store.db import Database, migrate
from tests.factories import failure_model

MASTER = bytes(range(32))
OTHER_MASTER = bytes(range(100, 132))


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Iterator[Database]:
    database = Database(database_url or f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(database)
    yield database
    database.dispose()


@pytest.fixture
def inner(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def store(db: Database, inner: LocalArtifactStore) -> EncryptedArtifactStore:
    return EncryptedArtifactStore(inner, Keyring(db, MASTER))


def path_of(uri: str) -> Path:
    return Path(url2pathname(urlparse(uri).path))


def wrapped_keys(db: Database) -> dict[str, tuple[bytes, str]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT tenant_id, wrapped_key, master_key_id FROM tenant_keys"))
        return {r.tenant_id: (bytes(r.wrapped_key), r.master_key_id) for r in rows}


def test_encryption_keeps_the_model_out_of_the_clear_on_disk(
    store: EncryptedArtifactStore,
) -> None:
    trained = failure_model()
    stored = store.put(f"tenant-a/pump/model.{trained.format}", trained.artifact)
    on_disk = path_of(stored.uri).read_bytes()
    assert on_disk.startswith(MAGIC)
    assert trained.artifact not in on_disk
    # No 16-byte run of the model survives, nor its feature names.
    runs = {trained.artifact[i : i + 16] for i in range(0, len(trained.artifact) - 16, 16)}
    assert not any(run in on_disk for run in runs)
    for column in trained.signature.model_dump_json().split('"'):
        if len(column) > 6:
            assert column.encode() not in on_disk
    assert stored.sha256 == sha256_hex(on_disk)
    assert stored.size == len(on_disk)
    back = store.get(stored.uri, sha256=stored.sha256)
    assert back == trained.artifact
    get_runtime(trained.format).load(back, trained.signature)


def test_encryption_seals_the_same_bytes_differently_each_time(
    store: EncryptedArtifactStore,
) -> None:
    a = store.put("tenant-a/m/1.bin", b"same model")
    b = store.put("tenant-a/m/2.bin", b"same model")
    assert a.sha256 != b.sha256


@pytest.mark.parametrize(
    "offset",
    [0, 7, 8, 11, 12, 20, 30, -17, -1],
    ids=["magic", "magic-end", "version", "version-low", "nonce", "nonce-end", "body", "body-end",
         "tag"],
)  # fmt: skip
def test_encryption_refuses_a_flipped_byte_at_load(
    store: EncryptedArtifactStore, offset: int
) -> None:
    stored = store.put("tenant-a/pump/model.txt", b"tree\n" * 100)
    path = path_of(stored.uri)
    damaged = bytearray(path.read_bytes())
    damaged[offset] ^= 0x01
    path.write_bytes(bytes(damaged))
    # The recorded checksum already refuses it...
    with pytest.raises(IntegrityError):
        store.get(stored.uri, sha256=stored.sha256)
    # ...and so does the cipher when the checksum was forged too.
    with pytest.raises(IntegrityError):
        store.get(stored.uri, sha256=sha256_hex(bytes(damaged)))


def test_encryption_refuses_a_truncated_blob(store: EncryptedArtifactStore) -> None:
    stored = store.put("tenant-a/pump/model.txt", b"x" * 50)
    path = path_of(stored.uri)
    short = path.read_bytes()[:30]
    path.write_bytes(short)
    with pytest.raises(IntegrityError):
        store.get(stored.uri, sha256=sha256_hex(short))


def test_encryption_refuses_a_blob_copied_to_another_tenant_or_path(
    store: EncryptedArtifactStore, inner: LocalArtifactStore
) -> None:
    stored = store.put("tenant-a/pump/model.txt", b"secret model")
    blob = path_of(stored.uri).read_bytes()
    # Another tenant that has no data key yet, then one that has its own.
    for key in ("tenant-b/pump/model.txt", "tenant-c/pump/model.txt", "tenant-a/other/model.txt"):
        store.put("tenant-c/seed/x.bin", b"c has a key")
        copied = inner.put(key, blob)
        with pytest.raises(IntegrityError):
            store.get(copied.uri, sha256=copied.sha256)
    assert store.get(stored.uri, sha256=stored.sha256) == b"secret model"


def test_encryption_uses_one_data_key_per_tenant(db: Database) -> None:
    keyring = Keyring(db, MASTER)
    version_a, key_a = keyring.current_key("tenant-a")
    version_b, key_b = keyring.current_key("tenant-b")
    assert (version_a, version_b) == (1, 1)
    assert key_a != key_b
    assert Keyring(db, MASTER).current_key("tenant-a") == (1, key_a)
    assert set(wrapped_keys(db)) == {"tenant-a", "tenant-b"}
    assert all(key_a not in wrapped for wrapped, _ in wrapped_keys(db).values())


def test_encryption_first_use_from_many_threads_makes_one_key(db: Database, inner) -> None:
    stores = [EncryptedArtifactStore(inner, Keyring(db, MASTER)) for _ in range(4)]

    def put(i: int) -> tuple[int, str, str]:
        stored = stores[i % 4].put(f"tenant-new/m/{i}.bin", f"model {i}".encode())
        return i, stored.uri, stored.sha256

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(put, range(16)))
    reader = EncryptedArtifactStore(inner, Keyring(db, MASTER))
    for i, uri, sha in results:
        assert reader.get(uri, sha256=sha) == f"model {i}".encode()
    assert list(wrapped_keys(db)) == ["tenant-new"]


def test_encryption_rotation_rewraps_keys_and_old_blobs_still_open(
    db: Database, inner: LocalArtifactStore
) -> None:
    old_store = EncryptedArtifactStore(inner, Keyring(db, MASTER))
    stored = {t: old_store.put(f"{t}/pump/model.txt", f"model of {t}".encode()) for t in "abc"}
    files_before = {t: path_of(s.uri).read_bytes() for t, s in stored.items()}
    keys_before = wrapped_keys(db)

    assert rotate_master_key(db, old_master=MASTER, new_master=OTHER_MASTER) == 3

    keys_after = wrapped_keys(db)
    assert {mid for _, mid in keys_after.values()} == {master_key_id(OTHER_MASTER)}
    assert all(keys_after[t][0] != keys_before[t][0] for t in keys_before)
    assert {t: path_of(s.uri).read_bytes() for t, s in stored.items()} == files_before
    new_store = EncryptedArtifactStore(inner, Keyring(db, OTHER_MASTER))
    for t, s in stored.items():
        assert new_store.get(s.uri, sha256=s.sha256) == f"model of {t}".encode()
    # The old master no longer opens anything; running the rotation again changes nothing.
    with pytest.raises(IntegrityError, match="master key"):
        Keyring(db, MASTER).key("a", 1)
    assert rotate_master_key(db, old_master=MASTER, new_master=OTHER_MASTER) == 0
    # The keyring that rotated switches to the new master at once.
    keyring = Keyring(db, OTHER_MASTER)
    third = secrets.token_bytes(32)
    assert keyring.rotate_master(third) == 3
    assert keyring.master_key_id == master_key_id(third)
    keyring.current_key("d")
    assert {mid for _, mid in wrapped_keys(db).values()} == {master_key_id(third)}


def test_encryption_rotation_from_the_wrong_key_changes_nothing(db: Database) -> None:
    Keyring(db, MASTER).current_key("tenant-a")
    before = wrapped_keys(db)
    with pytest.raises(IntegrityError, match="master key"):
        rotate_master_key(db, old_master=OTHER_MASTER, new_master=secrets.token_bytes(32))
    assert wrapped_keys(db) == before
    with pytest.raises(InvalidParameterError):
        rotate_master_key(db, old_master=MASTER, new_master=MASTER)


def test_encryption_with_the_wrong_master_key_fails_clearly(
    store: EncryptedArtifactStore, db: Database, inner: LocalArtifactStore
) -> None:
    stored = store.put("tenant-a/pump/model.txt", b"model")
    wrong = EncryptedArtifactStore(inner, Keyring(db, OTHER_MASTER))
    with pytest.raises(IntegrityError, match="master key") as caught:
        wrong.get(stored.uri, sha256=stored.sha256)
    assert caught.value.field == "master_key"
    assert caught.value.expected == master_key_id(MASTER)
    assert caught.value.received == master_key_id(OTHER_MASTER)
    with pytest.raises(IntegrityError, match="master key"):
        wrong.put("tenant-a/pump/new.txt", b"model")


def test_encryption_refuses_an_altered_wrapped_key(
    store: EncryptedArtifactStore, db: Database, inner: LocalArtifactStore
) -> None:
    stored = store.put("tenant-a/pump/model.txt", b"model")
    wrapped, _ = wrapped_keys(db)["tenant-a"]
    damaged = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE tenant_keys SET wrapped_key = :w"), {"w": damaged})
    fresh = EncryptedArtifactStore(inner, Keyring(db, MASTER))
    with pytest.raises(IntegrityError, match="altered"):
        fresh.get(stored.uri, sha256=stored.sha256)


def test_encryption_reads_legacy_plaintext_only_when_allowed(
    db: Database, inner: LocalArtifactStore
) -> None:
    legacy = inner.put("tenant-a/pump/old.txt", b"plain old model")
    lenient = EncryptedArtifactStore(inner, Keyring(db, MASTER), allow_plaintext=True)
    assert lenient.get(legacy.uri, sha256=legacy.sha256) == b"plain old model"
    strict = EncryptedArtifactStore(inner, Keyring(db, MASTER))
    with pytest.raises(IntegrityError, match="not an encrypted blob"):
        strict.get(legacy.uri, sha256=legacy.sha256)
    sealed = strict.put("tenant-a/pump/new.txt", b"new model")
    assert lenient.get(sealed.uri, sha256=sealed.sha256) == b"new model"


def test_encryption_refuses_uris_outside_the_store(store: EncryptedArtifactStore) -> None:
    with pytest.raises(InvalidNameError):
        store.get("file:///etc/passwd", sha256="0" * 64)
    with pytest.raises(InvalidNameError):
        store.put("../escape.bin", b"x")
    stored = store.put("tenant-a/m/x.bin", b"x")
    store.delete(stored.uri)
    assert not path_of(stored.uri).exists()


def test_encryption_blob_helpers_bind_the_key(db: Database) -> None:
    keyring = Keyring(db, MASTER)
    blob = seal_blob(keyring, "tenant-a/datasets/d.parquet", b"rows")
    assert open_blob(keyring, "tenant-a/datasets/d.parquet", blob) == b"rows"
    with pytest.raises(IntegrityError):
        open_blob(keyring, "tenant-a/datasets/e.parquet", blob)


def test_master_key_parsing_accepts_hex_and_base64() -> None:
    key = secrets.token_bytes(32)
    assert parse_master_key(key.hex()) == key
    assert parse_master_key(key.hex().upper() + "\n") == key
    assert parse_master_key(base64.b64encode(key).decode()) == key
    assert parse_master_key(base64.urlsafe_b64encode(key).decode().rstrip("=")) == key
    for bad in ["", "too short", key.hex()[:-2], base64.b64encode(key + b"x").decode(), "é" * 44]:
        with pytest.raises(InvalidParameterError) as caught:
            parse_master_key(bad)
        assert caught.value.field == "master_key"


def test_master_key_loads_from_secret_or_file(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    assert load_master_key(None, None) is None
    assert load_master_key(SecretStr(key.hex()), None) == key
    raw, text_file = tmp_path / "raw.key", tmp_path / "text.key"
    raw.write_bytes(key)
    text_file.write_text(base64.b64encode(key).decode() + "\n")
    assert load_master_key(None, raw) == key
    assert load_master_key(None, text_file) == key
    with pytest.raises(InvalidParameterError):
        load_master_key(SecretStr(key.hex()), raw)
    with pytest.raises(InvalidParameterError, match="cannot be read"):
        load_master_key(None, tmp_path / "missing.key")
    with pytest.raises(InvalidParameterError):
        Keyring(Database("sqlite://"), b"short")


def test_master_key_id_is_a_fingerprint_not_the_key() -> None:
    key = secrets.token_bytes(32)
    assert master_key_id(key) == master_key_id(key)
    assert master_key_id(key) != master_key_id(OTHER_MASTER)
    assert master_key_id(key) not in (key.hex(), hashlib.sha256(key).hexdigest())
