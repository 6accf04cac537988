"""Metrics of predictions against the outcomes sent back later (ground truth): pure numerics.

Classifiers: ``accuracy``, and for two classes ``precision``, ``recall`` and ``f1`` of the
positive class (the second of the signature's classes, e.g. ``"1"`` of ``["0", "1"]``).
Numbers (regression, remaining useful life, forecasts): ``rmse``, ``mae`` and ``bias`` (mean of
prediction − actual). Probabilistic forecasts add ``coverage`` (per quantile level, the share
of actuals at or below the predicted quantile; a calibrated level ``q`` covers about ``q``)
and ``interval_coverage`` (the share inside the lowest..highest quantile).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["classification_metrics", "regression_metrics"]


def _r(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def classification_metrics(
    predicted: Sequence[str], actual: Sequence[str], classes: Sequence[str] | None
) -> dict[str, Any]:
    """Accuracy (and precision, recall and F1 of the positive class for two classes)."""
    p = np.asarray([str(v) for v in predicted], dtype=object)
    a = np.asarray([str(v) for v in actual], dtype=object)
    n = int(p.size)
    out: dict[str, Any] = {"count": n}
    if n == 0:
        return out
    out["accuracy"] = _r(float(np.mean(p == a)))
    if classes is not None and len(classes) == 2:
        positive = str(classes[1])
        tp = int(np.sum((p == positive) & (a == positive)))
        fp = int(np.sum((p == positive) & (a != positive)))
        fn = int(np.sum((p != positive) & (a == positive)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.update(positive_class=positive, precision=_r(precision), recall=_r(recall), f1=_r(f1))
    return out


def regression_metrics(
    predicted: Sequence[float],
    actual: Sequence[float],
    quantiles: Mapping[str, Sequence[float | None]] | None = None,
) -> dict[str, Any]:
    """RMSE, MAE and bias; with quantiles, the coverage of each level and of the interval."""
    p = np.asarray(predicted, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    n = int(p.size)
    out: dict[str, Any] = {"count": n}
    if n == 0:
        return out
    err = p - a
    out.update(
        rmse=_r(float(np.sqrt(np.mean(err**2)))),
        mae=_r(float(np.mean(np.abs(err)))),
        bias=_r(float(np.mean(err))),
    )
    if quantiles:
        coverage: dict[str, float | None] = {}
        levels = sorted(quantiles, key=float)
        for level in levels:
            q = np.asarray(
                [math.nan if v is None else v for v in quantiles[level]], dtype=np.float64
            )
            known = np.isfinite(q)
            coverage[level] = _r(float(np.mean(a[known] <= q[known]))) if known.any() else None
        out["coverage"] = coverage
        if len(levels) >= 2:
            lo = np.asarray(
                [math.nan if v is None else v for v in quantiles[levels[0]]], dtype=np.float64
            )
            hi = np.asarray(
                [math.nan if v is None else v for v in quantiles[levels[-1]]], dtype=np.float64
            )
            known = np.isfinite(lo) & np.isfinite(hi)
            if known.any():
                inside = (a[known] >= lo[known]) & (a[known] <= hi[known])
                out["interval_coverage"] = _r(float(np.mean(inside)))
                out["interval"] = [levels[0], levels[-1]]
    return out
