"""Monitoring use cases: observe predictions, live traffic, the prediction log, ground-truth
feedback and live metrics, drift, and each model's monitoring settings.

This is what the transports call; the parts live beside it: ``prediction_log`` (the buffered
write side), ``traffic`` (per-minute counters), ``feedback`` (actual outcomes and live
metrics), ``drift`` (checks, state, schedule) and ``webhooks`` (signed deliveries).
Everything is scoped to the caller's tenant: another tenant's model or prediction id is simply
not found.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from maas.domain.names import check_name, parse_model_ref
from maas.domain.principal import Principal
from maas.domain.webhooks import check_webhook_url
from maas.errors import InvalidParameterError
from maas.ml.drift import Thresholds
from maas.ml.prediction import Prediction
from maas.schemas.models import VersionRead
from maas.schemas.monitoring import (
    DriftRead,
    FeedbackItem,
    FeedbackResult,
    LiveMetricsRead,
    LoggedPredictionRead,
    MonitoringRead,
    MonitoringUpdate,
    PredictionLogPage,
    RetrainPolicy,
    TrafficPoint,
    TrafficRead,
    WebhookDeliveryRead,
)
from maas.services.drift import DriftDefaults, DriftService, RetrainTrigger
from maas.services.feedback import FeedbackService
from maas.services.prediction_log import PredictionLog
from maas.services.recording import record_change
from maas.services.registry import RegistryService
from maas.services.traffic import percentile_ms
from maas.services.webhooks import WebhookSender
from maas.settings import Settings
from maas.store.db import Database
from maas.store.monitoring import MonitoringRepository
from maas.store.prediction_log import LoggedRecord, PredictionLogRepository

__all__ = ["MonitoringService"]

_THRESHOLD_FIELDS = ("psi_warning", "psi_alert", "sample_rate", "window_hours", "min_rows")


class MonitoringService:
    """The monitoring use cases over one database (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        registry: RegistryService,
        prediction_log: PredictionLog,
        drift: DriftService,
        webhooks: WebhookSender,
        *,
        allow_private_webhooks: bool = False,
    ) -> None:
        self.db = db
        self.registry = registry
        self.log = prediction_log
        self.drift = drift
        self.webhooks = webhooks
        self.allow_private_webhooks = allow_private_webhooks
        self.outcomes = FeedbackService(db, registry, prediction_log)

    @classmethod
    def from_settings(
        cls,
        db: Database,
        registry: RegistryService,
        settings: Settings,
        *,
        retrain: RetrainTrigger | None = None,
        user_agent: str = "maas-webhooks",
    ) -> MonitoringService:
        """Build the service and its parts from ``settings`` (nothing is started)."""
        plog = PredictionLog(
            db,
            sample_rate=settings.monitoring_sample_rate,
            log_outputs=settings.monitoring_log_outputs,
            max_buffered_rows=settings.monitoring_buffer_rows,
            retention_rows=settings.monitoring_retention_rows,
            retention_days=settings.monitoring_retention_days,
        )
        webhooks = WebhookSender(
            db, allow_private=settings.webhook_allow_private, user_agent=user_agent
        )
        defaults = DriftDefaults(
            psi_warning=settings.drift_psi_warning,
            psi_alert=settings.drift_psi_alert,
            window_hours=settings.drift_window_hours,
            min_rows=settings.drift_min_rows,
            reference_rows=settings.drift_reference_rows,
        )
        drift = DriftService(db, registry, plog, webhooks, defaults=defaults, retrain=retrain)
        return cls(
            db,
            registry,
            plog,
            drift,
            webhooks,
            allow_private_webhooks=settings.webhook_allow_private,
        )

    def start(self, *, flush_seconds: float, drift_seconds: float) -> None:
        """Start the log flusher and (unless ``drift_seconds`` is 0) the scheduled checks."""
        self.log.start(flush_seconds)
        self.drift.start(drift_seconds)

    def close(self) -> None:
        """Stop the background threads and write what is buffered."""
        self.drift.close()
        self.webhooks.close()
        self.log.close()

    def flush(self) -> int:
        """Write the buffered log rows and traffic now (tests, shutdown)."""
        return self.log.flush()

    # the prediction path ----------------------------------------------------------------

    def observe(
        self,
        tenant_id: str,
        version: VersionRead,
        x: np.ndarray,
        prediction: Prediction,
        latency_seconds: float,
        request_id: str | None = None,
    ) -> list[str | None] | None:
        """Log a finished prediction without I/O; see ``PredictionLog.observe``."""
        return self.log.observe(tenant_id, version, x, prediction, latency_seconds, request_id)

    def observe_error(self, tenant_id: str, model: str) -> None:
        """Count a failed prediction request of ``model`` for live traffic (no I/O)."""
        self.log.observe_error(tenant_id, model)

    # traffic ----------------------------------------------------------------------------

    def traffic(self, principal: Principal, name: str, *, minutes: int = 60) -> TrafficRead:
        """Requests, errors and p50/p99 latency per minute over the last ``minutes`` minutes
        (the current one included), every server process added up.

        Raises:
            ModelNotFoundError: no such model in the caller's tenant.
        """
        current = self.log.clock().astimezone(UTC).replace(second=0, microsecond=0)
        start = current - timedelta(minutes=minutes - 1)
        with self.db.session() as session:
            repo = MonitoringRepository(session, principal.tenant_id)
            records = repo.traffic(repo.model_id(name), start)
        per_minute: dict[datetime, list[Any]] = {}
        for r in records:
            slot = per_minute.setdefault(r.minute, [0, 0, {}])
            slot[0] += r.requests
            slot[1] += r.errors
            for k, v in r.latency.items():
                slot[2][int(k)] = slot[2].get(int(k), 0) + int(v)
        points = []
        for i in range(minutes):
            t = start + timedelta(minutes=i)
            requests, errors, hist = per_minute.get(t, (0, 0, {}))
            points.append(
                TrafficPoint(
                    t=t,
                    requests=requests,
                    errors=errors,
                    p50_ms=percentile_ms(hist, 0.5),
                    p99_ms=percentile_ms(hist, 0.99),
                )
            )
        return TrafficRead(model=name, points=points)

    # the prediction log -----------------------------------------------------------------

    def _log_scope(self, principal: Principal, ref: str) -> tuple[str, int | None]:
        name, sep, _ = ref.partition("@")
        check_name(name, field="model")
        if not sep:
            return name, None
        _, selector = parse_model_ref(ref)
        return name, self.registry.resolve(principal.tenant_id, name, selector).version

    def predictions(
        self, principal: Principal, ref: str, *, limit: int = 1000
    ) -> PredictionLogPage:
        """The newest logged predictions of a model (``NAME``: every version; ``NAME@N`` or
        ``NAME@ALIAS``: that version).

        Raises:
            InvalidNameError, ModelNotFoundError, AliasNotFoundError, VersionNotFoundError.
        """
        name, version = self._log_scope(principal, ref)
        with self.db.session() as session:
            model_id = MonitoringRepository(session, principal.tenant_id).model_id(name)
            rows = PredictionLogRepository(session, principal.tenant_id).recent(
                model_id, version=version, limit=limit
            )
        return PredictionLogPage(model=name, items=[_read(r) for r in rows])

    def predictions_parquet(self, principal: Principal, ref: str, *, limit: int = 1000) -> bytes:
        """The same rows as ``predictions``, flattened into a Parquet file: ``prediction_id``,
        ``at``, ``version``, ``latency_ms``, ``request_id``, ``prediction``, ``p_<class>``,
        ``q_<level>``, ``key.<name>``, ``input.<column>``, ``actual``, ``actual_at``."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        page = self.predictions(principal, ref, limit=limit)
        records = []
        for item in page.items:
            flat: dict[str, Any] = {
                "prediction_id": item.prediction_id,
                "model": item.model,
                "version": item.version,
                "at": item.at,
                "latency_ms": item.latency_ms,
                "request_id": item.request_id,
            }
            output = item.output or {}
            flat["prediction"] = output.get("prediction")
            for label, p in (output.get("probabilities") or {}).items():
                flat[f"p_{label}"] = p
            for level, q in (output.get("quantiles") or {}).items():
                flat[f"q_{level}"] = q
            if "anomaly" in output:
                flat["anomaly"] = output["anomaly"]
            for key, value in (output.get("key") or {}).items():
                flat[f"key.{key}"] = value
            for column, value in (item.inputs or {}).items():
                flat[f"input.{column}"] = value
            flat["actual"] = item.actual
            flat["actual_at"] = item.actual_at
            records.append(flat)
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            frame = pd.DataFrame(
                {c: pd.Series(dtype="string") for c in ("prediction_id", "model", "prediction")}
            )
        for column in ("at", "actual_at"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = _uniform(frame[column])
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        return buffer.getvalue()

    # feedback ---------------------------------------------------------------------------

    def feedback(
        self, principal: Principal, items: Sequence[FeedbackItem], *, batch: bool = True
    ) -> FeedbackResult:
        """Record actual outcomes; see ``FeedbackService.submit``."""
        return self.outcomes.submit(principal, items, batch=batch)

    def live_metrics(
        self,
        principal: Principal,
        name: str,
        *,
        version: int | None = None,
        bucket: Literal["hour", "day"] = "hour",
        days: int | None = None,
    ) -> LiveMetricsRead:
        """Metrics from the feedback; see ``FeedbackService.live_metrics``."""
        return self.outcomes.live_metrics(
            principal, name, version=version, bucket=bucket, days=days
        )

    # drift ------------------------------------------------------------------------------

    def check_drift(
        self, principal: Principal, name: str, *, version: int | None = None
    ) -> DriftRead:
        """Run a drift check now (see ``DriftService.check``)."""
        return self.drift.check(principal, name, version=version)

    def drift_state(self, principal: Principal, name: str) -> DriftRead:
        """The model's last drift check and its history (see ``DriftService.latest``)."""
        return self.drift.latest(principal, name)

    # settings ---------------------------------------------------------------------------

    def settings(
        self, principal: Principal, name: str, *, secret: str | None = None
    ) -> MonitoringRead:
        """A model's monitoring settings with the server defaults filled in.

        Raises:
            ModelNotFoundError.
        """
        with self.db.session() as session:
            repo = MonitoringRepository(session, principal.tenant_id)
            model_id = repo.model_id(name)
            config = repo.config(model_id)
            state = repo.last_state(model_id)
            deliveries = repo.deliveries(model_id, limit=10)
        d = self.drift.defaults
        return MonitoringRead(
            model=name,
            psi_warning=config.psi_warning or d.psi_warning,
            psi_alert=config.psi_alert or d.psi_alert,
            sample_rate=(
                config.sample_rate if config.sample_rate is not None else self.log.sample_rate
            ),
            window_hours=config.window_hours or d.window_hours,
            min_rows=config.min_rows or d.min_rows,
            webhook_url=config.webhook_url,
            webhook_secret=secret,
            webhook_secret_set=config.webhook_secret is not None,
            retrain_on_alert=RetrainPolicy.model_validate(config.retrain or {}),
            state=state or "no_data",  # type: ignore[arg-type]
            recent_deliveries=[
                WebhookDeliveryRead.model_validate(r, from_attributes=True) for r in deliveries
            ],
        )

    def update_settings(
        self, principal: Principal, name: str, update: MonitoringUpdate
    ) -> MonitoringRead:
        """Change the fields ``update`` sets; a new webhook secret is returned once.

        Raises:
            ModelNotFoundError, InvalidParameterError (naming the field).
        """
        given = update.model_fields_set
        changes: dict[str, Any] = {f: getattr(update, f) for f in _THRESHOLD_FIELDS if f in given}
        if update.webhook_url is not None:
            check_webhook_url(update.webhook_url, allow_private=self.allow_private_webhooks)
        if "retrain_on_alert" in given:
            policy = update.retrain_on_alert
            if policy is not None and policy.enabled and not policy.metric:
                raise InvalidParameterError(
                    "retrain_on_alert needs the metric a challenger must beat (e.g. f1, rmse).",
                    field="retrain_on_alert.metric",
                    expected="a metric name",
                    received=None,
                )
            changes["retrain"] = None if policy is None else policy.model_dump()
        secret = None
        with self.db.writer() as session, session.begin():
            repo = MonitoringRepository(session, principal.tenant_id)
            model_id = repo.model_id(name)
            current = repo.config(model_id)
            if "webhook_url" in given:
                changes["webhook_url"] = update.webhook_url
                if update.webhook_url is None:
                    changes["webhook_secret"] = None
                elif current.webhook_secret is None:
                    secret = changes["webhook_secret"] = "whsec_" + secrets.token_urlsafe(32)
            if update.rotate_webhook_secret:
                if not (changes.get("webhook_url", current.webhook_url)):
                    raise InvalidParameterError(
                        "There is no webhook to rotate the secret of; set webhook_url first.",
                        field="rotate_webhook_secret",
                        expected=False,
                        received=True,
                    )
                secret = changes["webhook_secret"] = "whsec_" + secrets.token_urlsafe(32)
            d = self.drift.defaults
            warning = changes.get("psi_warning", current.psi_warning) or d.psi_warning
            alert = changes.get("psi_alert", current.psi_alert) or d.psi_alert
            try:
                Thresholds(warning, alert)
            except ValueError:
                raise InvalidParameterError(
                    f"psi_warning must be smaller than psi_alert. Got {warning:g} and "
                    f"{alert:g} instead.",
                    field="psi_warning" if "psi_warning" in changes else "psi_alert",
                    expected=f"< {alert:g}",
                    received=warning,
                ) from None
            repo.set_config(model_id, changes)
            details = {k: v for k, v in changes.items() if k != "webhook_secret"}
            if "webhook_secret" in changes:
                details["webhook_secret"] = "rotated" if changes["webhook_secret"] else "removed"
            record_change(session, principal, "monitoring.update", f"model:{name}", details)
        if "sample_rate" in changes:
            self.log.set_rate(principal.tenant_id, name, changes["sample_rate"])
        return self.settings(principal, name, secret=secret)


# helpers of the reads ----------------------------------------------------------------------


def _read(r: LoggedRecord) -> LoggedPredictionRead:
    return LoggedPredictionRead(
        prediction_id=r.id,
        model=r.model,
        version=r.version,
        at=r.at,
        latency_ms=r.latency_ms,
        request_id=r.request_id,
        inputs=r.inputs,
        output=r.output,
        actual=r.actual,
        actual_at=r.actual_at,
    )


def _uniform(column: Any) -> Any:
    """An object column as float64 when it holds only numbers, else as nullable strings."""
    values = [v for v in column if v is not None]
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return column.astype("float64")
    if values and all(isinstance(v, bool) for v in values):
        return column.astype("boolean")
    return column.map(lambda v: None if v is None else str(v)).astype("string")
