"""Wire models of background jobs (training, batch prediction, retraining)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

__all__ = ["JobPage", "JobRead", "JobStatus"]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobRead(BaseModel):
    id: str
    kind: str
    status: JobStatus
    progress: float
    message: str
    request: dict[str, Any]
    result: dict[str, Any] | None
    log: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobPage(BaseModel):
    items: list[JobRead]
    total: int
