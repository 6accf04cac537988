"""FastAPI dependencies: the caller, checked against the route's role, and the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from maas.api.limits import RateLimiter
from maas.api.permissions import needed_role
from maas.domain.principal import Principal
from maas.errors import PermissionDeniedError
from maas.services.keys import KeyService
from maas.services.registry import RegistryService
from maas.services.serving import ServingService
from maas.settings import Settings
from maas.store.changes import ChangeFeed

__all__ = [
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
    feed: ChangeFeed

    def close(self) -> None:
        """Stop the change feed's listener and close the database pool."""
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
    principal = services.keys.authenticate(bearer_secret(request))
    services.limiter.check(principal.key_id)
    route = request.scope.get("route")
    needed = needed_role(getattr(route, "name", ""))  # every route has a rule: checked at start
    if needed is not None and not principal.role.allows(needed):
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


PrincipalDep = Annotated[Principal, Depends(_principal)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[RegistryService, Depends(_registry)]
ServingDep = Annotated[ServingService, Depends(_serving)]
KeysDep = Annotated[KeyService, Depends(_keys)]
