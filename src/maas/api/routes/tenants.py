"""Tenant management under ``/v1/tenants`` (admins of the default tenant only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from maas.api.deps import KeysDep, PrincipalDep
from maas.schemas.tenants import TenantCreate, TenantCreated, TenantRead

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.get("", response_model=list[TenantRead])
def list_tenants(principal: PrincipalDep, keys: KeysDep) -> list[TenantRead]:
    """Every tenant of the installation."""
    return keys.list_tenants(principal)


@router.post("", response_model=TenantCreated, status_code=status.HTTP_201_CREATED)
def create_tenant(body: TenantCreate, principal: PrincipalDep, keys: KeysDep) -> TenantCreated:
    """Create a tenant (a plant or a company) with its first admin key, shown only here."""
    return keys.onboard_tenant(principal, body.name)
