"""The S3 artifact store: artifacts as objects under one bucket and prefix (AWS, MinIO, Ceph).

boto3 is an optional extra (``pip install 'maas[s3]'``) and is imported only when a store is
built, so the rest of maas never pays for it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlparse

from maas.errors import IntegrityError, InvalidNameError, NotFoundError, UnsupportedFormatError
from maas.store.artifacts.base import StoredArtifact, check_key, sha256_hex

__all__ = ["S3ArtifactStore"]

_MISSING_OBJECT = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
_MISSING_BUCKET = frozenset({"NoSuchBucket", "404", "NotFound"})


class S3ArtifactStore:
    """Artifacts kept as objects under ``s3://bucket/prefix``.

    A put is a single ``PutObject`` request, which S3 applies atomically; it carries the
    sha256 as ``ChecksumSHA256`` (the server refuses bytes damaged in transit) and as object
    metadata. A get verifies the downloaded bytes against the sha256 the caller recorded.
    The bucket is created at construction if it does not exist yet.

    Credentials default to boto3's usual chain (environment, shared files, instance role);
    ``aws_access_key_id`` / ``aws_secret_access_key`` override it.

    Raises:
        UnsupportedFormatError: boto3 is not installed.
        InvalidNameError: ``uri`` is not ``s3://bucket[/prefix]`` with a safe prefix.
    """

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
    ) -> None:
        self.bucket, self.prefix = _parse_root(uri)
        self.root_uri = (
            f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        )
        self.region = region
        self._client, self._client_error = _make_client(
            uri,
            endpoint_url=endpoint_url,
            region=region,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
        )
        self._ensure_bucket()

    def __repr__(self) -> str:
        return f"S3ArtifactStore(root_uri={self.root_uri!r})"

    def put(self, key: str, data: bytes) -> StoredArtifact:
        """Store ``data`` under ``key`` in one ``PutObject`` request.

        Raises:
            InvalidNameError: ``key`` is not a relative path of safe names.
        """
        object_key = self._object_key(check_key(key))
        digest = hashlib.sha256(data).digest()
        self._client.put_object(
            Bucket=self.bucket,
            Key=object_key,
            Body=data,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
            Metadata={"sha256": digest.hex()},
        )
        return StoredArtifact(
            uri=f"s3://{self.bucket}/{object_key}", sha256=digest.hex(), size=len(data)
        )

    def get(self, uri: str, *, sha256: str) -> bytes:
        """Download the object at ``uri`` and check it hashes to ``sha256``.

        Raises:
            InvalidNameError: ``uri`` is not an object under this store's bucket and prefix.
            NotFoundError: nothing is stored at ``uri``.
            IntegrityError: the bytes do not hash to ``sha256``.
        """
        object_key = self._key_for(uri)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=object_key)
            data: bytes = response["Body"].read()
        except self._client_error as exc:
            if _error_code(exc) in _MISSING_OBJECT:
                raise NotFoundError(
                    f"No artifact is stored at {uri!r}.", field="uri", received=uri
                ) from exc
            raise
        actual = sha256_hex(data)
        if actual != sha256:
            raise IntegrityError(
                f"Artifact {uri!r} must have sha256 {sha256}. Got {actual} instead.",
                field="sha256",
                expected=sha256,
                received=actual,
            )
        return data

    def delete(self, uri: str) -> None:
        """Remove the object at ``uri``; S3 answers a delete of a missing object with success.

        Raises:
            InvalidNameError: ``uri`` is not an object under this store's bucket and prefix.
        """
        self._client.delete_object(Bucket=self.bucket, Key=self._key_for(uri))

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key_for(self, uri: str) -> str:
        """The object key ``uri`` names, if it is a valid key under this bucket and prefix."""
        parsed = urlparse(uri)
        head = f"{self.prefix}/" if self.prefix else ""
        path = parsed.path.removeprefix("/")
        inside = (
            parsed.scheme == "s3"
            and parsed.netloc == self.bucket
            and not (parsed.params or parsed.query or parsed.fragment)
            and path.startswith(head)
        )
        if inside:
            try:
                check_key(path.removeprefix(head))
            except InvalidNameError:
                inside = False
        if not inside:
            raise InvalidNameError(
                f"Artifact URI must name an object under {self.root_uri}. Got {uri!r} instead.",
                field="uri",
                expected=f"{self.root_uri}/<key>",
                received=uri,
            )
        return path

    def _ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except self._client_error as exc:
            if _error_code(exc) not in _MISSING_BUCKET:
                raise
        create: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**create)
        except self._client_error as exc:
            # Another process (or replica) may have created it between our two requests.
            if _error_code(exc) != "BucketAlreadyOwnedByYou":
                raise


def _parse_root(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    prefix = parsed.path.strip("/")
    valid = parsed.scheme == "s3" and bool(parsed.netloc) and not (parsed.query or parsed.fragment)
    if valid and prefix:
        try:
            check_key(prefix)
        except InvalidNameError:
            valid = False
    if not valid:
        raise InvalidNameError(
            f"S3 artifact URI must look like s3://bucket/prefix. Got {uri!r} instead.",
            field="artifact_uri",
            expected="s3://bucket/prefix",
            received=uri,
        )
    return parsed.netloc, prefix


def _make_client(
    uri: str,
    *,
    endpoint_url: str | None,
    region: str,
    aws_access_key_id: str | None,
    aws_secret_access_key: str | None,
) -> tuple[Any, type[Exception]]:
    """An S3 client, and the exception class its failed requests raise."""
    try:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]
    except ImportError as exc:
        raise UnsupportedFormatError(
            f"Artifact URI {uri!r} needs boto3. Install it with pip install 'maas[s3]'.",
            field="artifact_uri",
            expected="boto3 installed (pip install 'maas[s3]')",
            received=uri,
        ) from exc
    # A session of our own: boto3's default session is module-global state, and creating
    # clients from it is not thread-safe. Path-style addressing suits MinIO, Ceph and moto.
    session = boto3.session.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        region_name=region,
    )
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint_url else None,
        retries={"mode": "standard", "max_attempts": 3},
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config), ClientError


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
