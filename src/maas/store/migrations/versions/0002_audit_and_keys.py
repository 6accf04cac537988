"""Audit log (hash chain and its head) and the tenants' wrapped data keys.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_GENESIS_HASH = "0" * 64  # frozen copy of domain.audit_chain.GENESIS_HASH


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_tenant_seq", "audit_log", ["tenant_id", "seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    # The head exists from the start, so appends only ever lock and update it.
    op.execute(
        head.insert().values(
            id=1, seq=0, hash=_GENESIS_HASH, updated_at=sa.func.current_timestamp()
        )
    )
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.String(36), primary_key=True),
        sa.Column("key_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("master_key_id", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("rotated_at", _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tenant_keys")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_tenant_seq", table_name="audit_log")
    op.drop_table("audit_log")
