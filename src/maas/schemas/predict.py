"""Wire models of online prediction on ``/v1``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PredictRequest", "PredictResponse"]


class PredictRequest(BaseModel):
    """Rows as a list of objects (``rows``) or as columns (``columns``), exactly one of them."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] | None = None
    columns: dict[str, list[Any]] | None = None
    explain: bool = Field(default=False, description="Add per-feature contributions")


class PredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[Any]
    classes: list[str] | None = None
    probabilities: list[list[float]] | None = None
    contributions: list[dict[str, float]] | None = None
    """Per prediction: each input's contribution to the raw score, plus ``_bias``."""
    keys: list[dict[str, Any]] | None = None
    """For per-unit or per-series models: what each prediction is for."""
    quantiles: dict[str, list[float]] | None = None
    """For probabilistic forecasts: quantile level → one value per prediction."""
