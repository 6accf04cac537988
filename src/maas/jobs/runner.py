"""The job runner: claims queued jobs from the database and runs each in a child process.

Training runs in its own process so it never holds the server's GIL (online prediction keeps its
latency) and can be cancelled by ending the process. One supervisor thread per server process:

- claims queued jobs (any replica may claim; the database hands each job to one) up to
  ``concurrency`` at once;
- for each, asks the kind's ``prepare`` (parent side, may read the database and the artifact
  store) to put inputs in a fresh work folder, spawns the child, relays its progress and log to
  the job's row, ends it when a cancel is requested, then hands its result to the kind's
  ``finalize`` (parent side: register the version, write the results);
- beats a heartbeat on its running jobs; at start, and every minute, jobs whose heartbeat
  stopped (their server crashed or was killed) are marked failed, so none stays "running"
  forever.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maas.errors import MaasError
from maas.jobs.child import child_main
from maas.jobs.leader import JobLeaderLock
from maas.store.db import Database
from maas.store.jobs import ClaimedJob, JobRepository

__all__ = ["JobKind", "JobRunner"]

log = logging.getLogger(__name__)

STALE_SECONDS = 30.0
"""A running job whose heartbeat is older than this belongs to a dead server."""


@dataclass(frozen=True)
class JobKind:
    """The parent-side halves of a kind of job (the child side is in ``jobs.kinds``)."""

    name: str
    prepare: Callable[[ClaimedJob, Path], None]
    """Put the child's inputs into the work folder (runs in the server process)."""
    finalize: Callable[[ClaimedJob, dict[str, Any], Path], dict[str, Any]]
    """Turn the child's result into the job's stored result (register versions, ...)."""


@dataclass
class _Running:
    job: ClaimedJob
    process: Any
    conn: Any
    workdir: Path
    last_beat: float = field(default_factory=time.monotonic)


class JobRunner:
    def __init__(
        self,
        db: Database,
        kinds: dict[str, JobKind],
        *,
        concurrency: int = 1,
        poll_seconds: float = 0.5,
        workdir: Path | None = None,
    ) -> None:
        self.db = db
        self.kinds = kinds
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.worker_id = uuid.uuid4().hex[:12]
        self.workdir = workdir
        self._running: dict[str, _Running] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context = multiprocessing.get_context("spawn")
        self._last_sweep = 0.0
        self._leader: JobLeaderLock | None = None

    # lifecycle --------------------------------------------------------------------------

    def start(self, *, leader: JobLeaderLock | None = None) -> bool:
        """Mark the jobs of stopped servers failed and start the supervisor thread, unless
        another server process on this machine holds ``leader`` (``maas serve --workers``);
        returns whether this process runs the jobs."""
        if leader is not None and not leader.acquire():
            log.info("another server process on this machine runs the background jobs")
            return False
        self._leader = leader
        self.fail_stale()
        self._thread = threading.Thread(target=self._loop, name="maas-jobs", daemon=True)
        self._thread.start()
        return True

    def wake(self) -> None:
        """Look for new work now (called after a submit)."""
        self._wake.set()

    def stop(self) -> None:
        """End running children and mark their jobs failed (queued jobs stay queued)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for job_id in list(self._running):
            self._end(job_id, "failed", "The server stopped while this job was running.")
        if self._leader is not None:
            self._leader.release()

    def fail_stale(self) -> int:
        with self.db.writer() as session, session.begin():
            count = JobRepository(session).fail_stale(
                STALE_SECONDS, "The server running this job stopped; submit it again."
            )
        if count:
            log.warning("marked %d job(s) of stopped servers as failed", count)
        return count

    # the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the runner must outlive any one failure
                log.exception("job runner tick failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _tick(self) -> None:
        for job_id in list(self._running):
            self._watch(job_id)
        now = time.monotonic()
        if now - self._last_sweep > 60:
            self._last_sweep = now
            self.fail_stale()
        while len(self._running) < self.concurrency and not self._stop.is_set():
            with self.db.writer() as session, session.begin():
                job = JobRepository(session).claim_next(self.worker_id)
            if job is None:
                return
            self._launch(job)

    def _launch(self, job: ClaimedJob) -> None:
        kind = self.kinds.get(job.kind)
        workdir = Path(tempfile.mkdtemp(prefix=f"maas-job-{job.id[:8]}-", dir=self.workdir))
        if kind is None:
            self._finish(job.id, "failed", f"No runner for jobs of kind {job.kind!r}.", None)
            shutil.rmtree(workdir, ignore_errors=True)
            return
        try:
            kind.prepare(job, workdir)
        except MaasError as exc:
            self._finish(job.id, "failed", exc.message, None)
            shutil.rmtree(workdir, ignore_errors=True)
            return
        parent, child = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=child_main,
            args=(job.kind, job.request, str(workdir), child),
            name=f"maas-job-{job.id[:8]}",
            daemon=True,
        )
        process.start()
        child.close()
        self._running[job.id] = _Running(job, process, parent, workdir)
        self._progress(job.id, 0.0, "started", None)

    def _watch(self, job_id: str) -> None:
        running = self._running[job_id]
        outcome: tuple[Any, ...] | None = None
        try:
            while running.conn.poll():
                message = running.conn.recv()
                if message[0] == "progress":
                    self._progress(job_id, message[1], message[2], None)
                elif message[0] == "log":
                    self._progress(job_id, None, None, message[1])
                else:
                    outcome = message
        except (EOFError, OSError):
            pass
        if outcome is not None:
            running.process.join(timeout=5)
            self._complete(job_id, outcome)
            return
        if not running.process.is_alive():
            code = running.process.exitcode
            self._end(job_id, "failed", f"The job's process ended unexpectedly (exit {code}).")
            return
        if time.monotonic() - running.last_beat > 5:
            running.last_beat = time.monotonic()
            with self.db.writer() as session, session.begin():
                repo = JobRepository(session)
                repo.heartbeat(job_id)
                cancel = repo.cancel_requested(job_id)
            if cancel:
                self._end(job_id, "cancelled", "Cancelled on request.")

    def _complete(self, job_id: str, outcome: tuple[Any, ...]) -> None:
        running = self._running[job_id]
        if outcome[0] == "error":
            self._end(job_id, "failed", outcome[2])
            return
        kind = self.kinds[running.job.kind]
        try:
            result = kind.finalize(running.job, outcome[1], running.workdir)
        except MaasError as exc:
            self._end(job_id, "failed", exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - recorded on the job, and logged
            log.exception("finalizing job %s failed", job_id)
            self._end(job_id, "failed", f"{type(exc).__name__}: {exc}")
            return
        self._end(job_id, "succeeded", "Done.", result)

    def _end(
        self, job_id: str, status: str, message: str, result: dict[str, Any] | None = None
    ) -> None:
        running = self._running.pop(job_id, None)
        if running is not None:
            if running.process.is_alive():
                running.process.terminate()
                running.process.join(timeout=5)
                if running.process.is_alive():
                    running.process.kill()
            running.conn.close()
            shutil.rmtree(running.workdir, ignore_errors=True)
        self._finish(job_id, status, message, result)

    def _finish(
        self, job_id: str, status: str, message: str, result: dict[str, Any] | None
    ) -> None:
        with self.db.writer() as session, session.begin():
            JobRepository(session).finish(job_id, status=status, message=message, result=result)
        log.info("job %s %s: %s", job_id, status, message)

    def _progress(
        self, job_id: str, fraction: float | None, message: str | None, log_line: str | None
    ) -> None:
        with self.db.writer() as session, session.begin():
            JobRepository(session).progress(
                job_id, fraction=fraction, message=message, log_line=log_line
            )
