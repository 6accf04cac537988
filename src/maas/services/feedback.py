"""Ground truth: the actual outcomes of logged predictions, sent later by their id, and the
live metrics computed from them per version and over time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from maas.domain.principal import Principal
from maas.domain.signature import Task
from maas.errors import InvalidInputError, PredictionNotFoundError
from maas.ml.live_metrics import classification_metrics, regression_metrics
from maas.schemas.models import VersionRead
from maas.schemas.monitoring import (
    FeedbackItem,
    FeedbackResult,
    LiveMetricsPoint,
    LiveMetricsRead,
    LiveMetricsVersion,
)
from maas.services.prediction_log import PredictionLog
from maas.services.registry import RegistryService
from maas.store.db import Database
from maas.store.monitoring import MonitoringRepository
from maas.store.prediction_log import LoggedRecord, PredictionLogRepository

__all__ = ["FeedbackService"]


class FeedbackService:
    """Records actual outcomes on the prediction log and reads metrics from them."""

    def __init__(
        self, db: Database, registry: RegistryService, prediction_log: PredictionLog
    ) -> None:
        self.db = db
        self.registry = registry
        self.log = prediction_log

    def submit(
        self, principal: Principal, items: Sequence[FeedbackItem], *, batch: bool = True
    ) -> FeedbackResult:
        """Record the actual outcome of logged predictions: all of them or none. Errors name
        ``items[k].<field>`` for a batch, ``<field>`` for one item sent on its own.

        Raises:
            PredictionNotFoundError: an id is unknown to the caller's tenant (naming it).
            InvalidInputError: an actual does not fit its model (a label outside the classes,
                text for a number).
        """
        ids = [item.prediction_id for item in items]
        with self.db.session() as session:
            found = PredictionLogRepository(session, principal.tenant_id).find(ids)
        if len(found) < len(set(ids)):
            # It may still be in this process's buffer, or taken off it by the flusher and
            # not written yet: flush() waits for a flush under way, then writes the rest.
            self.log.flush()
            with self.db.session() as session:
                found = PredictionLogRepository(session, principal.tenant_id).find(ids)
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        single = not batch
        if missing:
            where = ids.index(missing[0])
            raise PredictionNotFoundError(
                f"Prediction {missing[0]!r} not found: it was never logged, was removed by the "
                "retention limits, or belongs to another tenant."
                + (f" ({len(missing)} unknown ids in all.)" if len(missing) > 1 else ""),
                field="prediction_id" if single else f"items[{where}].prediction_id",
                received=missing[0],
                details={"unknown": missing[:100]} if len(missing) > 1 else None,
            )
        versions: dict[tuple[str, int], VersionRead] = {}
        actuals = []
        for k, item in enumerate(items):
            record = found[item.prediction_id]
            key = (record.model, record.version)
            if key not in versions:
                versions[key] = self.registry.get_version(principal, *key)
            field = "actual" if single else f"items[{k}].actual"
            actuals.append(
                (item.prediction_id, _checked_actual(item.actual, record, versions[key], field))
            )
        with self.db.writer() as session, session.begin():
            PredictionLogRepository(session, principal.tenant_id).set_actuals(
                actuals, self.log.clock()
            )
        return FeedbackResult(accepted=len(actuals))

    def live_metrics(
        self,
        principal: Principal,
        name: str,
        *,
        version: int | None = None,
        bucket: Literal["hour", "day"] = "hour",
        days: int | None = None,
    ) -> LiveMetricsRead:
        """Metrics of the predictions that received feedback, per version and per hour or day
        of the prediction, over the last ``days`` days (7 for hours, 30 for days).

        Raises:
            ModelNotFoundError, VersionNotFoundError.
        """
        days = days or (7 if bucket == "hour" else 30)
        since = self.log.clock() - timedelta(days=days)
        if version is not None:
            self.registry.get_version(principal, name, version)
        with self.db.session() as session:
            model_id = MonitoringRepository(session, principal.tenant_id).model_id(name)
            rows = PredictionLogRepository(session, principal.tenant_id).recent(
                model_id,
                version=version,
                since=since,
                output=True,
                feedback=True,
                limit=200_000,
                oldest_first=True,
            )
        by_version: dict[int, list[LoggedRecord]] = {}
        for r in rows:
            by_version.setdefault(r.version, []).append(r)
        out = []
        for number in sorted(by_version):
            found = self.registry.get_version(principal, name, number)
            records = by_version[number]
            buckets: dict[datetime, list[LoggedRecord]] = {}
            for r in records:
                start = r.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                if bucket == "day":
                    start = start.replace(hour=0)
                buckets.setdefault(start, []).append(r)
            out.append(
                LiveMetricsVersion(
                    version=number,
                    task=found.signature.task.value,
                    overall=_metrics(records, found),
                    points=[
                        LiveMetricsPoint(t=t, metrics=_metrics(rs, found))
                        for t, rs in sorted(buckets.items())
                    ],
                )
            )
        return LiveMetricsRead(model=name, bucket=bucket, since=since, versions=out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _checked_actual(actual: Any, record: LoggedRecord, version: VersionRead, field: str) -> Any:
    predicted = (record.output or {}).get("prediction")
    classes = version.signature.classes
    if version.signature.task is Task.CLASSIFICATION or isinstance(predicted, str):
        label = actual
        if isinstance(actual, bool):
            label = "1" if actual else "0"
        elif _is_number(actual) and float(actual).is_integer():
            label = str(int(actual))
        label = str(label)
        if classes and label not in classes:
            raise InvalidInputError(
                f"The actual outcome of prediction {record.id!r} (model {record.model!r}) must "
                f"be one of its classes {classes}. Got {actual!r} instead.",
                field=field,
                expected=classes,
                received=actual,
            )
        return label
    if not _is_number(actual):
        raise InvalidInputError(
            f"The actual outcome of prediction {record.id!r} (model {record.model!r}) must be "
            f"a number. Got {type(actual).__name__} {actual!r} instead.",
            field=field,
            expected="a number",
            received=actual,
        )
    return float(actual)


def _metrics(records: Sequence[LoggedRecord], version: VersionRead) -> dict[str, Any]:
    sig = version.signature
    if sig.task is Task.CLASSIFICATION:
        pairs = [
            (str((r.output or {}).get("prediction")), str(r.actual))
            for r in records
            if (r.output or {}).get("prediction") is not None
        ]
        return classification_metrics([p for p, _ in pairs], [a for _, a in pairs], sig.classes)
    kept = [
        r
        for r in records
        if _is_number((r.output or {}).get("prediction")) and _is_number(r.actual)
    ]
    quantiles: dict[str, list[float | None]] | None = None
    levels = sorted({q for r in kept for q in ((r.output or {}).get("quantiles") or {})})
    if levels:
        quantiles = {
            q: [((r.output or {}).get("quantiles") or {}).get(q) for r in kept] for q in levels
        }
    return regression_metrics(
        [float(r.output["prediction"]) for r in kept if r.output],
        [float(r.actual) for r in kept],
        quantiles,
    )
