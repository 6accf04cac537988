"""Wire models of tenants (plants or companies sharing one installation)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TenantCreate", "TenantCreated", "TenantRead"]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique: lower-case letters, digits, . _ -")


class TenantRead(BaseModel):
    name: str
    created_at: datetime


class TenantCreated(TenantRead):
    """Returned once, at creation, with the new tenant's first admin key."""

    admin_key: str
