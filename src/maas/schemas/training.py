"""Wire models of training requests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetrainRequest", "TrainRequest"]


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


class RetrainRequest(BaseModel):
    """Train a challenger on newer data with the champion's template and parameters, compare
    the two on the same held-out data, and promote the challenger only if it is better."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(
        description="The held-out metric that decides (e.g. f1, roc_auc, rmse, mase); its "
        "better direction is known"
    )
    alias: str = Field(
        default="production", description="The champion's alias, moved on a promotion"
    )
    dataset: str | None = Field(
        default=None, description="Default: the dataset the champion was trained on"
    )
    dataset_version: int | None = Field(default=None, ge=1, description="Default: the newest")
    min_improvement: float = Field(
        default=0.0,
        ge=0.0,
        description="Promote only when the challenger is better by more than this (in the "
        "metric's units)",
    )
    holdout_fraction: float = Field(
        default=0.2,
        ge=0.05,
        le=0.5,
        description="Share held out when the rows added since the champion cannot be held out "
        "alone",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the held-out split")
    stability_runs: int = Field(
        default=1, ge=1, le=10, description="Fits with different seeds for mean ± std"
    )
    description: str = Field(default="", max_length=4000)
