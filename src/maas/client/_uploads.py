"""Request bodies streamed from a file: the file is sent a chunk at a time, never read whole."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio.to_thread

__all__ = ["CHUNK_BYTES", "Upload"]

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A raw request body: bytes, the path of a file, or a binary file object (read from
    where it stands, and left open)."""

    content_type: str
    source: bytes | Path | IO[bytes]

    @property
    def size(self) -> int | None:
        """The body's length when known in advance (bytes and paths)."""
        if isinstance(self.source, bytes):
            return len(self.source)
        if isinstance(self.source, Path):
            return os.stat(self.source).st_size
        return None

    def content(self, *, asynchronous: bool) -> bytes | Iterator[bytes] | AsyncIterator[bytes]:
        """What httpx sends: the bytes, or chunks (async ones for an ``AsyncClient``)."""
        if isinstance(self.source, bytes):
            return self.source
        return self._async_chunks() if asynchronous else self._sync_chunks()

    def _sync_chunks(self) -> Iterator[bytes]:
        if isinstance(self.source, Path):
            with self.source.open("rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk
            return
        assert not isinstance(self.source, bytes)
        while chunk := self.source.read(CHUNK_BYTES):
            yield chunk

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        # File reads block: each chunk is read in a worker thread, off the event loop.
        if isinstance(self.source, Path):
            f = await anyio.to_thread.run_sync(self.source.open, "rb")
            try:
                while chunk := await anyio.to_thread.run_sync(f.read, CHUNK_BYTES):
                    yield chunk
            finally:
                f.close()
            return
        assert not isinstance(self.source, bytes)
        reader = self.source
        while chunk := await anyio.to_thread.run_sync(reader.read, CHUNK_BYTES):
            yield chunk
