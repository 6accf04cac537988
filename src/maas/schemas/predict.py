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
    anomalies: list[bool] | None = None
    """For anomaly models: whether each prediction is an anomaly, i.e. its score is at least 1
    (the score is the squared distance from normal divided by the threshold that flags the
    training's ``contamination`` share; the version's ``threshold`` metric holds that cut-off)."""
    terms: list[dict[str, float]] | None = None
    """For text models with ``explain``: per prediction, up to 10 terms of its text that moved
    the score most (largest absolute part first) → their part of it. The score is the one
    ``contributions`` splits: the log-odds of the second class for two classes, else the
    predicted class's logit; positive parts push towards that class."""
    prediction_ids: list[str | None] | None = None
    """Per prediction: its id in the prediction log, to send its actual outcome to
    ``POST /v1/feedback`` later (``null`` where it was not logged; absent when nothing of the
    request was logged)."""
