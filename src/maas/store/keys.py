"""Repository of tenants and API keys (keys are stored as SHA-256 hashes only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from maas.domain.roles import Role
from maas.errors import AlreadyExistsError, KeyNotFoundError, TenantNotFoundError
from maas.schemas.keys import KeyRead
from maas.schemas.tenants import TenantRead
from maas.store.tables import ApiKeyRow, TenantRow, utcnow

__all__ = ["KeyRecord", "KeyRepository", "TenantRecord"]


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What authentication needs to know about a key."""

    id: str
    name: str
    role: Role
    tenant_id: str
    tenant_name: str
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # tenants ----------------------------------------------------------------------------

    def get_tenant(self, name: str) -> TenantRecord:
        row = self.session.scalars(select(TenantRow).where(TenantRow.name == name)).one_or_none()
        if row is None:
            raise TenantNotFoundError(f"Tenant {name!r} not found.", field="tenant", received=name)
        return TenantRecord(row.id, row.name)

    def create_tenant(self, name: str) -> TenantRecord:
        if self.session.scalar(select(TenantRow.id).where(TenantRow.name == name)) is not None:
            raise AlreadyExistsError(f"Tenant {name!r} already exists.", field="name")
        row = TenantRow(id=str(uuid.uuid4()), name=name, created_at=utcnow())
        self.session.add(row)
        self.session.flush()
        return TenantRecord(row.id, row.name)

    def list_tenants(self) -> list[TenantRead]:
        rows = self.session.scalars(select(TenantRow).order_by(TenantRow.name)).all()
        return [TenantRead(name=r.name, created_at=r.created_at) for r in rows]

    # keys -------------------------------------------------------------------------------

    def add_key(
        self,
        *,
        tenant: TenantRecord,
        name: str,
        role: Role,
        prefix: str,
        secret_hash: str,
        expires_at: datetime | None,
    ) -> KeyRead:
        row = ApiKeyRow(
            id=str(uuid.uuid4()),
            tenant_id=tenant.id,
            name=name,
            role=role.value,
            prefix=prefix,
            secret_hash=secret_hash,
            created_at=utcnow(),
            expires_at=expires_at,
        )
        self.session.add(row)
        self.session.flush()
        return self._read(row, tenant.name)

    def find_by_hash(self, secret_hash: str) -> KeyRecord | None:
        found = self.session.execute(
            select(ApiKeyRow, TenantRow.name)
            .join(TenantRow, TenantRow.id == ApiKeyRow.tenant_id)
            .where(ApiKeyRow.secret_hash == secret_hash)
        ).one_or_none()
        if found is None:
            return None
        row, tenant_name = found
        return KeyRecord(
            id=row.id,
            name=row.name,
            role=Role(row.role),
            tenant_id=row.tenant_id,
            tenant_name=tenant_name,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )

    def count_admin_keys(self) -> int:
        return len(
            self.session.scalars(
                select(ApiKeyRow.id).where(
                    ApiKeyRow.role == Role.ADMIN.value, ApiKeyRow.revoked_at.is_(None)
                )
            ).all()
        )

    def list_keys(self, tenant: TenantRecord) -> list[KeyRead]:
        rows = self.session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.tenant_id == tenant.id).order_by(ApiKeyRow.created_at)
        ).all()
        return [self._read(r, tenant.name) for r in rows]

    def revoke(self, tenant: TenantRecord, key_id: str) -> KeyRead:
        row = self.session.get(ApiKeyRow, key_id)
        if row is None or row.tenant_id != tenant.id:
            raise KeyNotFoundError(f"API key {key_id!r} not found.", field="id", received=key_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            self.session.flush()
        return self._read(row, tenant.name)

    def touch(self, key_id: str, when: datetime) -> None:
        row = self.session.get(ApiKeyRow, key_id)
        if row is not None:
            row.last_used_at = when

    @staticmethod
    def _read(row: ApiKeyRow, tenant_name: str) -> KeyRead:
        return KeyRead(
            id=row.id,
            name=row.name,
            role=Role(row.role),
            tenant=tenant_name,
            prefix=row.prefix,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )
