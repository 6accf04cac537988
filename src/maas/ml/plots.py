"""Plot data of a version's evaluation report, built from the held-out rows its metrics score.

Each builder returns one entry of ``TrainedModel.plots`` (the dashboard's schema): ``roc``,
``pr``, ``confusion``, ``predicted_vs_true``, ``forecast`` and ``scores``. Every list holds at
most ``MAX_POINTS`` values (evenly thinned, first and last kept), numbers are rounded to 6
digits, and a value that is not finite becomes ``None``, so the result is plain JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MAX_POINTS",
    "binary_curves",
    "classifier_plots",
    "clean",
    "forecast_plot",
    "predicted_vs_true_plot",
    "score_histogram",
    "thin",
]

MAX_POINTS = 200
"""Most values in any list of a plot: enough to draw, small enough to store with the version."""
SCORE_BINS = 30
"""Bins of the anomaly-score histogram."""
_TAIL_QUANTILE = 0.99
"""The score histogram stops at this quantile (or twice the threshold, if higher)."""


def clean(values: Any) -> list[Any]:
    """The values as JSON numbers rounded to 6 digits; NaN, infinities and ``None`` → ``None``."""
    out: list[Any] = []
    for v in np.asarray(values, dtype=object).ravel().tolist():
        if v is None or not math.isfinite(float(v)):
            out.append(None)
        else:
            out.append(round(float(v), 6))
    return out


def thin(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` points, evenly spaced, the first and last kept."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))


def classifier_plots(
    y: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
    *,
    score: np.ndarray | None = None,
    positive: int | None = None,
) -> dict[str, Any]:
    """``confusion`` of class codes ``y`` vs ``predicted``; with a binary ``score``, ROC and PR.

    Args:
        y: the true class codes ``0..k-1`` of the held-out rows.
        predicted: the predicted class codes of the same rows (as the metrics decided them).
        classes: the class labels, in code order.
        score: for two classes, each row's score for class ``positive`` (higher: more likely).
        positive: the code of the class ``score`` is for.
    """
    from sklearn.metrics import confusion_matrix

    labels = list(range(len(classes)))
    matrix = confusion_matrix(y, predicted, labels=labels)
    plots: dict[str, Any] = {
        "confusion": {"labels": [str(c) for c in classes], "matrix": matrix.tolist()}
    }
    if score is not None and positive is not None:
        truth = np.asarray(y) == positive
        plots |= binary_curves(truth, score, str(classes[positive]))
    return plots


def binary_curves(truth: np.ndarray, score: np.ndarray, positive: str) -> dict[str, Any]:
    """``roc`` and ``pr`` of ``score`` against the boolean ``truth`` (``positive`` names it)."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(truth, score)
    precision, recall, _ = precision_recall_curve(truth, score, drop_intermediate=True)
    on_roc, on_pr = thin(len(fpr)), thin(len(recall))
    return {
        "roc": {
            "fpr": clean(fpr[on_roc]),
            "tpr": clean(tpr[on_roc]),
            # The area of the full curve, which is roc_auc_score's value.
            "auc": clean([auc(fpr, tpr)])[0],
            "positive": positive,
        },
        "pr": {
            "recall": clean(recall[on_pr]),
            "precision": clean(precision[on_pr]),
            "average_precision": clean([average_precision_score(truth, score)])[0],
            "positive": positive,
        },
    }


def predicted_vs_true_plot(true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """``predicted_vs_true`` of a regressor's held-out rows (thinned in their given order)."""
    keep = thin(len(true))
    return {
        "predicted_vs_true": {
            "true": clean(np.asarray(true)[keep]),
            "predicted": clean(np.asarray(predicted)[keep]),
        }
    }


def score_histogram(
    scores: np.ndarray, threshold: float, anomalous: np.ndarray | None = None
) -> dict[str, Any]:
    """``scores``: a histogram of held-out anomaly scores, with the flagging threshold.

    The bins span from the lowest score to the 99th percentile or twice the threshold,
    whichever is higher; the last bin also counts the scores above its right edge, so that a
    few extreme rows do not squeeze every other row into one bin. With ``anomalous`` (the
    rows' labels), ``counts_anomalous`` counts the labelled anomalies per bin.
    """
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    scores = scores[finite]
    low, high = 0.0, 2.0 * threshold
    if len(scores):
        low = min(float(scores.min()), 0.0)
        high = max(float(np.quantile(scores, _TAIL_QUANTILE)), high)
    edges = np.linspace(low, high if high > low else low + 1.0, SCORE_BINS + 1)
    clipped = np.clip(scores, edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    plot: dict[str, Any] = {
        "bins": clean(edges),
        "counts": counts.tolist(),
        "threshold": clean([threshold])[0],
    }
    if anomalous is not None:
        labelled = np.asarray(anomalous, dtype=bool)[finite]
        flagged, _ = np.histogram(clipped[labelled], bins=edges)
        plot["counts_anomalous"] = flagged.tolist()
    return {"scores": plot}


def forecast_plot(
    *,
    series: str,
    times: Sequence[Any],
    history: np.ndarray,
    actual: np.ndarray,
    median: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    levels: tuple[float, float],
) -> dict[str, Any]:
    """``forecast``: a history tail, then the horizon's actual values, median and band.

    ``times`` labels the ``len(history) + len(actual)`` steps; the history is ``None`` over
    the horizon, and the forecast and actual values ``None`` over the history.
    """
    pad, tail = [None] * len(history), [None] * len(actual)
    keep = thin(len(history) + len(actual))

    def picked(values: list[Any]) -> list[Any]:
        return [values[i] for i in keep]

    return {
        "forecast": {
            "series": series,
            "t": picked(list(times)),
            "history": picked(clean(history) + tail),
            "actual": picked(pad + clean(actual)),
            "median": picked(pad + clean(median)),
            "lower": picked(pad + clean(lower)),
            "upper": picked(pad + clean(upper)),
            "lower_level": levels[0],
            "upper_level": levels[1],
        }
    }
