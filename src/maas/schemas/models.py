"""Wire models of the registry: models, versions, aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from maas.domain.signature import Signature

__all__ = [
    "AliasEventRead",
    "AliasRead",
    "AliasUpdate",
    "ModelCreate",
    "ModelPage",
    "ModelRead",
    "ModelServing",
    "ModelUpdate",
    "VersionPage",
    "VersionRead",
    "VersionUpdate",
]


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique per tenant: lower-case letters, digits, . _ -")
    description: str = Field(default="", max_length=4000)
    tags: dict[str, str] = Field(default_factory=dict)


class ModelServing(BaseModel):
    """How the server runs a model's predictions; a member left out takes the server's
    default (``MAAS_BATCH_MAX_SIZE``, ``MAAS_BATCH_MAX_WAIT_US``)."""

    model_config = ConfigDict(extra="forbid")

    batch_max_size: int | None = Field(default=None, ge=0, le=100_000)
    """Most rows of concurrent requests predicted in one call (0 or 1: no batching)."""
    batch_max_wait_us: int | None = Field(default=None, ge=0, le=1_000_000)
    """Longest a request waits for others to join its batch, in microseconds (0: no
    batching). A request with nobody else on the way does not wait."""


class ModelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=4000)
    tags: dict[str, str] | None = None
    serving: ModelServing | None = None
    """Replaces the model's serving settings (send ``{}`` to return to the defaults)."""


class ModelRead(BaseModel):
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    latest_version: int | None
    serving: ModelServing = Field(default_factory=ModelServing)
    """The model's own serving settings (members not set take the server's defaults)."""
    created_at: datetime
    updated_at: datetime


class ModelPage(BaseModel):
    items: list[ModelRead]
    total: int
    offset: int
    limit: int


class VersionRead(BaseModel):
    model: str
    version: int
    format: str
    artifact_uri: str
    sha256: str
    size: int
    signature: Signature
    params: dict[str, Any]
    metrics: dict[str, Any]
    template: str | None
    source_dataset: str | None
    report: dict[str, Any] | None = None
    """The evaluation report of a trained version: held-out metrics, the naive baseline,
    stability across seeds, feature importance, and the training data's profile."""
    description: str
    tags: dict[str, str]
    aliases: list[str]
    created_by: str
    created_at: datetime


class VersionUpdate(BaseModel):
    """Only the description and tags of a version can change; everything else is immutable."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=4000)
    tags: dict[str, str] | None = None


class VersionPage(BaseModel):
    items: list[VersionRead]
    total: int


class AliasUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)


class AliasRead(BaseModel):
    model: str
    alias: str
    version: int
    previous_version: int | None
    updated_at: datetime


class AliasEventRead(BaseModel):
    """One move of an alias, for its history and rollback."""

    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: datetime
