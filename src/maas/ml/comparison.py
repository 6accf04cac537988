"""Champion against challenger on the same held-out data: the split and the scores of retraining.

Retraining fits a *challenger* (same template, same parameters) on a newer dataset version and
must decide whether it beats the *champion* (the version an alias such as ``production`` points
at). Both are scored here on one held-out part of the new data that the challenger never saw,
through the same ``predict`` they are served with, so the comparison is like for like:

- **rows** (classifiers, regressors, text, anomaly scoring with labels): the held-out rows are
  drawn from the rows appended since the champion's dataset version when there are enough of
  them (the champion never saw those either) — at most half of them, so the challenger learns
  from the new data too — else a seeded random (stratified) share of all rows.
- **units** (remaining useful life): whole units are held out — up to half the new units when
  there are enough — and each is scored at its last row and at seeded random truncations of its
  history (the C-MAPSS protocol), against its capped remaining life.
- **series** (forecasts): the last ``horizon`` values of every series are held out; both models
  forecast them from the history before.

``new_data_only`` in the result says whether every held-out row came after the champion's
dataset version; when it is false the champion may have been trained on part of what it is
scored on, which favours the champion (never the challenger).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from maas.errors import InvalidParameterError
from maas.ml.prediction import Prediction
from maas.ml.templates.anomaly import ANOMALY_SCORE, anomaly_labels
from maas.ml.templates.forecast_metrics import mase_scale, smape, weighted_quantile_loss
from maas.ml.templates.rul import rul_scores

__all__ = [
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "Holdout",
    "comparable_metrics",
    "decide",
    "score",
    "split_holdout",
]

Kind = Literal["rows", "units", "series"]
Predict = Callable[[pd.DataFrame], Prediction]

LOWER_IS_BETTER = frozenset(
    {
        "rmse",
        "mae",
        "log_loss",
        "nasa_score",
        "nasa_score_mean",
        "rmse_last",
        "mae_last",
        "nasa_score_last",
        "mase",
        "smape",
        "wql",
        "coverage_error",
    }
)
HIGHER_IS_BETTER = frozenset(
    {"accuracy", "macro_f1", "f1", "precision", "recall", "roc_auc", "pr_auc", "r2"}
)
MIN_HOLDOUT_ROWS = 20
"""A held-out part smaller than this cannot tell two models apart."""
MIN_HOLDOUT_UNITS = 3
_TRUNCATIONS = 5
"""Random truncations scored per held-out unit, besides its last row."""

_CLASSIFIERS = {"failure_prediction", "quality_classification", "text_classification"}
_BINARY_ONLY = {"f1", "precision", "recall", "roc_auc", "pr_auc"}
_METRICS: dict[str, frozenset[str]] = {
    **{
        name: frozenset({"accuracy", "macro_f1", "log_loss", *_BINARY_ONLY})
        for name in _CLASSIFIERS
    },
    "tabular_regression": frozenset({"rmse", "mae", "r2"}),
    "anomaly_detection": frozenset({"roc_auc", "pr_auc", "f1", "precision", "recall"}),
    "remaining_useful_life": frozenset(
        {"rmse", "mae", "nasa_score", "nasa_score_mean", "rmse_last", "mae_last", "nasa_score_last"}
    ),
    "demand_forecast": frozenset({"mase", "smape", "wql", "coverage_error"}),
}


def comparable_metrics(template: str, n_classes: int | None = None) -> list[str]:
    """The metrics a retraining of ``template`` can compare on (binary-only ones dropped for a
    classifier of more than two classes)."""
    names = _METRICS.get(template, frozenset())
    if template in _CLASSIFIERS and n_classes is not None and n_classes > 2:
        names = names - _BINARY_ONLY
    return sorted(names)


@dataclass(frozen=True, slots=True)
class Holdout:
    """The held-out part of a dataset and the rest, which the challenger is fitted on."""

    kind: Kind
    fit: pd.DataFrame
    held_out: pd.DataFrame
    new_data_only: bool
    params: dict[str, Any] = field(default_factory=dict)
    """What scoring needs of the template's parameters (columns, horizon, cap, target)."""

    def describe(self) -> dict[str, Any]:
        """A JSON summary of the split, kept with the comparison."""
        info: dict[str, Any] = {
            "kind": self.kind,
            "rows": len(self.held_out),
            "fit_rows": len(self.fit),
            "new_data_only": self.new_data_only,
        }
        if self.kind == "units":
            info["units"] = int(self.held_out[self.params["unit_column"]].nunique())
        if self.kind == "series":
            info["series"] = int(self.held_out[self.params["series_column"]].nunique())
            info["horizon"] = self.params["horizon"]
        return info


def split_holdout(
    frame: pd.DataFrame,
    template: str,
    params: dict[str, Any],
    target: str | None,
    *,
    fraction: float,
    seed: int,
    new_from: int | None,
) -> Holdout:
    """Hold out part of ``frame`` for the comparison (see the module docstring).

    Args:
        frame: the new dataset version, rows in stored order (appended rows last).
        template: the template name, which decides how to split.
        params: the template's validated parameters.
        target: the target column (``None`` where the template needs none).
        fraction: the share to hold out when no new data can be held out alone.
        seed: seed of the random parts.
        new_from: the first row that is new since the champion's dataset version; ``None``
            when unknown (another dataset), then every row counts as possibly seen.

    Raises:
        InvalidParameterError: the template cannot be compared, or the data is too small.
    """
    if template not in _METRICS:
        raise InvalidParameterError(
            f"Template {template!r} has no retraining comparison.",
            field="template",
            expected=sorted(_METRICS),
            received=template,
        )
    new_from = len(frame) if new_from is None else max(0, min(new_from, len(frame)))
    frame = frame.reset_index(drop=True)
    if template == "demand_forecast":
        return _split_series(frame, params, target, new_from)
    if template == "remaining_useful_life":
        return _split_units(frame, params, target, fraction=fraction, seed=seed, new_from=new_from)
    if target is None:
        raise InvalidParameterError(
            f"Comparing {template!r} models needs a target (label) column.",
            field="target",
            expected="the column holding the true answer",
            received=None,
        )
    holdout = _split_rows(
        frame,
        target,
        fraction=fraction,
        seed=seed,
        new_from=new_from,
        stratify=template != "tabular_regression",
    )
    holdout.params["template"] = template
    return holdout


def _split_rows(
    frame: pd.DataFrame, target: str, *, fraction: float, seed: int, new_from: int, stratify: bool
) -> Holdout:
    n_new = len(frame) - new_from
    labels = frame[target].astype("string").fillna("") if stratify else None
    if n_new >= 2 * MIN_HOLDOUT_ROWS and new_from >= MIN_HOLDOUT_ROWS:
        # Half the new rows at most, so the challenger also learns from the other half.
        size = min(n_new // 2, max(MIN_HOLDOUT_ROWS, round(fraction * len(frame))))
        new_rows = np.arange(new_from, len(frame))
        held = new_rows[_sample(new_rows, size, labels, seed)]
        new_only = True
    else:
        size = max(MIN_HOLDOUT_ROWS, round(fraction * len(frame)))
        if size > len(frame) // 2:
            raise InvalidParameterError(
                f"The dataset has {len(frame)} rows: too few to hold out {MIN_HOLDOUT_ROWS} for "
                "the comparison and fit on the rest.",
                field="dataset",
                expected=f">= {2 * MIN_HOLDOUT_ROWS} rows",
                received=len(frame),
            )
        rows = np.arange(len(frame))
        held = rows[_sample(rows, size, labels, seed)]
        new_only = bool(held.min() >= new_from)
    held = np.sort(held)
    rest = np.setdiff1d(np.arange(len(frame)), held)
    return Holdout("rows", frame.iloc[rest], frame.iloc[held], new_only, {"target": target})


def _sample(rows: np.ndarray, size: int, labels: pd.Series | None, seed: int) -> np.ndarray:
    """Positions of ``size`` of ``rows``, stratified by their labels when it can be."""
    positions = np.arange(len(rows))
    if size >= len(rows):
        return positions
    strata = None if labels is None else labels.iloc[rows].to_numpy()
    try:
        _, chosen = train_test_split(positions, test_size=size, random_state=seed, stratify=strata)
    except ValueError:  # a class too rare to stratify: a plain random share
        _, chosen = train_test_split(positions, test_size=size, random_state=seed)
    return np.asarray(chosen)


def _split_units(
    frame: pd.DataFrame,
    params: dict[str, Any],
    target: str | None,
    *,
    fraction: float,
    seed: int,
    new_from: int,
) -> Holdout:
    unit = params["unit_column"]
    units = frame[unit]
    first_row = pd.Series(np.arange(len(frame))).groupby(units.to_numpy()).min()
    new_units = first_row[first_row >= new_from].index
    all_units = first_row.index
    if len(new_units) >= 2 * MIN_HOLDOUT_UNITS and len(all_units) - len(new_units) >= 2:
        # Half the new units at most, so the challenger also learns from the other half.
        size = min(len(new_units) // 2, max(MIN_HOLDOUT_UNITS, round(fraction * len(all_units))))
        held_units = np.random.default_rng(seed).choice(new_units, size=size, replace=False)
        mask = units.isin(held_units).to_numpy()
        new_only = True
    else:
        if len(all_units) < 2 * MIN_HOLDOUT_UNITS:
            raise InvalidParameterError(
                f"The dataset has {len(all_units)} units: too few to hold some out for the "
                "comparison and fit on the rest.",
                field="dataset",
                expected=f">= {2 * MIN_HOLDOUT_UNITS} units",
                received=len(all_units),
            )
        test_size = max(MIN_HOLDOUT_UNITS, round(fraction * len(all_units)))
        split = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        _, held_rows = next(split.split(np.zeros(len(frame)), groups=units.to_numpy()))
        mask = np.zeros(len(frame), dtype=bool)
        mask[held_rows] = True
        new_only = bool(np.flatnonzero(mask).min() >= new_from)
    keep = {k: params[k] for k in ("unit_column", "time_column", "rul_cap")}
    return Holdout(
        "units", frame[~mask], frame[mask], new_only, {**keep, "target": target, "seed": seed}
    )


def _split_series(
    frame: pd.DataFrame, params: dict[str, Any], target: str | None, new_from: int
) -> Holdout:
    series, time = params["series_column"], params["time_column"]
    value = target or params["value_column"]
    horizon = int(params["horizon"])
    ordered = frame.sort_values([series, time], kind="stable")
    position = ordered.groupby(series, sort=False).cumcount(ascending=False)
    tail = (position < horizon).to_numpy()
    lengths = ordered.groupby(series, sort=False)[time].transform("size").to_numpy()
    if (lengths <= 2 * horizon).all():
        raise InvalidParameterError(
            f"No series is longer than twice the horizon ({horizon}): nothing to forecast the "
            "held-out tail from.",
            field="params.horizon",
            expected=f"series longer than {2 * horizon} rows",
            received=int(lengths.max()) if len(lengths) else 0,
        )
    usable = lengths > 2 * horizon
    held = ordered[tail & usable]
    return Holdout(
        "series",
        ordered[~tail],
        held,
        bool(held.index.min() >= new_from) if len(held) else False,
        {
            "series_column": series,
            "time_column": time,
            "value_column": value,
            "horizon": horizon,
            "season_length": params.get("season_length"),
        },
    )


def score(holdout: Holdout, predict: Predict, classes: Sequence[str] | None) -> dict[str, float]:
    """Score a model, given as the function it predicts a frame with, on the held-out part.

    Raises:
        InvalidParameterError: the model's answers cannot be matched with the held-out truth
            (a key it did not predict, a class it does not know).
    """
    if holdout.kind == "series":
        return _score_series(holdout, predict)
    if holdout.kind == "units":
        return _score_units(holdout, predict)
    truth = holdout.held_out[holdout.params["target"]]
    prediction = predict(holdout.held_out)
    if holdout.params.get("template") == "anomaly_detection":
        return _score_anomaly(truth, prediction)
    if classes is None:
        y = truth.to_numpy(dtype=np.float64)
        p = np.asarray(prediction.predictions, dtype=np.float64)
        return {
            "rmse": float(root_mean_squared_error(y, p)),
            "mae": float(mean_absolute_error(y, p)),
            "r2": float(r2_score(y, p)),
        }
    return _score_classes(truth, prediction, list(classes))


def _labels(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_float_dtype(series.dtype) and (series.dropna() % 1 == 0).all():
        series = series.astype("Int64")
    return series.astype("string").fillna("").to_numpy(dtype=object)


def _score_classes(
    truth: pd.Series, prediction: Prediction, classes: list[str]
) -> dict[str, float]:
    y = _labels(truth)
    predicted = np.asarray(prediction.predictions).astype(str)
    metrics = {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(
            f1_score(y, predicted, labels=classes, average="macro", zero_division=0.0)
        ),
    }
    if prediction.probabilities is not None:
        proba = np.clip(np.asarray(prediction.probabilities, dtype=np.float64), 1e-15, 1.0)
        known = np.isin(y, classes)
        if known.all():
            metrics["log_loss"] = float(
                log_loss(y, proba / proba.sum(axis=1, keepdims=True), labels=classes)
            )
        if len(classes) == 2 and len(set(y[known])) == 2:
            # The failure / defect class is the rarer one, as the templates choose it.
            counts = [int((y == c).sum()) for c in classes]
            j = int(np.argmin(counts))
            positive = classes[j]
            hit_true, hit_pred = y == positive, predicted == positive
            metrics |= {
                "f1": float(f1_score(hit_true, hit_pred, zero_division=0.0)),
                "precision": float(precision_score(hit_true, hit_pred, zero_division=0.0)),
                "recall": float(recall_score(hit_true, hit_pred, zero_division=0.0)),
                "roc_auc": float(roc_auc_score(hit_true[known], proba[known, j])),
                "pr_auc": float(average_precision_score(hit_true[known], proba[known, j])),
            }
    return metrics


def _score_anomaly(truth: pd.Series, prediction: Prediction) -> dict[str, float]:
    labels = anomaly_labels(truth, str(truth.name))
    scores = np.asarray(prediction.predictions, dtype=np.float64)
    flagged = (
        np.asarray(prediction.anomalies, dtype=bool)
        if prediction.anomalies is not None
        else scores >= ANOMALY_SCORE
    )
    if len(np.unique(labels)) < 2:
        raise InvalidParameterError(
            "The held-out rows hold a single label: anomaly scores cannot be compared on them.",
            field="target",
            expected="both normal and anomalous rows",
            received="one label",
        )
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "f1": float(f1_score(labels, flagged, zero_division=0.0)),
        "precision": float(precision_score(labels, flagged, zero_division=0.0)),
        "recall": float(recall_score(labels, flagged, zero_division=0.0)),
    }


def _score_units(holdout: Holdout, predict: Predict) -> dict[str, float]:
    p = holdout.params
    unit, time, cap, target = p["unit_column"], p["time_column"], p["rul_cap"], p["target"]
    frame = holdout.held_out.sort_values([unit, time], kind="stable")
    codes = frame.groupby(unit, sort=False).ngroup().to_numpy()
    position = frame.groupby(unit, sort=False).cumcount().to_numpy()
    sizes = np.bincount(codes)
    times = frame[time].to_numpy(dtype=np.float64)
    if target is None:  # run to failure: the unit's last time is its failure
        last_time = np.zeros(len(sizes))
        np.maximum.at(last_time, codes, times)
        rul = np.minimum(last_time[codes] - times, cap)
    else:
        rul = np.minimum(frame[target].to_numpy(dtype=np.float64), cap)
    names = np.array([_key(v) for v in frame[unit].to_numpy()], dtype=object)
    rng = np.random.default_rng(p["seed"])
    # One cut per unit and round: round 0 at its last row, the others at a random row (at
    # least two rows in, as a history of one row has no trend).
    rounds = [sizes - 1] + [
        1 + np.floor(rng.random(len(sizes)) * np.maximum(sizes - 1, 1)).astype(int)
        for _ in range(_TRUNCATIONS)
    ]
    pairs: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
        "": ([], []),
        "_last": ([], []),
    }
    for r, cuts in enumerate(rounds):
        cut = np.minimum(cuts, sizes - 1)[codes]
        at_cut = position == cut
        predicted = _by_key(predict(frame[position <= cut]), unit)
        missing = [k for k in names[at_cut] if k not in predicted]
        if missing:
            raise InvalidParameterError(
                f"The model gave no prediction for unit {missing[0]!r}.",
                field="units",
                expected="one prediction per unit",
                received=sorted(predicted)[:5],
            )
        got, want = pairs["_last" if r == 0 else ""]
        got.append(np.array([predicted[k] for k in names[at_cut]]))
        want.append(rul[at_cut])
    metrics: dict[str, float] = {}
    for suffix, (got, want) in pairs.items():
        scores = rul_scores(np.concatenate(got), np.concatenate(want))
        metrics |= {f"{name}{suffix}": value for name, value in scores.items()}
    return metrics


def _key(value: Any) -> str:
    """A unit or series id as text, the same whether it travelled as 7, 7.0 or "7"."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _by_key(prediction: Prediction, key: str) -> dict[str, float]:
    values = np.asarray(prediction.predictions, dtype=np.float64)
    if prediction.keys is None:
        raise InvalidParameterError(
            "The model answers per row, not per unit or series: it cannot be compared here.",
            field="model",
            expected=f"predictions keyed by {key!r}",
            received="per-row predictions",
        )
    return {_key(k[key]): float(v) for k, v in zip(prediction.keys, values, strict=True)}


def _score_series(holdout: Holdout, predict: Predict) -> dict[str, float]:
    p = holdout.params
    series, time, value, h = p["series_column"], p["time_column"], p["value_column"], p["horizon"]
    held = holdout.held_out.sort_values([series, time], kind="stable")
    held_keys = held[series].map(_key)
    fit_keys = holdout.fit[series].map(_key)
    history = holdout.fit[fit_keys.isin(set(held_keys))]
    history_keys = fit_keys[history.index]
    prediction = predict(history)
    if prediction.keys is None:
        raise InvalidParameterError(
            "The model answers per row, not per series and step: it cannot be compared here.",
            field="model",
            expected="predictions keyed by series and step",
            received="per-row predictions",
        )
    index = {(_key(k["series"]), int(k["step"])): i for i, k in enumerate(prediction.keys)}
    actual, point, chosen, scales = [], [], [], []
    season = p.get("season_length") or 1
    for sid, part in held.groupby(held_keys, sort=False):
        past = history.loc[history_keys == sid, value].to_numpy(dtype=np.float64)
        for step, observed in enumerate(part[value].to_numpy(dtype=np.float64)[:h], start=1):
            i = index.get((sid, step))
            if i is None:
                raise InvalidParameterError(
                    f"The model gave no forecast for series {sid!r} step {step}.",
                    field="series",
                    expected="a forecast per series and step",
                    received=f"{len(prediction.keys)} forecasts",
                )
            actual.append(observed)
            chosen.append(i)
            scales.append(mase_scale(past, int(season)))
    actual_a = np.asarray(actual)
    point = np.asarray(prediction.predictions, dtype=np.float64)[chosen]
    scale = np.asarray(scales)
    metrics = {"smape": smape(actual_a, point)}
    scored = scale > 0
    if scored.any():
        metrics["mase"] = float(np.mean(np.abs(actual_a - point)[scored] / scale[scored]))
    if prediction.quantiles:
        levels = sorted(prediction.quantiles, key=float)
        bands = np.column_stack(
            [np.asarray(prediction.quantiles[q], dtype=np.float64)[chosen] for q in levels]
        )
        metrics["wql"] = weighted_quantile_loss(actual_a, bands, [float(q) for q in levels])
        if len(levels) >= 2:
            inside = (actual_a >= bands[:, 0]) & (actual_a <= bands[:, -1])
            nominal = float(levels[-1]) - float(levels[0])
            metrics["coverage"] = float(inside.mean())
            metrics["coverage_error"] = abs(float(inside.mean()) - nominal)
    return metrics


def decide(
    metric: str,
    champion: dict[str, float],
    challenger: dict[str, float],
    *,
    min_improvement: float = 0.0,
) -> tuple[bool, float, str]:
    """Whether the challenger beats the champion on ``metric`` by more than
    ``min_improvement`` (in the metric's own units, in its better direction).

    Returns:
        (promote, improvement — positive when the challenger is better, reason in words).

    Raises:
        InvalidParameterError: ``metric`` is not a comparable metric, or one side lacks it.
    """
    if metric not in LOWER_IS_BETTER | HIGHER_IS_BETTER:
        raise InvalidParameterError(
            f"Metric {metric!r} cannot decide a promotion.",
            field="metric",
            expected=sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER),
            received=metric,
        )
    for side, scores in (("champion", champion), ("challenger", challenger)):
        if metric not in scores or not np.isfinite(scores[metric]):
            raise InvalidParameterError(
                f"The {side} has no {metric!r} score on the held-out data.",
                field="metric",
                expected=sorted(scores),
                received=metric,
            )
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    improvement = sign * (challenger[metric] - champion[metric])
    word = "lower" if sign < 0 else "higher"
    if improvement > min_improvement:
        return (
            True,
            improvement,
            (
                f"challenger {metric} {challenger[metric]:.4g} vs champion {champion[metric]:.4g} "
                f"({word} is better): improved by {improvement:.4g}"
            ),
        )
    return (
        False,
        improvement,
        (
            f"challenger {metric} {challenger[metric]:.4g} vs champion {champion[metric]:.4g} "
            f"({word} is better): not improved by more than {min_improvement:g}"
        ),
    )
