"""Scores of the demand forecast's rolling-origin backtest, beside a seasonal-naive baseline.

The functions here are pure numpy and also serve other evaluations (the M4 benchmark):
``smape``, ``mase_scale``, ``weighted_quantile_loss``, ``seasonal_naive``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from maas.ml.plots import forecast_plot
from maas.ml.templates.forecast_features import FeatureLayout, ForecastSeries

__all__ = [
    "MIN_CALIBRATION",
    "backtest_metrics",
    "backtest_plot",
    "interval_stretch",
    "mase_scale",
    "seasonal_naive",
    "smape",
    "stretch_quantiles",
    "weighted_quantile_loss",
]

MIN_CALIBRATION = 20
"""Fewer out-of-sample forecasts than this leave a quantile level as the model made it."""
_PLOT_HORIZONS = 3
"""Horizons of history shown before the origin in the backtest's ``forecast`` plot."""


class _Forecasts(Protocol):
    layout: FeatureLayout

    def forecast_at(
        self,
        series: Sequence[ForecastSeries],
        origins: Sequence[int],
        *,
        explain: bool = False,
        calibrated: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]: ...


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean symmetric absolute percentage error, in percent (0 where both values are 0)."""
    total = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2.0 * np.abs(actual - forecast), total, out=np.zeros_like(total), where=total > 0
    )
    return float(100.0 * ratio.mean())


def mase_scale(history: np.ndarray, season: int) -> float:
    """Mean absolute seasonal difference of ``history``: MASE's (and MSIS's) denominator.

    Falls back to lag 1 when the history is not longer than ``season``; 0 for a flat history.
    """
    m = season if len(history) > season else 1
    if len(history) <= m:
        return 0.0
    return float(np.mean(np.abs(history[m:] - history[:-m])))


def weighted_quantile_loss(
    actual: np.ndarray, quantiles: np.ndarray, levels: Sequence[float]
) -> float:
    """Mean over ``levels`` of twice the summed pinball loss over the summed ``|actual|``.

    ``quantiles`` has one column per level; the median's term is the weighted absolute error.
    """
    denominator = float(np.abs(actual).sum()) or 1.0
    losses = []
    for j, q in enumerate(levels):
        diff = actual - quantiles[:, j]
        losses.append(2.0 * float(np.maximum(q * diff, (q - 1.0) * diff).sum()) / denominator)
    return float(np.mean(losses))


def seasonal_naive(
    history: np.ndarray, horizon: int, season: int, levels: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal-naive forecasts of ``history`` and quantiles from its own past errors.

    Step ``k`` repeats the value ``season * ceil(k / season)`` steps before its target (the last
    value when the history is shorter); its quantiles add the empirical quantiles of the
    same-lag changes in ``history`` (none when the history is not longer than the lag).

    Returns:
        the point forecasts, shape ``(horizon,)``, and the quantiles, ``(horizon, len(levels))``.
    """
    n = len(history)
    point = np.empty(horizon)
    bands = np.empty((horizon, len(levels)))
    offsets: dict[int, np.ndarray] = {}
    for k in range(1, horizon + 1):
        lag = season * math.ceil(k / season)
        source = n - 1 + k - lag
        if source >= 0:
            point[k - 1] = history[source]
        else:  # too short for a season: the naive forecast, with k-step changes
            point[k - 1] = history[-1]
            lag = k
        if lag not in offsets:
            changes = history[lag:] - history[:-lag] if lag < n else np.zeros(1)
            offsets[lag] = np.quantile(changes, levels)
        bands[k - 1] = point[k - 1] + offsets[lag]
    return point, bands


def interval_stretch(
    actual: np.ndarray, median: np.ndarray, quantiles: np.ndarray, levels: Sequence[float]
) -> tuple[float, ...]:
    """Per level, the factor on its distance from the median that makes it calibrated.

    Level ``q``'s forecast ``p`` becomes ``median + s * (p - median)`` with ``s`` chosen so that
    a share ``q`` of ``actual`` falls below it (conformal calibration of out-of-sample
    forecasts). ``s`` stays 1 for the median, or with fewer than ``MIN_CALIBRATION`` usable
    rows, and is clipped to 0.2 .. 20.
    """
    stretch = []
    for j, q in enumerate(levels):
        width = quantiles[:, j] - median
        usable = np.abs(width) > 1e-12 * np.maximum(np.abs(median), 1.0)
        if q == 0.5 or usable.sum() < MIN_CALIBRATION:
            stretch.append(1.0)
            continue
        # y falls beyond the stretched level exactly when z exceeds the factor.
        z = (actual[usable] - median[usable]) / width[usable]
        factor = float(np.quantile(z, max(q, 1.0 - q)))
        stretch.append(min(max(factor, 0.2), 20.0))
    return tuple(stretch)


def stretch_quantiles(
    median: np.ndarray, quantiles: np.ndarray, stretch: Sequence[float]
) -> np.ndarray:
    """Apply ``interval_stretch``'s factors, keeping each row's levels in order."""
    stretched = median[:, None] + np.asarray(stretch)[None, :] * (quantiles - median[:, None])
    return np.sort(stretched, axis=1)


def backtest_metrics(
    model: _Forecasts, series: Sequence[ForecastSeries], *, folds: int
) -> tuple[dict[str, float], tuple[float, ...], dict[str, Any]]:
    """Score ``model`` and seasonal naive from ``folds`` origins at the end of each series.

    The origins are ``horizon`` steps apart, the last one ``horizon`` steps before the end;
    ``model`` must not have seen the values after the first origin. The quantiles are
    calibrated (``interval_stretch``) by cross-fitting: the forecasts of each fold (of each
    half of the series, with one fold) are stretched by factors learnt on the others, so the
    scores stay out-of-sample.

    Returns:
        the metrics, the stretch learnt on every backtest forecast (for the final model), and
        the ``forecast`` plot of one of those forecasts (``backtest_plot``).
    """
    layout = model.layout
    h, m, levels = layout.horizon, layout.season_length, list(layout.quantiles)
    chosen = [(s, len(s.values) - (folds - f) * h - 1) for s in series for f in range(folds)]
    median, raw, _ = model.forecast_at(
        [s for s, _ in chosen], [t for _, t in chosen], calibrated=False
    )
    actual = np.concatenate([s.values[t + 1 : t + 1 + h] for s, t in chosen])
    fold = np.repeat(np.arange(len(chosen)) % folds, h)
    group = fold if folds > 1 else np.repeat(np.arange(len(chosen)) % 2, h)
    bands = raw.copy()
    if len(np.unique(group)) > 1:
        for g in np.unique(group):
            rest = group != g
            factors = interval_stretch(actual[rest], median[rest], raw[rest], levels)
            bands[~rest] = stretch_quantiles(median[~rest], raw[~rest], factors)
    naive_parts = [seasonal_naive(s.values[: t + 1], h, m, levels) for s, t in chosen]
    naive = np.concatenate([p for p, _ in naive_parts])
    naive_bands = np.concatenate([b for _, b in naive_parts])
    scales = np.repeat([mase_scale(s.values[: t + 1], m) for s, t in chosen], h)
    scored = scales > 0
    metrics: dict[str, float] = {"n_backtest_forecasts": float(len(chosen))}
    for prefix, point, quantiles in (("", median, bands), ("baseline_", naive, naive_bands)):
        errors = np.abs(actual - point)
        if scored.any():
            metrics[f"{prefix}mase"] = float(np.mean(errors[scored] / scales[scored]))
        metrics[f"{prefix}smape"] = smape(actual, point)
        metrics[f"{prefix}wql"] = weighted_quantile_loss(actual, quantiles, levels)
        if len(levels) >= 2:
            inside = (actual >= quantiles[:, 0]) & (actual <= quantiles[:, -1])
            metrics[f"{prefix}coverage"] = float(inside.mean())
    if len(levels) >= 2:
        metrics["coverage_nominal"] = float(levels[-1] - levels[0])
    example = backtest_plot(layout, chosen, actual, median, bands)
    return metrics, interval_stretch(actual, median, raw, levels), example


def backtest_plot(
    layout: FeatureLayout,
    chosen: Sequence[tuple[ForecastSeries, int]],
    actual: np.ndarray,
    median: np.ndarray,
    bands: np.ndarray,
) -> dict[str, Any]:
    """The ``forecast`` plot of a representative backtest forecast: the median-sMAPE one.

    ``chosen`` lists the (series, origin) pairs forecast, and ``actual``, ``median`` and
    ``bands`` (the scored quantiles) their ``horizon`` steps each, in that order. The plot
    shows up to three horizons of history before the origin, then the horizon.
    """
    h = layout.horizon
    # Each forecast's sMAPE, at once: a loop of smape() calls is slow over many series.
    a, m = actual.reshape(-1, h), median.reshape(-1, h)
    total = np.abs(a) + np.abs(m)
    ratio = np.divide(2.0 * np.abs(a - m), total, out=np.zeros_like(total), where=total > 0)
    errors = ratio.mean(axis=1)
    pick = int(np.argsort(errors, kind="stable")[len(errors) // 2])
    s, origin = chosen[pick]
    start = max(0, origin + 1 - _PLOT_HORIZONS * h)
    times = s.times[start : origin + 1 + h]
    if layout.time_kind == "datetime":
        labels: list[Any] = [pd.Timestamp(int(t)).isoformat() for t in times]
    else:
        labels = [int(t) for t in times]
    rows = slice(pick * h, (pick + 1) * h)
    return forecast_plot(
        series=s.key,
        times=labels,
        history=s.values[start : origin + 1],
        actual=actual[rows],
        median=median[rows],
        lower=bands[rows, 0],
        upper=bands[rows, -1],
        levels=(layout.quantiles[0], layout.quantiles[-1]),
    )
