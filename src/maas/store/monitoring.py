"""Monitoring persistence: per-model settings, drift checks, webhook deliveries, traffic per
minute and the leases of scheduled checks.

``MonitoringRepository`` is tenant-scoped like every repository; the module functions below it
serve the background threads, which work across tenants (they never answer a caller)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exc, func, insert, or_, select, update
from sqlalchemy.orm import Session

from maas.errors import ModelNotFoundError
from maas.store.tables import (
    DriftCheckRow,
    ModelRow,
    MonitoringConfigRow,
    MonitoringLeaseRow,
    PredictionLogRow,
    TenantRow,
    TrafficMinuteRow,
    WebhookDeliveryRow,
    utcnow,
)

__all__ = [
    "CheckRecord",
    "ConfigRecord",
    "DeliveryRecord",
    "MonitoredModel",
    "MonitoringRepository",
    "TrafficRecord",
    "add_delivery",
    "claim_lease",
    "model_ids",
    "models_with_traffic",
    "prune_monitoring",
    "sample_rates",
    "upsert_traffic",
]

CONFIG_FIELDS = (
    "psi_warning",
    "psi_alert",
    "sample_rate",
    "window_hours",
    "min_rows",
    "webhook_url",
    "webhook_secret",
    "retrain",
)


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """A model's stored monitoring settings (``None``: the server's default)."""

    psi_warning: float | None = None
    psi_alert: float | None = None
    sample_rate: float | None = None
    window_hours: float | None = None
    min_rows: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    retrain: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CheckRecord:
    version: int | None
    checked_at: datetime
    state: str
    max_psi: float | None
    trigger: str
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: str
    event: str
    url: str
    outcome: str
    http_status: int | None
    attempts: int
    error: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TrafficRecord:
    minute: datetime
    requests: int
    errors: int
    latency: dict[str, int]


@dataclass(frozen=True, slots=True)
class MonitoredModel:
    """A model the scheduler should check, with its tenant."""

    model_id: int
    name: str
    tenant_id: str
    tenant_name: str


def _config(row: MonitoringConfigRow | None) -> ConfigRecord:
    if row is None:
        return ConfigRecord()
    return ConfigRecord(**{f: getattr(row, f) for f in CONFIG_FIELDS})


class MonitoringRepository:
    """Monitoring rows of one tenant's models."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def model_id(self, name: str) -> int:
        """Raises: ModelNotFoundError (also for another tenant's model)."""
        found = self.session.scalar(
            select(ModelRow.id).where(ModelRow.tenant_id == self.tenant_id, ModelRow.name == name)
        )
        if found is None:
            raise ModelNotFoundError(f"Model {name!r} not found.", field="model", received=name)
        return int(found)

    # settings ---------------------------------------------------------------------------

    def config(self, model_id: int) -> ConfigRecord:
        return _config(self.session.get(MonitoringConfigRow, model_id))

    def set_config(self, model_id: int, changes: dict[str, Any]) -> ConfigRecord:
        """Apply ``changes`` (field → value; ``None`` resets to the default)."""
        row = self.session.get(MonitoringConfigRow, model_id, with_for_update=True)
        if row is None:
            row = MonitoringConfigRow(model_id=model_id, tenant_id=self.tenant_id)
            self.session.add(row)
        for name, value in changes.items():
            if name not in CONFIG_FIELDS:
                raise KeyError(name)
            setattr(row, name, value)
        row.updated_at = utcnow()
        self.session.flush()
        return _config(row)

    # drift checks -----------------------------------------------------------------------

    def add_check(self, model_id: int, check: CheckRecord) -> None:
        self.session.add(
            DriftCheckRow(
                model_id=model_id,
                version=check.version,
                checked_at=check.checked_at,
                state=check.state,
                max_psi=check.max_psi,
                trigger=check.trigger,
                result=check.result,
            )
        )
        self.session.flush()

    def checks(self, model_id: int, *, limit: int) -> list[CheckRecord]:
        """The latest ``limit`` checks, newest first."""
        rows = self.session.scalars(
            select(DriftCheckRow)
            .where(DriftCheckRow.model_id == model_id)
            .order_by(DriftCheckRow.checked_at.desc(), DriftCheckRow.id.desc())
            .limit(limit)
        ).all()
        return [
            CheckRecord(r.version, r.checked_at, r.state, r.max_psi, r.trigger, r.result)
            for r in rows
        ]

    def last_state(self, model_id: int) -> str | None:
        """The state of the latest check that had data (``no_data`` checks do not count)."""
        return self.session.scalar(
            select(DriftCheckRow.state)
            .where(DriftCheckRow.model_id == model_id, DriftCheckRow.state != "no_data")
            .order_by(DriftCheckRow.checked_at.desc(), DriftCheckRow.id.desc())
            .limit(1)
        )

    # webhook deliveries -----------------------------------------------------------------

    def deliveries(self, model_id: int, *, limit: int) -> list[DeliveryRecord]:
        rows = self.session.scalars(
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.model_id == model_id)
            .order_by(WebhookDeliveryRow.at.desc())
            .limit(limit)
        ).all()
        return [
            DeliveryRecord(
                r.id, r.event, r.url, r.outcome, r.http_status, r.attempts, r.error, r.at
            )
            for r in rows
        ]

    # traffic ----------------------------------------------------------------------------

    def traffic(self, model_id: int, since: datetime) -> list[TrafficRecord]:
        """Every process's counts of every minute from ``since`` (not added up)."""
        rows = self.session.execute(
            select(
                TrafficMinuteRow.minute,
                TrafficMinuteRow.requests,
                TrafficMinuteRow.errors,
                TrafficMinuteRow.latency,
            ).where(TrafficMinuteRow.model_id == model_id, TrafficMinuteRow.minute >= since)
        ).all()
        return [TrafficRecord(m, int(r), int(e), dict(lat or {})) for m, r, e, lat in rows]


# background work (across tenants) ----------------------------------------------------------


def model_ids(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Model ids of (tenant id, model name) pairs; pairs of deleted models are left out."""
    if not keys:
        return {}
    clauses = [and_(ModelRow.tenant_id == t, ModelRow.name == n) for t, n in keys]
    rows = session.execute(
        select(ModelRow.tenant_id, ModelRow.name, ModelRow.id).where(or_(*clauses))
    ).all()
    return {(t, n): int(i) for t, n, i in rows}


def sample_rates(session: Session) -> dict[tuple[str, str], float]:
    """Every per-model sample rate override: (tenant id, model name) → rate."""
    rows = session.execute(
        select(ModelRow.tenant_id, ModelRow.name, MonitoringConfigRow.sample_rate)
        .join(ModelRow, ModelRow.id == MonitoringConfigRow.model_id)
        .where(MonitoringConfigRow.sample_rate.is_not(None))
    ).all()
    return {(t, n): float(r) for t, n, r in rows}


def upsert_traffic(
    session: Session,
    process: str,
    counts: list[tuple[int, datetime, int, int, dict[str, int]]],
) -> None:
    """Write this process's (model id, minute, requests, errors, latency) counts, replacing
    what it wrote for the same minute before (each process owns its rows)."""
    for model_id, minute, requests, errors, latency in counts:
        changed = session.execute(
            update(TrafficMinuteRow)
            .where(
                TrafficMinuteRow.model_id == model_id,
                TrafficMinuteRow.minute == minute,
                TrafficMinuteRow.process == process,
            )
            .values(requests=requests, errors=errors, latency=latency)
        ).rowcount
        if not changed:
            session.execute(
                insert(TrafficMinuteRow).values(
                    model_id=model_id,
                    minute=minute,
                    process=process,
                    requests=requests,
                    errors=errors,
                    latency=latency,
                )
            )


def models_with_traffic(session: Session, since: datetime) -> list[MonitoredModel]:
    """Models with logged inputs since ``since``, with their tenants."""
    ids = select(PredictionLogRow.model_id).where(
        PredictionLogRow.at >= since, PredictionLogRow.inputs.is_not(None)
    )
    rows = session.execute(
        select(ModelRow.id, ModelRow.name, TenantRow.id, TenantRow.name)
        .join(TenantRow, TenantRow.id == ModelRow.tenant_id)
        .where(ModelRow.id.in_(ids.distinct()))
        .order_by(ModelRow.id)
    ).all()
    return [MonitoredModel(int(i), n, t, tn) for i, n, t, tn in rows]


def claim_lease(session: Session, key: str, holder: str, *, now: datetime, until: datetime) -> bool:
    """Take the lease ``key`` until ``until`` if nobody holds it now; whether we got it."""
    taken = session.execute(
        update(MonitoringLeaseRow)
        .where(MonitoringLeaseRow.key == key, MonitoringLeaseRow.until <= now)
        .values(holder=holder, until=until)
    ).rowcount
    if taken:
        return True
    if session.get(MonitoringLeaseRow, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(MonitoringLeaseRow(key=key, holder=holder, until=until))
    except exc.IntegrityError:  # another process inserted it first
        return False
    return True


def add_delivery(session: Session, model_id: int, record: DeliveryRecord) -> None:
    session.add(
        WebhookDeliveryRow(
            id=record.id,
            model_id=model_id,
            event=record.event,
            url=record.url,
            outcome=record.outcome,
            http_status=record.http_status,
            attempts=record.attempts,
            error=record.error,
            at=record.at,
        )
    )


def prune_monitoring(session: Session, *, older_than: datetime) -> int:
    """Delete traffic, checks and deliveries older than ``older_than``; how many rows."""
    removed = 0
    for table, column in (
        (TrafficMinuteRow, TrafficMinuteRow.minute),
        (DriftCheckRow, DriftCheckRow.checked_at),
        (WebhookDeliveryRow, WebhookDeliveryRow.at),
    ):
        removed += session.execute(delete(table).where(column < older_than)).rowcount or 0
    session.execute(delete(MonitoringLeaseRow).where(MonitoringLeaseRow.until < older_than))
    return int(removed)


def count_rows(session: Session, model_id: int) -> int:
    """Logged predictions of a model (for tests and diagnostics)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(PredictionLogRow)
            .where(PredictionLogRow.model_id == model_id)
        )
        or 0
    )
