"""Wire models of training requests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TrainRequest"]


class TrainRequest(BaseModel):
    """Train the next version of a model from a template on a dataset version."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(description="A template name from GET /v1/info")
    dataset: str
    dataset_version: int | None = Field(default=None, ge=1, description="Default: the newest")
    target: str | None = Field(
        default=None, description="Column to predict (templates that need none ignore it)"
    )
    features: list[str] | None = Field(default=None, description="Default: every other column")
    params: dict[str, Any] = Field(default_factory=dict, description="Template parameters")
    stability_runs: int = Field(
        default=3, ge=1, le=10, description="Fits with different seeds for mean ± std"
    )
    alias: str | None = Field(
        default=None, description="Point this alias (e.g. staging) at the new version"
    )
    description: str = Field(default="", max_length=4000)
