"""SQLAlchemy tables of the registry. Rows never leave ``store/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AliasEventRow",
    "AliasRow",
    "ApiKeyRow",
    "AuditHeadRow",
    "AuditRow",
    "Base",
    "DatasetRow",
    "DatasetVersionRow",
    "DriftCheckRow",
    "JobRow",
    "ModelRow",
    "MonitoringConfigRow",
    "MonitoringLeaseRow",
    "PredictionLogRow",
    "TenantKeyRow",
    "TenantRow",
    "TrafficMinuteRow",
    "VersionRow",
    "WebhookDeliveryRow",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware, on SQLite too (which drops the
    offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002
    ) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_models_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    serving: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """Serving settings of the model (micro-batching); ``None``: the server's defaults."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class VersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_versions_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(32))
    artifact_uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[dict[str, Any]] = mapped_column()
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    template: Mapped[str | None] = mapped_column(String(64), default=None)
    source_dataset: Mapped[str | None] = mapped_column(String(200), default=None)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AliasRow(Base):
    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AliasEventRow(Base):
    __tablename__ = "model_alias_events"
    __table_args__ = (Index("ix_alias_events_model_alias", "model_id", "alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(40))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRow(Base):
    """One record of the audit hash chain (append only; see ``domain.audit_chain``).

    ``tenant_id`` has no foreign key on purpose: the record outlives its tenant."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_seq", "tenant_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column()
    tenant_id: Mapped[str | None] = mapped_column(String(36))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's head: the last ``seq`` and ``hash``, one row (``id`` 1), updated in the same
    transaction as every append, so that deleting the last records is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantKeyRow(Base):
    """A tenant's data key, wrapped (AES-GCM) by the master key ``master_key_id`` names.

    Keyed by tenant and version so that a new data key can be added later while blobs sealed
    with an older one (their header names the version) still open."""

    __tablename__ = "tenant_keys"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)


class JobRow(Base):
    """A background job (training, batch prediction, retraining) and its progress."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    request: Mapped[dict[str, Any]] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    log: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    worker_id: Mapped[str | None] = mapped_column(String(32), default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)


class DatasetRow(Base):
    """A tenant's dataset: a name for a sequence of immutable versions."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_datasets_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetVersionRow(Base):
    """One immutable version of a dataset: its Parquet artifact, schema, profile and quality
    findings. ``parent_version`` is the version an append added rows to."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    artifact_uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    column_count: Mapped[int] = mapped_column(Integer)
    schema: Mapped[list[Any]] = mapped_column(JSON)
    profile: Mapped[dict[str, Any]] = mapped_column()
    quality: Mapped[list[Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    parent_version: Mapped[int | None] = mapped_column(Integer, default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# monitoring ------------------------------------------------------------------------------

_NULLABLE_JSON = JSON(none_as_null=True)


class PredictionLogRow(Base):
    """One logged prediction: its output (every prediction, unless configured otherwise), its
    inputs (a sample), and the actual outcome once sent back. Rows whose ``output`` is null
    hold only a sampled input row of a per-unit or per-series model, whose predictions do not
    line up with its input rows."""

    __tablename__ = "prediction_log"
    __table_args__ = (
        Index("ix_prediction_log_version_at", "model_id", "version", "at"),
        Index("ix_prediction_log_at", "at"),
    )

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column()
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    latency_ms: Mapped[float] = mapped_column(Float)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, default=None)
    output: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, default=None)
    actual: Mapped[Any] = mapped_column(_NULLABLE_JSON, nullable=True, default=None)
    actual_at: Mapped[datetime | None] = mapped_column(default=None)


class TrafficMinuteRow(Base):
    """Requests, errors and a latency histogram of one model in one minute, as counted by one
    server process (``process``); readers add the processes up."""

    __tablename__ = "traffic_minutes"
    __table_args__ = (
        UniqueConstraint("model_id", "minute", "process", name="uq_traffic_model_minute_process"),
        Index("ix_traffic_minutes_minute", "minute"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    minute: Mapped[datetime] = mapped_column()
    process: Mapped[str] = mapped_column(String(32))
    requests: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    latency: Mapped[dict[str, Any]] = mapped_column()
    """Sparse histogram: bucket index (as text) → count (see ``services.traffic``)."""


class MonitoringConfigRow(Base):
    """A model's monitoring settings; a null column means the server's default."""

    __tablename__ = "model_monitoring"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(String(36))
    psi_warning: Mapped[float | None] = mapped_column(Float, default=None)
    psi_alert: Mapped[float | None] = mapped_column(Float, default=None)
    sample_rate: Mapped[float | None] = mapped_column(Float, default=None)
    window_hours: Mapped[float | None] = mapped_column(Float, default=None)
    min_rows: Mapped[int | None] = mapped_column(Integer, default=None)
    webhook_url: Mapped[str | None] = mapped_column(Text, default=None)
    webhook_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    retrain: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DriftCheckRow(Base):
    """The result of one drift check of a model version."""

    __tablename__ = "drift_checks"
    __table_args__ = (Index("ix_drift_checks_model_at", "model_id", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    checked_at: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))
    max_psi: Mapped[float | None] = mapped_column(Float, default=None)
    trigger: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column()


class WebhookDeliveryRow(Base):
    """One webhook delivery: where, what, and how it went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_model_at", "model_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column()


class MonitoringLeaseRow(Base):
    """A lease on a periodic task (a model's scheduled drift check): the process ``holder``
    runs it until ``until``, so several server processes never run it twice at once."""

    __tablename__ = "monitoring_leases"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(32))
    until: Mapped[datetime] = mapped_column()
