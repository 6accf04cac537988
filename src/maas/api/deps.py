"""FastAPI dependencies: the caller, checked against the route's role, and the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from maas.api.limits import RateLimiter
from maas.api.permissions import needed_role
from maas.domain.principal import Principal
from maas.errors import AuthenticationError, PermissionDeniedError
from maas.jobs.runner import JobRunner
from maas.services.audit import AuditService
from maas.services.datasets import DatasetService
from maas.services.keys import KeyService
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
    "PrincipalDep",
    "RegistryDep",
    "Services",
    "ServingDep",
    "SettingsDep",
    "bearer_secret",
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

    def close(self) -> None:
        """Stop the job runner, flush the audit counts, stop the change feed and close the
        database pool."""
        self.jobs.stop()
        self.audit.close()
        self.feed.close()
        self.registry.db.dispose()


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def _principal(request: Request) -> Principal:
    services = _services(request)
    secret = bearer_secret(request)
    try:
        principal = services.keys.authenticate(secret)
    except AuthenticationError:
        # Failed attempts are limited per client address before anything else happens: this
        # slows key guessing and bounds the denied-request records in the audit trail.
        client = request.client.host if request.client else "unknown"
        services.anonymous_limiter.check("addr:" + client)
        raise
    services.limiter.check(principal.key_id)
    route = request.scope.get("route")
    needed = needed_role(getattr(route, "name", ""))  # every route has a rule: checked at start
    if needed is not None and not principal.role.allows(needed):
        request.state.denied_principal = principal
        raise PermissionDeniedError(
            f"A {principal.role.value!r} key may not do this; it needs a {needed.value!r} key "
            "or a stronger one.",
            field="authorization",
            expected=needed.value,
            received=principal.role.value,
        )
    request.state.principal = principal
    return principal


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
