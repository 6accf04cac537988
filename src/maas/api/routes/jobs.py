"""Training and other background jobs: submit, follow, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from maas.api.deps import PrincipalDep, TrainingDep
from maas.schemas.jobs import JobPage, JobRead, JobStatus
from maas.schemas.training import TrainRequest

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(max_length=36)]


@router.post(
    "/v1/models/{name}/train", response_model=JobRead, status_code=status.HTTP_202_ACCEPTED
)
def train_model(
    name: Annotated[str, Path(max_length=64)],
    body: TrainRequest,
    principal: PrincipalDep,
    training: TrainingDep,
) -> JobRead:
    """Train the next version of ``name`` from a template on a dataset, as a background job.

    Everything that can be checked is checked before the job is queued (template, parameters,
    dataset, columns). Follow the job at ``/v1/jobs/{id}``; when it succeeds, its result names
    the new version, whose evaluation report is at ``/v1/models/{name}/versions/{n}``.
    """
    return training.submit_training(principal, name, body)


@router.get("/v1/jobs", response_model=JobPage)
def list_jobs(
    principal: PrincipalDep,
    training: TrainingDep,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobPage:
    """The tenant's jobs, newest first."""
    return training.list_jobs(principal, status=job_status, offset=offset, limit=limit)


@router.get("/v1/jobs/{job_id}", response_model=JobRead)
def get_job(job_id: JobId, principal: PrincipalDep, training: TrainingDep) -> JobRead:
    """A job with its status, progress, log and result."""
    return training.get_job(principal, job_id)


@router.post("/v1/jobs/{job_id}/cancel", response_model=JobRead)
def cancel_job(job_id: JobId, principal: PrincipalDep, training: TrainingDep) -> JobRead:
    """Cancel a queued job at once, or end a running one (its process is stopped)."""
    return training.cancel_job(principal, job_id)
