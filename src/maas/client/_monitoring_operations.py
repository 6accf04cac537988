"""The monitoring operations, one ``Call`` each (beside ``_operations``, which holds the rest).

Traffic, the prediction log, ground-truth feedback, live metrics, drift and each model's
monitoring settings. Arguments are checked before anything is sent, as in ``_operations``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias

import httpx
from pydantic import ValidationError

from maas.client._base import Call, parse_as
from maas.client._operations import _invalid_parameter, _path, _validated
from maas.errors import InvalidInputError, InvalidParameterError
from maas.schemas.monitoring import (
    DriftRead,
    FeedbackBatch,
    FeedbackItem,
    FeedbackResult,
    LiveMetricsRead,
    MonitoringRead,
    MonitoringUpdate,
    PredictionLogPage,
    RetrainPolicy,
    TrafficRead,
)

__all__ = [
    "UNCHANGED",
    "ActualInput",
    "FeedbackInput",
    "PredictionLogFormat",
    "Unchanged",
    "check_drift",
    "check_log_format",
    "get_drift",
    "get_monitoring",
    "live_metrics",
    "predictions_log",
    "predictions_parquet",
    "send_feedback",
    "set_monitoring",
    "traffic",
]


class Unchanged:
    """The type of ``UNCHANGED``: "leave this setting as it is" (``None`` cannot say that:
    it returns a setting to the server's default)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = Unchanged()

ActualInput: TypeAlias = str | int | float | bool
"""The actual outcome of a prediction: its class label for a classifier (``"1"``; ``1`` and
``True`` are read as ``"1"``), a number for everything else."""

FeedbackInput: TypeAlias = (
    Mapping[str, ActualInput] | Iterable[FeedbackItem | Mapping[str, Any] | tuple[str, Any]]
)
"""Many actual outcomes: ``{prediction_id: actual, ...}``, or items that are
``FeedbackItem``, ``{"prediction_id": ..., "actual": ...}`` or ``(prediction_id, actual)``."""

PredictionLogFormat: TypeAlias = Literal["json", "parquet"]
"""How ``predictions_log`` returns the log: a ``PredictionLogPage`` or a Parquet file's bytes."""

PARQUET = "application/vnd.apache.parquet"


def traffic(name: str, minutes: int) -> Call[TrafficRead]:
    path = _path("models", name, "traffic")
    return Call("GET", path, parse_as(TrafficRead), params={"minutes": minutes})


def _raw_bytes(response: httpx.Response) -> bytes:
    return response.content


def check_log_format(format: str) -> None:  # noqa: A002 - the parameter's name on the wire
    """Raises: InvalidParameterError for a format other than json or parquet."""
    if format not in ("json", "parquet"):
        raise InvalidParameterError(
            f"format must be json or parquet. Got {format!r} instead.",
            field="format",
            expected=["json", "parquet"],
            received=format,
        )


def predictions_log(ref: str, limit: int) -> Call[PredictionLogPage]:
    path = _path("models", ref, "predictions")
    return Call("GET", path, parse_as(PredictionLogPage), params={"limit": limit})


def predictions_parquet(ref: str, limit: int) -> Call[bytes]:
    path = _path("models", ref, "predictions")
    params: dict[str, str | int] = {"limit": limit, "format": "parquet"}
    return Call("GET", path, _raw_bytes, params=params, accept=PARQUET)


def _plain(value: Any) -> Any:
    """numpy and pandas scalars (``np.int64(1)``) as the Python values they hold."""
    if not isinstance(value, str | bytes) and hasattr(value, "item"):
        return value.item()
    return value


def _items(items: FeedbackInput) -> list[Any]:
    if isinstance(items, Mapping):
        return [{"prediction_id": k, "actual": _plain(v)} for k, v in items.items()]
    out: list[Any] = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            out.append({"prediction_id": item[0], "actual": _plain(item[1])})
        elif isinstance(item, Mapping) and "actual" in item:
            out.append({**item, "actual": _plain(item["actual"])})
        else:
            out.append(item)
    return out


def send_feedback(
    prediction_id: str | None, actual: ActualInput | None, items: FeedbackInput | None
) -> Call[FeedbackResult]:
    """Raises: InvalidInputError unless exactly one of (``prediction_id`` and ``actual``) and
    ``items`` is given; InvalidParameterError for a malformed item."""
    given = [
        name
        for name, value in (("prediction_id", prediction_id), ("actual", actual), ("items", items))
        if value is not None
    ]
    if given not in (["prediction_id", "actual"], ["items"]):
        raise InvalidInputError(
            "Pass prediction_id and actual for one outcome, or items for many.",
            field="items" if items is not None else "prediction_id",
            expected="prediction_id and actual, or items",
            received=" and ".join(given) or "neither",
        )
    body: FeedbackItem | FeedbackBatch
    if items is None:
        body = _validated(FeedbackItem, prediction_id=prediction_id, actual=_plain(actual))
    else:
        listed = _items(items)
        for k, item in enumerate(listed):
            value = item.get("actual") if isinstance(item, Mapping) else None
            if isinstance(item, Mapping) and not isinstance(value, ActualInput):
                raise InvalidParameterError(
                    f"items[{k}].actual must be a class label or a number. Got {value!r} instead.",
                    field=f"items[{k}].actual",
                    expected="a string, number or boolean",
                    received=value,
                )
        try:
            body = FeedbackBatch.model_validate({"items": listed})
        except ValidationError as exc:
            raise _invalid_parameter(exc) from exc
    return Call(
        "POST", "/v1/feedback", parse_as(FeedbackResult), json=body.model_dump_json().encode()
    )


def live_metrics(
    name: str, version: int | None, bucket: str, days: int | None
) -> Call[LiveMetricsRead]:
    params: dict[str, str | int] = {"bucket": bucket}
    if version is not None:
        params["version"] = version
    if days is not None:
        params["days"] = days
    path = _path("models", name, "live-metrics")
    return Call("GET", path, parse_as(LiveMetricsRead), params=params)


def check_drift(name: str, version: int | None) -> Call[DriftRead]:
    params = {"version": version} if version is not None else None
    path = _path("models", name, "drift", "check")
    return Call("POST", path, parse_as(DriftRead), params=params)


def get_drift(name: str) -> Call[DriftRead]:
    return Call("GET", _path("models", name, "drift"), parse_as(DriftRead))


def get_monitoring(name: str) -> Call[MonitoringRead]:
    return Call("GET", _path("models", name, "monitoring"), parse_as(MonitoringRead))


def set_monitoring(
    name: str,
    *,
    psi_warning: float | None | Unchanged,
    psi_alert: float | None | Unchanged,
    sample_rate: float | None | Unchanged,
    window_hours: float | None | Unchanged,
    min_rows: int | None | Unchanged,
    webhook_url: str | None | Unchanged,
    rotate_webhook_secret: bool,
    retrain_on_alert: RetrainPolicy | Mapping[str, Any] | None | Unchanged,
) -> Call[MonitoringRead]:
    """Only the settings given are sent (``None`` included: it resets one)."""
    given: dict[str, Any] = {
        field: value
        for field, value in (
            ("psi_warning", psi_warning),
            ("psi_alert", psi_alert),
            ("sample_rate", sample_rate),
            ("window_hours", window_hours),
            ("min_rows", min_rows),
            ("webhook_url", webhook_url),
            ("retrain_on_alert", retrain_on_alert),
        )
        if not isinstance(value, Unchanged)
    }
    if rotate_webhook_secret:
        given["rotate_webhook_secret"] = True
    body = _validated(MonitoringUpdate, **given)
    content = body.model_dump_json(exclude_unset=True).encode()
    path = _path("models", name, "monitoring")
    return Call("PUT", path, parse_as(MonitoringRead), json=content)
