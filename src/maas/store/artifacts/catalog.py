"""The artifact store catalog: URI scheme → store, built from ``Settings``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from maas.errors import InvalidParameterError, UnsupportedFormatError
from maas.settings import Settings
from maas.store.artifacts.base import ArtifactStore
from maas.store.artifacts.local import LocalArtifactStore

__all__ = ["KNOWN_SCHEMES", "open_artifact_store"]


def _open_local(uri: str, settings: Settings) -> ArtifactStore:  # noqa: ARG001 (one shape)
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise InvalidParameterError(
            f"artifact_uri must be a local file:// URI. Got host {parsed.netloc!r} instead.",
            field="artifact_uri",
            expected="file:///path",
            received=uri,
        )
    root = Path(url2pathname(unquote(parsed.path)))
    root.mkdir(parents=True, exist_ok=True)
    return LocalArtifactStore(root)


def _open_s3(uri: str, settings: Settings) -> ArtifactStore:
    # Imported here so that file:// deployments never load the S3 backend (nor boto3).
    from maas.store.artifacts.s3 import S3ArtifactStore

    return S3ArtifactStore(uri, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)


_OPENERS: dict[str, Callable[[str, Settings], ArtifactStore]] = {
    "file": _open_local,
    "s3": _open_s3,
}

KNOWN_SCHEMES: tuple[str, ...] = tuple(_OPENERS)
"""URI schemes ``open_artifact_store`` understands."""


def open_artifact_store(settings: Settings) -> ArtifactStore:
    """Build the artifact store named by ``settings.resolved_artifact_uri``.

    ``file://`` gives a ``LocalArtifactStore`` (its folder is created); ``s3://`` gives an
    ``S3ArtifactStore`` using ``s3_endpoint_url`` and ``s3_region`` (its bucket is created).

    Raises:
        UnsupportedFormatError: the URI's scheme is not one of ``KNOWN_SCHEMES``, or it is
            ``s3://`` and boto3 is not installed.
        InvalidParameterError: a ``file://`` URI names another host.
        InvalidNameError: an ``s3://`` URI has no bucket or an unsafe prefix.
    """
    uri = settings.resolved_artifact_uri
    scheme = urlparse(uri).scheme
    opener = _OPENERS.get(scheme)
    if opener is None:
        known = ", ".join(f"{s}://" for s in KNOWN_SCHEMES)
        raise UnsupportedFormatError(
            f"artifact_uri scheme must be one of {known}. Got {scheme or 'none'!r} instead.",
            field="artifact_uri",
            expected=list(KNOWN_SCHEMES),
            received=scheme,
        )
    return opener(uri, settings)
