"""The local artifact store: artifacts as files under one folder, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from maas.errors import ConflictError, IntegrityError, InvalidNameError, NotFoundError
from maas.store.artifacts.base import StoredArtifact, check_key, sha256_hex

__all__ = ["LocalArtifactStore"]


class LocalArtifactStore:
    """Artifacts kept as files under ``root``, addressed by ``file://`` URIs.

    A put writes a temporary file next to its target, fsyncs it and renames it over the target
    (``os.replace`` is atomic on POSIX and Windows), so readers see the old bytes or the new
    ones, never a mix. Only URIs that resolve to a valid key inside ``root`` are ever read or
    deleted.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root_uri = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalArtifactStore(root={str(self.root)!r})"

    def put(self, key: str, data: bytes) -> StoredArtifact:
        """Store ``data`` under ``key``, replacing what was there in one rename.

        Raises:
            InvalidNameError: ``key`` is not a relative path of safe names.
            ConflictError: ``key`` collides with a folder, or a part of it with a file.
        """
        target = self.root / check_key(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise _collision(key) from exc
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, target)
        except IsADirectoryError as exc:
            Path(tmp_name).unlink(missing_ok=True)
            raise _collision(key) from exc
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return StoredArtifact(uri=target.as_uri(), sha256=sha256_hex(data), size=len(data))

    def get(self, uri: str, *, sha256: str) -> bytes:
        """Read the file at ``uri`` and check it hashes to ``sha256``.

        Raises:
            InvalidNameError: ``uri`` is not a file inside this store.
            NotFoundError: nothing is stored at ``uri``.
            IntegrityError: the bytes do not hash to ``sha256``.
        """
        path = self._path_for(uri)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(
                f"No artifact is stored at {uri!r}.", field="uri", received=uri
            ) from exc
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
        """Remove the file at ``uri``; nothing happens if it is already gone.

        Raises:
            InvalidNameError: ``uri`` is not a file inside this store.
        """
        path = self._path_for(uri)
        if path.is_dir():
            return
        try:
            path.unlink(missing_ok=True)
        except NotADirectoryError:
            return

    def _path_for(self, uri: str) -> Path:
        """The file ``uri`` names, if it is a valid key under the root (symlinks followed)."""
        parsed = urlparse(uri)
        refused = InvalidNameError(
            f"Artifact URI must name a file under {self.root_uri}. Got {uri!r} instead.",
            field="uri",
            expected=f"{self.root_uri}/<key>",
            received=uri,
        )
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise refused
        if parsed.params or parsed.query or parsed.fragment:
            raise refused
        try:
            path = Path(url2pathname(unquote(parsed.path))).resolve()
        except (OSError, ValueError):  # a NUL byte, a symlink loop
            raise refused from None
        if not path.is_relative_to(self.root) or path == self.root:
            raise refused
        try:
            check_key(path.relative_to(self.root).as_posix())
        except InvalidNameError:
            raise refused from None
        return path


def _collision(key: str) -> ConflictError:
    return ConflictError(
        f"Artifact key {key!r} collides with an existing folder or file of the store.",
        field="key",
        received=key,
    )


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; folders cannot be opened for this on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
