"""What a model returns for a batch: the result type shared by templates and runtimes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Prediction"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model returned for a batch of ``n`` rows.

    Attributes:
        predictions: shape ``(n,)``; class labels (``str``) for a classifier, floats otherwise.
        probabilities: shape ``(n, len(classes))`` for a classifier, else ``None``.
        contributions: shape ``(n, n_inputs + 1)`` when asked to explain: each input's additive
            contribution to the raw score, the last column the expected value (bias). ``None``
            when not asked or not supported. Templates whose features are derived (rolling
            windows, lags) report contributions per input column they derived them from.
        keys: for models that answer per group rather than per row (remaining useful life per
            unit, forecasts per series and step): one mapping per prediction naming what it is
            for, e.g. ``{"unit": "7"}`` or ``{"series": "W1", "step": 3}``; ``None`` when
            predictions align with the input rows.
        quantiles: for probabilistic forecasts, quantile level (``"0.1"``) → shape ``(n,)``.
        anomalies: for anomaly scorers, shape ``(n,)``, ``bool``: whether each prediction is an
            anomaly (its score reached the model's threshold); ``None`` for other models.
        terms: for text classifiers asked to explain: per prediction, the terms of its text that
            moved its raw score most (largest absolute part first, a few of them) → their part
            of that score; a text's parts add up to its text column of ``contributions``
            (when all are listed). ``None`` when not asked or not a text model.
    """

    predictions: np.ndarray
    probabilities: np.ndarray | None = None
    contributions: np.ndarray | None = None
    keys: list[dict[str, Any]] | None = None
    quantiles: dict[str, np.ndarray] | None = None
    anomalies: np.ndarray | None = None
    terms: list[dict[str, float]] | None = None
