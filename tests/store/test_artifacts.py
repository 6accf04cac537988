"""Contract tests for the artifact stores: local and S3 (on moto) pass the same suite."""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maas.errors import (
    ConflictError,
    IntegrityError,
    InvalidNameError,
    InvalidParameterError,
    NotFoundError,
    UnsupportedFormatError,
)
from maas.settings import Settings
from maas.store.artifacts.base import ArtifactStore, check_key
from maas.store.artifacts.catalog import open_artifact_store
from maas.store.artifacts.local import LocalArtifactStore
from maas.store.artifacts.s3 import S3ArtifactStore

KEY = "models/pump-rul/3/model.onnx"


@dataclass
class Harness:
    """A store plus raw access to what it keeps, bypassing its checks (to damage or inspect)."""

    store: ArtifactStore
    read_raw: Callable[[str], bytes]
    write_raw: Callable[[str, bytes], object]
    list_names: Callable[[], list[str]]
    """Every object physically kept, relative to the store's root (temporary files included)."""


def _local_path(uri: str) -> Path:
    return Path(url2pathname(urlparse(uri).path))


def _local_harness(root: Path) -> Harness:
    store = LocalArtifactStore(root)

    def list_names() -> list[str]:
        return sorted(
            (Path(folder) / name).relative_to(store.root).as_posix()
            for folder, _, names in os.walk(store.root)
            for name in names
        )

    return Harness(
        store=store,
        read_raw=lambda uri: _local_path(uri).read_bytes(),
        write_raw=lambda uri, data: _local_path(uri).write_bytes(data),
        list_names=list_names,
    )


def _new_bucket() -> str:
    return f"maas-test-{uuid.uuid4().hex[:16]}"


def _s3_harness(make_s3_store: Callable[[str], S3ArtifactStore], client: Any) -> Harness:
    bucket = _new_bucket()
    store = make_s3_store(f"s3://{bucket}/tenants/acme")

    def key_of(uri: str) -> str:
        return urlparse(uri).path.removeprefix("/")

    def list_names() -> list[str]:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        names = [o["Key"] for o in listed] + [f"(multipart) {u['Key']}" for u in uploads]
        return sorted(n.removeprefix("tenants/acme/") for n in names)

    return Harness(
        store=store,
        read_raw=lambda uri: client.get_object(Bucket=bucket, Key=key_of(uri))["Body"].read(),
        write_raw=lambda uri, data: client.put_object(Bucket=bucket, Key=key_of(uri), Body=data),
        list_names=list_names,
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "local":
        return _local_harness(tmp_path / "artifacts")
    return _s3_harness(
        request.getfixturevalue("make_s3_store"), request.getfixturevalue("s3_client")
    )


def _payload(seed: int, size: int = 4096) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (size // 32)


# --- the contract --------------------------------------------------------------------------


def test_store_implements_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.store, ArtifactStore)
    assert harness.list_names() == []


def test_put_get_round_trip(harness: Harness) -> None:
    data = bytes(range(256)) * 40
    stored = harness.store.put(KEY, data)
    assert stored.uri == f"{harness.store.root_uri}/{KEY}"
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == 10240
    assert harness.store.get(stored.uri, sha256=stored.sha256) == data


def test_put_get_round_trip_of_empty_bytes(harness: Harness) -> None:
    stored = harness.store.put("empty.bin", b"")
    assert stored.size == 0
    assert stored.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert harness.store.get(stored.uri, sha256=stored.sha256) == b""


def test_put_overwrites_existing_key(harness: Harness) -> None:
    first = harness.store.put(KEY, b"first version")
    second = harness.store.put(KEY, b"second, longer version")
    assert second.uri == first.uri
    assert harness.store.get(second.uri, sha256=second.sha256) == b"second, longer version"
    with pytest.raises(IntegrityError):
        harness.store.get(first.uri, sha256=first.sha256)
    assert harness.list_names() == [KEY]


def test_get_detects_flipped_byte(harness: Harness) -> None:
    data = _payload(1)
    stored = harness.store.put(KEY, data)
    damaged = bytearray(harness.read_raw(stored.uri))
    damaged[len(damaged) // 2] ^= 0x01
    harness.write_raw(stored.uri, bytes(damaged))

    with pytest.raises(IntegrityError) as caught:
        harness.store.get(stored.uri, sha256=stored.sha256)
    assert caught.value.field == "sha256"
    assert caught.value.expected == stored.sha256
    assert caught.value.received == hashlib.sha256(damaged).hexdigest()


def test_get_rejects_wrong_expected_sha256(harness: Harness) -> None:
    stored = harness.store.put(KEY, b"payload")
    with pytest.raises(IntegrityError):
        harness.store.get(stored.uri, sha256="0" * 64)


def test_get_missing_raises_not_found(harness: Harness) -> None:
    uri = f"{harness.store.root_uri}/never/stored.bin"
    with pytest.raises(NotFoundError) as caught:
        harness.store.get(uri, sha256="0" * 64)
    assert caught.value.received == uri


def test_delete_removes_and_is_idempotent(harness: Harness) -> None:
    stored = harness.store.put(KEY, b"payload")
    harness.store.delete(stored.uri)
    harness.store.delete(stored.uri)
    harness.store.delete(f"{harness.store.root_uri}/never/stored.bin")
    with pytest.raises(NotFoundError):
        harness.store.get(stored.uri, sha256=stored.sha256)
    assert harness.list_names() == []


UNSAFE_KEYS = [
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a/..",
    "..",
    ".",
    "./a",
    "",
    "a//b",
    "a/",
    ".hidden",
    "a\\..\\..\\b",
    "a\x00b",
    "a b",
    "%2e%2e/x",
    "~/x",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_put_refuses_unsafe_key(harness: Harness, key: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        harness.store.put(key, b"payload")
    assert caught.value.field == "key"
    assert caught.value.received == key
    assert harness.list_names() == []


OUTSIDE_URIS: list[Callable[[str], str]] = [
    lambda root: f"{root}/../escape.bin",
    lambda root: f"{root}/a/../../escape.bin",
    lambda root: f"{root}/%2e%2e/escape.bin",
    lambda root: f"{root}-sibling/model.bin",
    lambda root: f"{root}",
    lambda root: f"{root}/",
    lambda root: f"{root}/.model.bin.tmp",
    lambda root: f"{root}/model.bin?versionId=1",
    lambda root: "file:///etc/passwd",
    lambda root: "file://example.com/etc/passwd",
    lambda root: "s3://some-other-bucket/model.bin",
    lambda root: "/etc/passwd",
    lambda root: "model.bin",
]


@pytest.mark.parametrize("make_uri", OUTSIDE_URIS)
def test_get_and_delete_refuse_uri_outside_root(
    harness: Harness, make_uri: Callable[[str], str]
) -> None:
    uri = make_uri(harness.store.root_uri)
    with pytest.raises(InvalidNameError) as caught:
        harness.store.get(uri, sha256="0" * 64)
    assert caught.value.field == "uri"
    assert caught.value.received == uri
    with pytest.raises(InvalidNameError):
        harness.store.delete(uri)


def test_put_leaves_no_temporary_objects(harness: Harness) -> None:
    keys = ["a.bin", "nested/deeper/b.bin", "nested/c.bin"]
    for seed, key in enumerate(keys):
        harness.store.put(key, _payload(seed))
    harness.store.put("a.bin", _payload(99))
    assert harness.list_names() == sorted(keys)


def test_concurrent_puts_leave_one_complete_object(harness: Harness) -> None:
    payloads = [_payload(seed, size=256 * 1024) for seed in range(8)]
    initial = harness.store.put(KEY, b"initial")
    seen: set[bytes] = set()
    stop_reading = threading.Event()
    start = threading.Barrier(len(payloads) + 1)
    results: list[Any] = [None] * len(payloads)

    def write(i: int) -> None:
        start.wait()
        results[i] = harness.store.put(KEY, payloads[i])

    def read() -> None:
        start.wait()
        while not stop_reading.is_set():
            seen.add(harness.read_raw(initial.uri))

    writers = [threading.Thread(target=write, args=(i,)) for i in range(len(payloads))]
    reader = threading.Thread(target=read)
    for thread in [*writers, reader]:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    stop_reading.set()
    reader.join(timeout=60)

    assert all(r is not None and r.uri == initial.uri for r in results)
    final = harness.read_raw(initial.uri)
    assert final in payloads
    # Readers only ever saw whole objects: the first one or one of the writers'.
    assert seen <= {b"initial", *payloads}
    winner = results[payloads.index(final)]
    assert harness.store.get(initial.uri, sha256=winner.sha256) == final
    assert harness.list_names() == [KEY]


# --- key safety as a property --------------------------------------------------------------

# Mostly plausible parts (so many keys pass check_key) mixed with every trick we know of.
_SAFE_PARTS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True)
_TRICK_PARTS = st.sampled_from(
    ["..", ".", "", "...", "~", "\\", "..\\..", "%2e%2e", "\x00", " ", "-a", ".a", "a/"]
)
_PARTS = st.one_of(_SAFE_PARTS, _TRICK_PARTS, st.text(max_size=6))
_KEYS = st.one_of(
    st.lists(_SAFE_PARTS, min_size=1, max_size=6).map("/".join),
    st.lists(_PARTS, min_size=1, max_size=6).map("/".join),
    st.lists(_PARTS, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def property_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property-root").resolve()


@given(key=_KEYS)
def test_check_key_never_accepts_key_escaping_root(property_root: Path, key: str) -> None:
    try:
        check_key(key)
    except InvalidNameError:
        return
    lexical = PurePosixPath(posixpath.normpath(posixpath.join("/srv/artifacts", key)))
    assert lexical.is_relative_to("/srv/artifacts")
    assert lexical != PurePosixPath("/srv/artifacts")
    resolved = (property_root / key).resolve()
    assert resolved.is_relative_to(property_root)
    assert resolved != property_root
    assert resolved.relative_to(property_root).as_posix() == key


# --- local store specifics -----------------------------------------------------------------


def test_local_put_writes_file_under_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    stored = store.put(KEY, b"payload")
    assert (tmp_path / "artifacts" / KEY).read_bytes() == b"payload"
    assert stored.uri == (tmp_path / "artifacts" / KEY).resolve().as_uri()


def test_local_get_refuses_existing_file_outside_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    secret = tmp_path / "artifacts-sibling" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"secret")
    for uri in [secret.as_uri(), f"{store.root_uri}/../artifacts-sibling/secret.bin"]:
        with pytest.raises(InvalidNameError):
            store.get(uri, sha256=hashlib.sha256(b"secret").hexdigest())
        with pytest.raises(InvalidNameError):
            store.delete(uri)
    assert secret.read_bytes() == b"secret"


def test_local_get_refuses_symlink_escaping_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"secret")
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "link.bin").symlink_to(secret)
    with pytest.raises(InvalidNameError):
        store.get(f"{store.root_uri}/link.bin", sha256=hashlib.sha256(b"secret").hexdigest())
    with pytest.raises(InvalidNameError):
        store.delete(f"{store.root_uri}/link.bin")
    assert secret.read_bytes() == b"secret"


def test_local_put_key_colliding_with_folder_raises_conflict(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put("a/b.bin", b"payload")
    with pytest.raises(ConflictError):
        store.put("a", b"payload")
    with pytest.raises(ConflictError):
        store.put("a/b.bin/c.bin", b"payload")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.bin"]


def test_local_store_accepts_root_with_spaces(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "my artifacts")
    stored = store.put(KEY, b"payload")
    assert "%20" in stored.uri
    assert store.get(stored.uri, sha256=stored.sha256) == b"payload"


# --- S3 store specifics --------------------------------------------------------------------


@pytest.mark.s3
def test_s3_store_creates_missing_bucket(
    make_s3_store: Callable[[str], S3ArtifactStore], s3_client: Any
) -> None:
    bucket = _new_bucket()
    store = make_s3_store(f"s3://{bucket}/models")
    assert s3_client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    again = make_s3_store(f"s3://{bucket}/models")
    stored = store.put("m.bin", b"payload")
    assert again.get(stored.uri, sha256=stored.sha256) == b"payload"


@pytest.mark.s3
def test_s3_store_reuses_bucket_created_elsewhere(
    make_s3_store: Callable[[str], S3ArtifactStore], s3_client: Any
) -> None:
    bucket = _new_bucket()
    s3_client.create_bucket(Bucket=bucket)
    store = make_s3_store(f"s3://{bucket}")
    assert store.root_uri == f"s3://{bucket}"
    stored = store.put("m.bin", b"payload")
    assert stored.uri == f"s3://{bucket}/m.bin"
    assert store.get(stored.uri, sha256=stored.sha256) == b"payload"


@pytest.mark.s3
def test_s3_put_records_sha256_on_object(
    make_s3_store: Callable[[str], S3ArtifactStore], s3_client: Any
) -> None:
    bucket = _new_bucket()
    store = make_s3_store(f"s3://{bucket}/models")
    stored = store.put("m.bin", b"payload")
    head = s3_client.head_object(Bucket=bucket, Key="models/m.bin", ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == stored.sha256
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(stored.sha256)).decode()
    assert stored.sha256 == hashlib.sha256(b"payload").hexdigest()


@pytest.mark.parametrize(
    "uri", ["s3://", "s3:///prefix", "s3://bucket/../x", "s3://bucket/a//b", "file:///tmp/x"]
)
def test_s3_store_refuses_malformed_root_uri(uri: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        S3ArtifactStore(uri, endpoint_url="http://127.0.0.1:9")
    assert caught.value.field == "artifact_uri"


def test_s3_store_without_boto3_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` raise ImportError
    with pytest.raises(UnsupportedFormatError, match=r"pip install 'maas\[s3\]'"):
        S3ArtifactStore("s3://bucket/prefix", endpoint_url="http://127.0.0.1:9")


# --- catalog -------------------------------------------------------------------------------


def test_catalog_opens_local_store_in_data_dir_by_default(tmp_path: Path) -> None:
    store = open_artifact_store(Settings(data_dir=tmp_path / "data"))
    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "data" / "artifacts").resolve()
    assert store.root.is_dir()


def test_catalog_opens_local_store_from_file_uri(tmp_path: Path) -> None:
    root = tmp_path / "some where" / "artifacts"
    store = open_artifact_store(Settings(data_dir=tmp_path, artifact_uri=root.as_uri()))
    assert isinstance(store, LocalArtifactStore)
    assert store.root == root.resolve()
    assert root.is_dir()


def test_catalog_refuses_file_uri_on_another_host(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, artifact_uri="file://example.com/artifacts")
    with pytest.raises(InvalidParameterError) as caught:
        open_artifact_store(settings)
    assert caught.value.field == "artifact_uri"


@pytest.mark.s3
def test_catalog_opens_s3_store(
    tmp_path: Path, moto_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings has no credential fields: the S3 store uses boto3's standard chain, whose first
    # link is the environment. Dummy values keep boto3 from looking any further.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = _new_bucket()
    settings = Settings(
        data_dir=tmp_path,
        artifact_uri=f"s3://{bucket}/models",
        s3_endpoint_url=moto_endpoint,
        s3_region="us-east-1",
    )
    store = open_artifact_store(settings)
    assert isinstance(store, S3ArtifactStore)
    assert store.root_uri == f"s3://{bucket}/models"
    stored = store.put("m.bin", b"payload")
    assert s3_client.get_object(Bucket=bucket, Key="models/m.bin")["Body"].read() == b"payload"
    assert store.get(stored.uri, sha256=stored.sha256) == b"payload"


def test_catalog_refuses_unknown_scheme_listing_known_ones(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.artifact_uri = "gs://bucket/prefix"  # the validator runs at construction only
    with pytest.raises(UnsupportedFormatError) as caught:
        open_artifact_store(settings)
    assert "file://" in str(caught.value)
    assert "s3://" in str(caught.value)
    assert caught.value.expected == ["file", "s3"]
    assert caught.value.received == "gs"
