"""Repository of background jobs: the queue lives in the database, so any replica can work it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from maas.errors import ConflictError, JobNotFoundError
from maas.schemas.jobs import JobRead, JobStatus
from maas.store.tables import JobRow, TenantRow, utcnow

__all__ = ["ClaimedJob", "JobRepository"]

_LOG_LIMIT = 64_000
"""Characters of a job's log kept (the newest)."""


@dataclass(frozen=True)
class ClaimedJob:
    """What the runner needs of a job it claimed."""

    id: str
    kind: str
    request: dict[str, Any]
    tenant_id: str
    tenant_name: str
    created_by: str


def _read(row: JobRow) -> JobRead:
    return JobRead(
        id=row.id,
        kind=row.kind,
        status=JobStatus(row.status),
        progress=row.progress,
        message=row.message,
        request=dict(row.request or {}),
        result=row.result,
        log=row.log,
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # per tenant -------------------------------------------------------------------------

    def add(
        self, *, tenant_id: str, kind: str, request: dict[str, Any], created_by: str
    ) -> JobRead:
        row = JobRow(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            kind=kind,
            status=JobStatus.QUEUED.value,
            progress=0.0,
            message="Waiting for a worker.",
            request=request,
            log="",
            created_by=created_by,
            created_at=utcnow(),
            cancel_requested=False,
        )
        self.session.add(row)
        self.session.flush()
        return _read(row)

    def _row(self, tenant_id: str, job_id: str) -> JobRow:
        row = self.session.get(JobRow, job_id)
        if row is None or row.tenant_id != tenant_id:
            raise JobNotFoundError(f"Job {job_id!r} not found.", field="job", received=job_id)
        return row

    def get(self, tenant_id: str, job_id: str) -> JobRead:
        return _read(self._row(tenant_id, job_id))

    def list(
        self, tenant_id: str, *, status: JobStatus | None, offset: int, limit: int
    ) -> tuple[list[JobRead], int]:
        where = [JobRow.tenant_id == tenant_id]
        if status is not None:
            where.append(JobRow.status == status.value)
        total = self.session.scalar(select(func.count()).select_from(JobRow).where(*where))
        rows = self.session.scalars(
            select(JobRow)
            .where(*where)
            .order_by(JobRow.created_at.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [_read(r) for r in rows], int(total or 0)

    def request_cancel(self, tenant_id: str, job_id: str) -> JobRead:
        """Cancel a queued job now; ask the runner to end a running one.

        Raises:
            JobNotFoundError: no such job in the tenant.
            ConflictError: the job has already finished.
        """
        row = self._row(tenant_id, job_id)
        status = JobStatus(row.status)
        if status.finished:
            raise ConflictError(
                f"Job {job_id!r} has already {status.value}.",
                field="status",
                expected="queued or running",
                received=status.value,
            )
        if status is JobStatus.QUEUED:
            row.status = JobStatus.CANCELLED.value
            row.message = "Cancelled before it started."
            row.finished_at = utcnow()
        else:
            row.cancel_requested = True
            row.message = "Cancelling..."
        self.session.flush()
        return _read(row)

    # for the runner ---------------------------------------------------------------------

    def claim_next(self, worker_id: str) -> ClaimedJob | None:
        """Take the oldest queued job for ``worker_id`` (one claimant per job, across replicas:
        SKIP LOCKED on PostgreSQL, the write lock of BEGIN IMMEDIATE on SQLite)."""
        stmt = (
            select(JobRow)
            .where(JobRow.status == JobStatus.QUEUED.value)
            .order_by(JobRow.created_at)
            .limit(1)
        )
        if self.session.bind is not None and self.session.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = self.session.scalars(stmt).first()
        if row is None:
            return None
        now = utcnow()
        row.status = JobStatus.RUNNING.value
        row.started_at = now
        row.heartbeat_at = now
        row.worker_id = worker_id
        row.message = "Starting."
        tenant_name = self.session.scalar(
            select(TenantRow.name).where(TenantRow.id == row.tenant_id)
        )
        self.session.flush()
        return ClaimedJob(
            id=row.id,
            kind=row.kind,
            request=dict(row.request or {}),
            tenant_id=row.tenant_id,
            tenant_name=str(tenant_name),
            created_by=row.created_by,
        )

    def progress(
        self,
        job_id: str,
        *,
        fraction: float | None,
        message: str | None,
        log_line: str | None,
    ) -> None:
        row = self.session.get(JobRow, job_id)
        if row is None:
            return
        if fraction is not None:
            row.progress = fraction
        if message is not None:
            row.message = message
        if log_line is not None or message is not None:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            line = log_line if log_line is not None else f"{int(100 * row.progress)}% {message}"
            row.log = (row.log + f"{stamp} {line}\n")[-_LOG_LIMIT:]
        row.heartbeat_at = utcnow()

    def heartbeat(self, job_id: str) -> None:
        self.session.execute(
            update(JobRow).where(JobRow.id == job_id).values(heartbeat_at=utcnow())
        )

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))

    def finish(
        self, job_id: str, *, status: str, message: str, result: dict[str, Any] | None
    ) -> None:
        row = self.session.get(JobRow, job_id)
        if row is None:
            return
        row.status = status
        row.message = message
        row.result = result
        row.finished_at = utcnow()
        if status == JobStatus.SUCCEEDED.value:
            row.progress = 1.0
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        row.log = (row.log + f"{stamp} {status}: {message}\n")[-_LOG_LIMIT:]

    def fail_stale(self, older_than_seconds: float, message: str) -> int:
        """Mark running jobs whose heartbeat stopped as failed; returns how many."""
        limit = utcnow() - timedelta(seconds=older_than_seconds)
        rows = self.session.scalars(
            select(JobRow).where(
                JobRow.status == JobStatus.RUNNING.value, JobRow.heartbeat_at < limit
            )
        ).all()
        for row in rows:
            row.status = JobStatus.FAILED.value
            row.message = message
            row.finished_at = utcnow()
        return len(rows)
