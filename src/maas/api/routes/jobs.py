"""Training and other background jobs: submit, follow, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from maas.api.deps import PrincipalDep, TrainingDep
from maas.schemas.jobs import JobPage, JobRead, JobStatus
from maas.schemas.training import RetrainRequest, TrainRequest

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


@router.post(
    "/v1/models/{name}/retrain", response_model=JobRead, status_code=status.HTTP_202_ACCEPTED
)
def retrain_model(
    name: Annotated[str, Path(max_length=64)],
    body: RetrainRequest,
    principal: PrincipalDep,
    training: TrainingDep,
) -> JobRead:
    """Retrain ``name`` on newer data and promote the result only if it is better.

    A challenger is trained with the template and parameters of the version ``alias`` points
    at (the champion), on the newest (or the given) version of the champion's dataset. Both are
    scored on the same held-out part of that data — the rows added since the champion's data
    when there are enough — and ``alias`` moves to the challenger only when ``metric``
    improves by more than ``min_improvement``. The challenger is registered either way, with
    the comparison in its report (``report.comparison``); the job's result says what happened.
    """
    return training.submit_retraining(principal, name, body)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str
    dataset_version: int | None = Field(default=None, ge=1, description="Default: the newest")


@router.post("/v1/models/{ref}/batch", response_model=JobRead, status_code=status.HTTP_202_ACCEPTED)
def batch_predict(
    ref: Annotated[str, Path(max_length=120, description="NAME, NAME@ALIAS or NAME@N")],
    body: BatchRequest,
    principal: PrincipalDep,
    training: TrainingDep,
) -> JobRead:
    """Predict a whole dataset version as a background job; results as Parquet at
    ``/v1/jobs/{id}/results`` once it succeeds."""
    return training.submit_batch(principal, ref, body.dataset, body.dataset_version)


@router.get(
    "/v1/jobs/{job_id}/results",
    response_class=Response,
    responses={200: {"content": {"application/vnd.apache.parquet": {}}}},
)
def job_results(job_id: JobId, principal: PrincipalDep, training: TrainingDep) -> Response:
    """The Parquet results of a succeeded batch prediction."""
    return Response(
        training.batch_results(principal, job_id),
        media_type="application/vnd.apache.parquet",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.parquet"'},
    )


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
