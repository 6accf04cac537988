"""Which of the server processes on one machine runs the background jobs.

``maas serve --workers N`` starts N processes sharing the port and the registry. The job
runner is safe with several processes (the database hands each job to one claimant, and only
jobs whose heartbeat stopped are marked failed), but N runners would train N models at once on
a machine that is also serving. So the workers elect one: the first to take an exclusive lock
on ``jobs.lock`` in the data folder runs the jobs. The operating system releases the lock when
that process ends, and the worker started in its place takes it over.

Where file locks are not available (Windows), every worker runs the jobs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["JobLeaderLock"]


class JobLeaderLock:
    """An exclusive, non-blocking lock on a file, held until ``release`` or the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it; True when this process holds it now."""
        if self._file is not None:
            return True
        if fcntl is None:  # pragma: no cover - Windows: no election, every worker runs jobs
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            if fcntl is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
