"""Monitoring routes: live traffic, the prediction log, feedback, live metrics, drift and each
model's monitoring settings."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from maas.api.deps import MonitoringDep, PrincipalDep
from maas.schemas.monitoring import (
    DriftRead,
    FeedbackBatch,
    FeedbackItem,
    FeedbackResult,
    LiveMetricsRead,
    MonitoringRead,
    MonitoringUpdate,
    PredictionLogPage,
    TrafficRead,
)

router = APIRouter(tags=["monitoring"])

Name = Annotated[str, Path(description="Model name", max_length=64)]
Version = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A version number")]

PARQUET = "application/vnd.apache.parquet"


@router.get("/v1/models/{name}/traffic", response_model=TrafficRead)
def get_traffic(
    name: Name,
    principal: PrincipalDep,
    monitoring: MonitoringDep,
    minutes: Annotated[int, Query(ge=1, le=1440, description="How many minutes back")] = 60,
) -> TrafficRead:
    """Requests, errors and p50/p99 latency per minute, every server process added up
    (written every ``MAAS_MONITORING_FLUSH_SECONDS``)."""
    return monitoring.traffic(principal, name, minutes=minutes)


@router.get(
    "/v1/models/{ref}/predictions",
    response_model=PredictionLogPage,
    responses={200: {"content": {PARQUET: {}}}},
)
async def list_predictions(
    ref: Annotated[
        str, Path(max_length=120, description="NAME (every version), NAME@N or NAME@ALIAS")
    ],
    principal: PrincipalDep,
    monitoring: MonitoringDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    format: Annotated[  # noqa: A002 - the query parameter's name
        Literal["json", "parquet"], Query(description="json (default) or parquet")
    ] = "json",
) -> Response:
    """The newest logged predictions (inputs where sampled, outputs, latency, the answering
    version and any feedback), as JSON or as a Parquet file."""
    if format == "parquet":
        data = await run_in_threadpool(monitoring.predictions_parquet, principal, ref, limit=limit)
        return Response(data, media_type=PARQUET)
    page = await run_in_threadpool(monitoring.predictions, principal, ref, limit=limit)
    return Response(page.model_dump_json(), media_type="application/json")


@router.post("/v1/feedback", response_model=FeedbackResult)
def submit_feedback(
    body: FeedbackItem | FeedbackBatch, principal: PrincipalDep, monitoring: MonitoringDep
) -> FeedbackResult:
    """The actual outcome of earlier predictions, by the ``prediction_id`` their answer
    carried: one ``{"prediction_id", "actual"}`` or ``{"items": [...]}`` (all or none)."""
    batch = isinstance(body, FeedbackBatch)
    items = body.items if isinstance(body, FeedbackBatch) else [body]
    return monitoring.feedback(principal, items, batch=batch)


@router.get("/v1/models/{name}/live-metrics", response_model=LiveMetricsRead)
def live_metrics(
    name: Name,
    principal: PrincipalDep,
    monitoring: MonitoringDep,
    version: Version = None,
    bucket: Annotated[Literal["hour", "day"], Query()] = "hour",
    days: Annotated[
        int | None, Query(ge=1, le=366, description="Default 7 (hour), 30 (day)")
    ] = None,
) -> LiveMetricsRead:
    """Accuracy / F1, RMSE / MAE or quantile coverage of the predictions that received
    feedback, per version and per hour or day."""
    return monitoring.live_metrics(principal, name, version=version, bucket=bucket, days=days)


@router.get("/v1/models/{name}/drift", response_model=DriftRead)
def get_drift(name: Name, principal: PrincipalDep, monitoring: MonitoringDep) -> DriftRead:
    """The model's drift state: its last check (per feature and for the predictions) and the
    earlier ones."""
    return monitoring.drift_state(principal, name)


@router.post("/v1/models/{name}/drift/check", response_model=DriftRead)
def check_drift(
    name: Name, principal: PrincipalDep, monitoring: MonitoringDep, version: Version = None
) -> DriftRead:
    """Check drift now: recent logged inputs and predictions against the version's training
    profile (or its first logged window). No traffic yet gives ``no_data`` with a message."""
    return monitoring.check_drift(principal, name, version=version)


@router.get("/v1/models/{name}/monitoring", response_model=MonitoringRead)
def get_monitoring(
    name: Name, principal: PrincipalDep, monitoring: MonitoringDep
) -> MonitoringRead:
    """The model's monitoring settings (defaults filled in), drift state and recent webhook
    deliveries. The webhook secret is never shown here."""
    return monitoring.settings(principal, name)


@router.put("/v1/models/{name}/monitoring", response_model=MonitoringRead)
def set_monitoring(
    name: Name, body: MonitoringUpdate, principal: PrincipalDep, monitoring: MonitoringDep
) -> MonitoringRead:
    """Set thresholds, sample rate, webhook and retraining policy (the fields given). Setting
    a webhook the first time, or ``rotate_webhook_secret``, returns its secret once."""
    return monitoring.update_settings(principal, name, body)
