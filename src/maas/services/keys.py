"""API keys and tenants: create, list, revoke, and check the key of every request."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime

from maas.domain.names import check_name
from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.errors import (
    AuthenticationError,
    InvalidParameterError,
    PermissionDeniedError,
    TenantNotFoundError,
)
from maas.schemas.keys import KeyCreated, KeyRead
from maas.schemas.tenants import TenantCreated, TenantRead
from maas.services.audit import AuditService
from maas.services.recording import record_change
from maas.store.changes import ChangeFeed, LocalChangeFeed
from maas.store.db import Database
from maas.store.keys import KeyRecord, KeyRepository, TenantRecord

__all__ = ["DEFAULT_TENANT", "KEY_PREFIX", "KeyService", "hash_secret"]

DEFAULT_TENANT = "default"
KEY_PREFIX = "maas_"


def hash_secret(secret: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough: there is nothing to
    # brute-force, unlike a password.
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyService:
    """Issues and checks API keys.

    Checked keys are cached for ``cache_seconds`` so a prediction costs no database query.
    Revoking a key publishes on the installation's change feed, which every process checks
    before trusting its cache: the key stops working everywhere at once.
    """

    def __init__(
        self,
        db: Database,
        *,
        cache_seconds: float = 2.0,
        feed: ChangeFeed | None = None,
        audit: AuditService | None = None,
    ) -> None:
        self.audit = audit
        self.db = db
        self.cache_seconds = cache_seconds
        self.feed: ChangeFeed = feed or LocalChangeFeed()
        self._generation = self.feed.generation()
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()
        self._touched: dict[str, float] = {}

    def ensure_bootstrap(self, admin_key: str | None) -> str | None:
        """Create the default tenant and a first admin key if none exists.

        Returns:
            The new admin key's secret when one was created now (to show once), else None.
        """
        with self.db.writer() as session, session.begin():
            repo = KeyRepository(session)
            try:
                tenant = repo.get_tenant(DEFAULT_TENANT)
            except TenantNotFoundError:
                tenant = repo.create_tenant(DEFAULT_TENANT)
            if repo.count_admin_keys() > 0:
                return None
            secret = admin_key or self._new_secret()
            read = repo.add_key(
                tenant=tenant,
                name="admin",
                role=Role.ADMIN,
                prefix=secret[: len(KEY_PREFIX) + 4],
                secret_hash=hash_secret(secret),
                expires_at=None,
            )
            bootstrap = Principal("bootstrap", "first start", Role.ADMIN, tenant.id, tenant.name)
            record_change(
                session,
                bootstrap,
                "key.create",
                f"key:{read.id}",
                {"name": "admin", "role": "admin"},
            )
            return secret

    def default_tenant(self) -> TenantRecord:
        with self.db.session() as session:
            return KeyRepository(session).get_tenant(DEFAULT_TENANT)

    def tenant_records(self) -> list[TenantRecord]:
        """Every tenant with its id, the default one first (for system work such as warming
        the model cache; callers answering a request use ``list_tenants``)."""
        with self.db.session() as session:
            repo = KeyRepository(session)
            records = [repo.get_tenant(t.name) for t in repo.list_tenants()]
        return sorted(records, key=lambda t: t.name != DEFAULT_TENANT)

    @staticmethod
    def _new_secret() -> str:
        return KEY_PREFIX + secrets.token_urlsafe(32)

    def authenticate(self, secret: str | None) -> Principal:
        """Check a bearer secret and return who it stands for.

        Raises:
            AuthenticationError: no key, an unknown key, a revoked or an expired one.
        """
        if not secret:
            raise AuthenticationError(
                "This route needs an API key: send 'Authorization: Bearer <key>'."
            )
        digest = hash_secret(secret)
        now = time.monotonic()
        generation = self.feed.generation()
        with self._lock:
            if generation != self._generation:  # a key changed somewhere: trust nothing cached
                self._cache.clear()
                self._generation = generation
            cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.cache_seconds:
            record = cached[1]
        else:
            with self.db.session() as session:
                record = KeyRepository(session).find_by_hash(digest)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (now, record)
        if record is None:
            raise AuthenticationError("The API key is not valid.")
        if record.revoked_at is not None:
            raise AuthenticationError("The API key has been revoked.")
        if record.expires_at is not None and record.expires_at.replace(
            tzinfo=record.expires_at.tzinfo or UTC
        ) <= datetime.now(UTC):
            raise AuthenticationError("The API key has expired.")
        self._touch(record.id, now)
        return Principal(
            key_id=record.id,
            key_name=record.name,
            role=record.role,
            tenant_id=record.tenant_id,
            tenant_name=record.tenant_name,
        )

    def _touch(self, key_id: str, now: float) -> None:
        # last_used_at is kept to the minute: one write a minute per key, not one a request.
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and now - last < 60:
                return
            self._touched[key_id] = now
        with self.db.writer() as session, session.begin():
            KeyRepository(session).touch(key_id, datetime.now(UTC))

    def create_key(
        self,
        principal: Principal,
        *,
        name: str,
        role: Role,
        expires_at: datetime | None = None,
    ) -> KeyCreated:
        """Create a key in the caller's tenant; the secret is returned only here.

        Raises:
            InvalidParameterError: the expiry is in the past.
        """
        if expires_at is not None:
            aware = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
            if aware <= datetime.now(UTC):
                raise InvalidParameterError(
                    "expires_at must be in the future.",
                    field="expires_at",
                    expected="a future time",
                    received=expires_at.isoformat(),
                )
            expires_at = aware
        secret = self._new_secret()
        with self.db.writer() as session, session.begin():
            repo = KeyRepository(session)
            tenant = TenantRecord(principal.tenant_id, principal.tenant_name)
            read = repo.add_key(
                tenant=tenant,
                name=name,
                role=role,
                prefix=secret[: len(KEY_PREFIX) + 4],
                secret_hash=hash_secret(secret),
                expires_at=expires_at,
            )
            record_change(
                session,
                principal,
                "key.create",
                f"key:{read.id}",
                {
                    "name": name,
                    "role": role.value,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
        return KeyCreated(**read.model_dump(), key=secret)

    def list_keys(self, principal: Principal) -> list[KeyRead]:
        with self.db.session() as session:
            tenant = TenantRecord(principal.tenant_id, principal.tenant_name)
            return KeyRepository(session).list_keys(tenant)

    def revoke_key(self, principal: Principal, key_id: str) -> KeyRead:
        """Revoke a key of the caller's tenant; it stops working in this process at once.

        Raises:
            KeyNotFoundError: no such key in the caller's tenant.
        """
        with self.db.writer() as session, session.begin():
            tenant = TenantRecord(principal.tenant_id, principal.tenant_name)
            read = KeyRepository(session).revoke(tenant, key_id)
            record_change(session, principal, "key.revoke", f"key:{key_id}", {"name": read.name})
        with self._lock:
            self._cache.clear()
        self.feed.publish()
        return read

    @staticmethod
    def _require_platform_admin(principal: Principal) -> None:
        if principal.role is not Role.ADMIN or principal.tenant_name != DEFAULT_TENANT:
            raise PermissionDeniedError(
                "Only admins of the installation's first tenant "
                f"({DEFAULT_TENANT!r}) manage tenants.",
                field="authorization",
                expected=f"an admin key of tenant {DEFAULT_TENANT!r}",
                received=f"a {principal.role.value} key of tenant {principal.tenant_name!r}",
            )

    def onboard_tenant(self, principal: Principal, name: str) -> TenantCreated:
        """Create a tenant and its first admin key (shown once).

        Raises:
            PermissionDeniedError: the caller is not an admin of the default tenant.
            InvalidNameError, AlreadyExistsError.
        """
        self._require_platform_admin(principal)
        check_name(name, field="name")
        with self.db.writer() as session, session.begin():
            tenant = KeyRepository(session).create_tenant(name)
            record_change(session, principal, "tenant.create", f"tenant:{name}")
        admin = Principal(principal.key_id, principal.key_name, Role.ADMIN, tenant.id, tenant.name)
        created = self.create_key(admin, name="admin", role=Role.ADMIN)
        return TenantCreated(name=tenant.name, created_at=created.created_at, admin_key=created.key)

    def list_tenants(self, principal: Principal) -> list[TenantRead]:
        """Raises: PermissionDeniedError unless the caller is an admin of the default tenant."""
        self._require_platform_admin(principal)
        with self.db.session() as session:
            return KeyRepository(session).list_tenants()
