"""Wire models of API keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from maas.domain.roles import Role

__all__ = ["KeyCreate", "KeyCreated", "KeyRead"]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role = Role.CONSUMER
    expires_at: datetime | None = None


class KeyRead(BaseModel):
    id: str
    name: str
    role: Role
    tenant: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyRead):
    """Returned once, at creation: the only time the secret is shown."""

    key: str
