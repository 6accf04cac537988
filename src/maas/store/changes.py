"""A change feed shared by the processes of one installation, so caches drop stale entries at
once when another process revokes a key or moves an alias.

``generation()`` is cheap enough for every request and changes whenever any process called
``publish()``:

- SQLite (processes on one machine): an 8-byte file beside the database that every process
  maps into memory; ``publish`` writes a fresh random number into it, ``generation`` reads it
  (a read of shared memory: no system call, a fraction of a microsecond).
- PostgreSQL (replicas anywhere): ``publish`` sends ``NOTIFY maas_changes``; a listener thread
  per process counts notifications, and ``generation`` reads that counter. While the listener is
  disconnected, every call returns a new generation, so caches are bypassed rather than trusted.
- Anything else: a counter that only this process moves (other processes fall back to the
  caches' time limit).
"""

from __future__ import annotations

import itertools
import logging
import mmap
import os
import secrets
import struct
import threading
import time
from pathlib import Path
from typing import Protocol

__all__ = ["ChangeFeed", "FileChangeFeed", "LocalChangeFeed", "PostgresChangeFeed", "open_feed"]

log = logging.getLogger(__name__)

CHANNEL = "maas_changes"
_GENERATION = struct.Struct("<Q")


class ChangeFeed(Protocol):
    def generation(self) -> int:
        """A number that differs from the last one whenever anything was published since."""
        ...

    def publish(self) -> None:
        """Tell every process of the installation that something changed."""
        ...

    def close(self) -> None: ...


class LocalChangeFeed:
    """Changes made by this process only."""

    def __init__(self) -> None:
        self._counter = 0

    def generation(self) -> int:
        return self._counter

    def publish(self) -> None:
        self._counter += 1

    def close(self) -> None:
        return None


class FileChangeFeed:
    """A number in a small file that each process maps into memory (``mmap``, shared): the
    processes of one machine see one page of the page cache, so a write by one is seen by
    every other at once, and reading it costs no system call (a ``stat`` per request did).

    ``publish`` writes a new random 64-bit number rather than adding one: no lock is needed
    between processes, because two publishers racing each write a number no reader has seen,
    and whichever stays, it differs from what readers saw before. A read that overlaps a
    write can only yield yet another number: a cache dropped once more, never one trusted
    wrongly.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != _GENERATION.size:  # new (or the older text marker)
                os.ftruncate(fd, _GENERATION.size)
                os.write(fd, secrets.token_bytes(_GENERATION.size))
            self._map = mmap.mmap(fd, _GENERATION.size)
        finally:
            os.close(fd)  # the mapping keeps the file open

    def generation(self) -> int:
        return int(_GENERATION.unpack_from(self._map)[0])

    def publish(self) -> None:
        current = self._map[: _GENERATION.size]
        fresh = secrets.token_bytes(_GENERATION.size)
        while fresh == current:  # pragma: no cover - one chance in 2**64
            fresh = secrets.token_bytes(_GENERATION.size)
        self._map[: _GENERATION.size] = fresh

    def close(self) -> None:
        return None  # other holders of this object may still read it; the map goes with it


class PostgresChangeFeed:
    """``LISTEN``/``NOTIFY`` on one channel, with a listener thread per process."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._count = 0
        self._connected = False
        self._closing = threading.Event()
        self._bypass = itertools.count()
        self._thread = threading.Thread(target=self._listen, name="maas-changes", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._connected and time.monotonic() < deadline:
            time.sleep(0.01)

    def generation(self) -> int:
        if not self._connected:
            return -1 - next(self._bypass)  # never equal twice: caches are not trusted
        return self._count

    def publish(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        self._count += 1  # this process knows at once, even before its own notify comes back

    def _listen(self) -> None:
        import psycopg

        backoff = 0.1
        while not self._closing.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._count += 1  # anything may have changed while we were away
                    self._connected = True
                    backoff = 0.1
                    while not self._closing.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._count += 1
            except psycopg.Error:
                log.warning("change feed lost its PostgreSQL connection; retrying")
            self._connected = False
            self._closing.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=2)


def open_feed(database_url: str) -> ChangeFeed:
    """The feed that reaches every process sharing ``database_url``."""
    if database_url.startswith("sqlite:///"):
        db_file = Path(database_url.removeprefix("sqlite:///"))
        return FileChangeFeed(db_file.with_name(db_file.name + ".changes"))
    if database_url.startswith("postgresql"):
        return PostgresChangeFeed(database_url)
    return LocalChangeFeed()
