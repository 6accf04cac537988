"""Monitoring: the prediction log, traffic per minute, per-model monitoring settings, drift
checks, webhook deliveries and the leases of scheduled checks.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON(none_as_null=True)


def _model_id() -> sa.Column:
    return sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "prediction_log",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        _model_id(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("inputs", _JSON, nullable=True),
        sa.Column("output", _JSON, nullable=True),
        sa.Column("actual", _JSON, nullable=True),
        sa.Column("actual_at", _TS, nullable=True),
    )
    op.create_index("ix_prediction_log_version_at", "prediction_log", ["model_id", "version", "at"])
    op.create_index("ix_prediction_log_at", "prediction_log", ["at"])
    op.create_table(
        "traffic_minutes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_id(),
        sa.Column("minute", _TS, nullable=False),
        sa.Column("process", sa.String(32), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("latency", sa.JSON, nullable=False),
        sa.UniqueConstraint(
            "model_id", "minute", "process", name="uq_traffic_model_minute_process"
        ),
    )
    op.create_index("ix_traffic_minutes_minute", "traffic_minutes", ["minute"])
    op.create_table(
        "model_monitoring",
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("models.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("psi_warning", sa.Float, nullable=True),
        sa.Column("psi_alert", sa.Float, nullable=True),
        sa.Column("sample_rate", sa.Float, nullable=True),
        sa.Column("window_hours", sa.Float, nullable=True),
        sa.Column("min_rows", sa.Integer, nullable=True),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("webhook_secret", sa.String(100), nullable=True),
        sa.Column("retrain", _JSON, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "drift_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_id(),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("checked_at", _TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("max_psi", sa.Float, nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
    )
    op.create_index("ix_drift_checks_model_at", "drift_checks", ["model_id", "checked_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        _model_id(),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_model_at", "webhook_deliveries", ["model_id", "at"])
    op.create_table(
        "monitoring_leases",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(32), nullable=False),
        sa.Column("until", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitoring_leases")
    op.drop_index("ix_webhook_deliveries_model_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_drift_checks_model_at", table_name="drift_checks")
    op.drop_table("drift_checks")
    op.drop_table("model_monitoring")
    op.drop_index("ix_traffic_minutes_minute", table_name="traffic_minutes")
    op.drop_table("traffic_minutes")
    op.drop_index("ix_prediction_log_at", table_name="prediction_log")
    op.drop_index("ix_prediction_log_version_at", table_name="prediction_log")
    op.drop_table("prediction_log")
