"""FastAPI dependencies: the caller, checked against the route's role, and the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from maas.api.limits import RateLimiter
from maas.api.permissions import needed_role
from maas.domain.principal import Principal
from maas.errors import AuthenticationError, PermissionDeniedError
from maas.jobs.runner import JobRunner
from maas.services.audit import AuditService
from maas.services.datasets import DatasetService
from maas.services.keys import KeyService
from maas.services.monitoring import MonitoringService
from maas.services.registry import RegistryService
from maas.services.serving import ServingService
from maas.services.training import TrainingService
from maas.settings import Settings
from maas.store.changes import ChangeFeed

__all__ = [
    "AuditDep",
    "DatasetsDep",
    "TrainingDep",
    "KeysDep",
    "MonitoringDep",
    "PrincipalDep",
    "RegistryDep",
    "Services",
    "ServingDep",
    "SettingsDep",
    "authorize",
    "bearer_secret",
    "secret_of",
]


@dataclass
class Services:
    settings: Settings
    keys: KeyService
    registry: RegistryService
    serving: ServingService
    limiter: RateLimiter
    anonymous_limiter: RateLimiter
    feed: ChangeFeed
    audit: AuditService
    datasets: DatasetService
    training: TrainingService
    jobs: JobRunner
    monitoring: MonitoringService

    def close(self) -> None:
        """Stop the job runner, write the prediction log and the audit counts, stop the
        change feed and close the database pool."""
        self.jobs.stop()
        self.monitoring.close()
        self.audit.close()
        self.feed.close()
        self.registry.db.dispose()


def bearer_secret(request: Request) -> str | None:
    return secret_of(request.headers.get("authorization"))


def secret_of(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header value, if that is what it is."""
    if not authorization:
        return None
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def authorize(
    services: Services,
    secret: str | None,
    *,
    client: str,
    route_name: str,
    state: dict[str, Any],
) -> Principal:
    """Who the caller is, checked against ``route_name``'s role: the one check behind every
    route (the FastAPI dependency and the lean prediction endpoint both call it). Puts the
    principal in the request ``state`` (``denied_principal`` when its role is too weak), where
    the denial records of the audit trail find it.

    Raises:
        AuthenticationError, RateLimitedError, PermissionDeniedError.
    """
    try:
        principal = services.keys.authenticate(secret)
    except AuthenticationError:
        # Failed attempts are limited per client address before anything else happens: this
        # slows key guessing and bounds the denied-request records in the audit trail.
        services.anonymous_limiter.check("addr:" + client)
        raise
    services.limiter.check(principal.key_id)
    needed = needed_role(route_name)  # every route has a rule: checked at start
    if needed is not None and not principal.role.allows(needed):
        state["denied_principal"] = principal
        raise PermissionDeniedError(
            f"A {principal.role.value!r} key may not do this; it needs a {needed.value!r} key "
            "or a stronger one.",
            field="authorization",
            expected=needed.value,
            received=principal.role.value,
        )
    state["principal"] = principal
    return principal


async def _principal(request: Request) -> Principal:
    route = request.scope.get("route")
    return authorize(
        _services(request),
        bearer_secret(request),
        client=request.client.host if request.client else "unknown",
        route_name=getattr(route, "name", ""),
        state=request.scope.setdefault("state", {}),
    )


async def _settings(request: Request) -> Settings:
    return _services(request).settings


async def _registry(request: Request) -> RegistryService:
    return _services(request).registry


async def _serving(request: Request) -> ServingService:
    return _services(request).serving


async def _keys(request: Request) -> KeyService:
    return _services(request).keys


async def _audit(request: Request) -> AuditService:
    return _services(request).audit


async def _datasets(request: Request) -> DatasetService:
    return _services(request).datasets


PrincipalDep = Annotated[Principal, Depends(_principal)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[RegistryService, Depends(_registry)]
ServingDep = Annotated[ServingService, Depends(_serving)]
KeysDep = Annotated[KeyService, Depends(_keys)]
AuditDep = Annotated[AuditService, Depends(_audit)]
DatasetsDep = Annotated[DatasetService, Depends(_datasets)]


async def _training(request: Request) -> TrainingService:
    return _services(request).training


TrainingDep = Annotated[TrainingService, Depends(_training)]


async def _monitoring(request: Request) -> MonitoringService:
    return _services(request).monitoring


MonitoringDep = Annotated[MonitoringService, Depends(_monitoring)]
