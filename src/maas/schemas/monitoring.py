"""Wire models of monitoring: traffic, the prediction log, feedback, live metrics, drift and
each model's monitoring settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

__all__ = [
    "DriftFeature",
    "DriftHistoryPoint",
    "DriftPrediction",
    "DriftRead",
    "DriftWindow",
    "FeedbackBatch",
    "FeedbackItem",
    "FeedbackResult",
    "LiveMetricsPoint",
    "LiveMetricsRead",
    "LiveMetricsVersion",
    "LoggedPredictionRead",
    "MonitoringRead",
    "MonitoringUpdate",
    "PredictionLogPage",
    "RetrainPolicy",
    "TrafficPoint",
    "TrafficRead",
    "WebhookDeliveryRead",
]

DriftState = Literal["ok", "warning", "alert", "no_data"]


# traffic ----------------------------------------------------------------------------------


class TrafficPoint(BaseModel):
    t: datetime
    """The minute (UTC) the counts are for."""
    requests: int
    """Prediction requests answered or refused in that minute (errors included)."""
    errors: int
    p50_ms: float | None
    p99_ms: float | None


class TrafficRead(BaseModel):
    model: str
    points: list[TrafficPoint]
    """One point per minute, oldest first; minutes without traffic count 0 requests."""


# the prediction log -----------------------------------------------------------------------


class LoggedPredictionRead(BaseModel):
    prediction_id: str
    model: str
    version: int
    at: datetime
    latency_ms: float
    request_id: str | None
    inputs: dict[str, Any] | None
    """The input row, when it was in the sample (see the sample rate)."""
    output: dict[str, Any] | None
    """``prediction`` plus ``probabilities``, ``quantiles`` or ``key`` where the model has them."""
    actual: Any = None
    actual_at: datetime | None = None


class PredictionLogPage(BaseModel):
    model: str
    items: list[LoggedPredictionRead]
    """Newest first."""


# feedback ---------------------------------------------------------------------------------

Actual = StrictStr | StrictInt | StrictFloat | StrictBool


class FeedbackItem(BaseModel):
    """The actual outcome of one prediction."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: str = Field(min_length=1, max_length=48)
    actual: Actual = Field(
        description="The class label for a classifier, a number for everything else"
    )


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackItem] = Field(min_length=1, max_length=10_000)


class FeedbackResult(BaseModel):
    accepted: int


# live metrics -----------------------------------------------------------------------------


class LiveMetricsPoint(BaseModel):
    t: datetime
    """Start of the bucket (UTC), by the time of the prediction."""
    metrics: dict[str, Any]
    """``count`` plus accuracy (and precision, recall, f1) for classifiers, rmse, mae and bias
    for numbers, coverage for quantile forecasts."""


class LiveMetricsVersion(BaseModel):
    version: int
    task: str
    overall: dict[str, Any]
    points: list[LiveMetricsPoint]


class LiveMetricsRead(BaseModel):
    model: str
    bucket: Literal["hour", "day"]
    since: datetime
    versions: list[LiveMetricsVersion]


# drift ------------------------------------------------------------------------------------


class DriftWindow(BaseModel):
    rows: int
    since: datetime | None


class DriftFeature(BaseModel):
    name: str
    kind: str
    psi: float | None
    ks: float | None = None
    js: float | None = None
    state: DriftState
    rows: int
    note: str | None = None


class DriftPrediction(BaseModel):
    psi: float | None
    ks: float | None = None
    js: float | None = None
    state: DriftState
    rows: int
    reference: str
    """``training`` (the report's prediction profile) or ``first_logged``."""


class DriftHistoryPoint(BaseModel):
    t: datetime
    version: int | None
    state: DriftState
    max_psi: float | None
    features: dict[str, float | None]


class DriftRead(BaseModel):
    model: str
    version: int | None
    state: DriftState
    checked_at: datetime | None
    window: DriftWindow
    thresholds: dict[str, float]
    reference: str | None
    """``training_profile`` or ``first_logged`` (the version's first logged inputs)."""
    message: str | None
    features: list[DriftFeature]
    prediction: DriftPrediction | None
    history: list[DriftHistoryPoint]
    """The model's latest checks (up to 50), oldest first; the last one is this check."""
    retraining: dict[str, Any] | None = None
    """Set when this check started a retraining job (``job``) or failed to (``error``)."""


# settings ---------------------------------------------------------------------------------


class RetrainPolicy(BaseModel):
    """What to do when drift reaches ``alert``: train a challenger on fresh data and promote
    it only if it beats the current version on ``metric``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    metric: str | None = Field(default=None, max_length=64, description="e.g. f1, rmse")
    dataset: str | None = Field(
        default=None, max_length=64, description="Default: the dataset of the current version"
    )
    dataset_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    alias: str = Field(default="production", max_length=40)
    min_improvement: float = Field(
        default=0.0, ge=0.0, le=1e9, description="Promote only when better by more than this"
    )


class MonitoringUpdate(BaseModel):
    """Set the given fields; the others keep their values. ``null`` resets a field to the
    server's default (``webhook_url``: no webhook)."""

    model_config = ConfigDict(extra="forbid")

    psi_warning: float | None = Field(default=None, gt=0, le=100)
    psi_alert: float | None = Field(default=None, gt=0, le=100)
    sample_rate: float | None = Field(
        default=None, ge=0, le=1, description="Share of predictions whose inputs are logged"
    )
    window_hours: float | None = Field(default=None, gt=0, le=24 * 90)
    min_rows: int | None = Field(default=None, ge=1, le=1_000_000)
    webhook_url: str | None = Field(default=None, max_length=2000)
    rotate_webhook_secret: bool = False
    retrain_on_alert: RetrainPolicy | None = None


class WebhookDeliveryRead(BaseModel):
    id: str
    event: str
    url: str
    outcome: Literal["delivered", "failed", "refused"]
    http_status: int | None
    attempts: int
    error: str
    at: datetime


class MonitoringRead(BaseModel):
    model: str
    psi_warning: float
    psi_alert: float
    sample_rate: float
    window_hours: float
    min_rows: int
    webhook_url: str | None
    webhook_secret: str | None = None
    """Shown once: when a webhook URL is first set or the secret is rotated."""
    webhook_secret_set: bool
    retrain_on_alert: RetrainPolicy
    state: DriftState
    """The model's drift state from its last check."""
    recent_deliveries: list[WebhookDeliveryRead]
