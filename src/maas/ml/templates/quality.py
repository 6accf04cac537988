"""Quality classification: a LightGBM classifier of a part's defect class from process readings.

Process parameters (and inspection measurements) of one part or batch in, its quality class out:
a defect type among several, or pass / fail. One gradient-boosted model, trained on a training
part and scored on a held-out validation part; the artifact is a LightGBM JSON envelope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from maas.domain.signature import Task
from maas.ml.plots import classifier_plots
from maas.ml.templates.base import (
    BoostedTemplate,
    BoostingParams,
    TemplateSpec,
    encode_class_target,
    label_metrics,
)

__all__ = ["QualityClassification", "QualityClassificationParams"]


class QualityClassificationParams(BoostingParams):
    """Parameters of the quality-classification template."""


class QualityClassification(BoostedTemplate):
    """Predict the quality class of a part (defect type, or pass / fail) from process readings.

    A LightGBM classifier (multiclass, or binary for two classes). Rare classes are up-weighted
    by the square root of their imbalance, so that small defect classes are not drowned by the
    common ones without over-predicting them. For two classes the decision threshold on
    P(second class) is the one maximising macro-F1 on the validation rows (``threshold_``), so
    neither class is favoured; threshold-dependent metrics on those rows are then slightly
    optimistic. With more classes the most probable class is predicted.

    Metrics (validation rows): ``accuracy``, ``macro_f1``, ``recall.<class>`` per class,
    ``confusion.<true>.<predicted>``, ``roc_auc`` (one-vs-rest, macro), and the majority-class
    answer's ``baseline_accuracy`` and ``baseline_macro_f1``; ``threshold`` for two classes.
    Plots (the same rows): ``confusion``; ``roc`` and ``pr`` of the second class for two.
    """

    spec = TemplateSpec(
        name="quality_classification",
        task=Task.CLASSIFICATION,
        description=(
            "Classify a part's quality (defect type, or pass / fail) from process parameters "
            "with gradient-boosted trees; reports accuracy, macro-F1, per-class recall and the "
            "confusion matrix next to the majority-class baseline."
        ),
        params=QualityClassificationParams,
    )

    def fit(
        self,
        df: pd.DataFrame,
        target: str = "defect",
        features: Sequence[str] | None = None,
    ) -> Self:
        """Learn to predict column ``target`` (default ``defect``) of ``df``.

        Raises:
            InvalidParameterError: a parameter is invalid, too few rows, a single class, a
                class with fewer than ``MIN_CLASS_ROWS`` rows, or missing target values.
            SchemaMismatchError: a column is missing or of a type the template cannot use.
        """
        return super().fit(df, target, features)

    @property
    def classes_(self) -> list[str]:
        """The class labels, in the order of the probability columns."""
        self._check_fitted()
        assert self.signature_.classes is not None  # a classification signature has classes
        return self.signature_.classes

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Return the class probabilities, shape ``(n, n_classes)``, in ``classes_`` order.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        return self._proba(self._encode(df))

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Return the predicted class label (``str``) of each row.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        labels = np.asarray(self.classes_, dtype=object)
        return np.asarray(labels[self._decide(self.predict_proba(df))])

    def decision_function(self, df: pd.DataFrame) -> np.ndarray:
        """Return the raw scores: log-odds of the second class ``(n,)``, or ``(n, k)`` logits.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        return np.asarray(self.booster_.predict(self._encode(df), raw_score=True))

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return contributions to the raw score, shape ``(n, n_inputs + 1)``.

        For two classes they add up to the log-odds of the second class; for more, to the
        logit of each row's predicted class.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        x = self._encode(df)
        contributions = np.asarray(self.booster_.predict(x, pred_contrib=True))
        if len(self.classes_) == 2:
            return contributions
        chosen = self._decide(self._proba(x))
        per_class = contributions.reshape(len(x), len(self.classes_), -1)
        return np.asarray(per_class[np.arange(len(x)), chosen])

    def _proba(self, x: np.ndarray) -> np.ndarray:
        p = np.asarray(self.booster_.predict(x))
        return np.column_stack([1.0 - p, p]) if p.ndim == 1 else p

    def _decide(self, proba: np.ndarray) -> np.ndarray:
        if proba.shape[1] == 2:
            return (proba[:, 1] >= self.threshold_).astype(np.intp)
        return np.asarray(np.argmax(proba, axis=1))

    def _decision_threshold(self) -> float | None:
        return self.threshold_

    def _encode_target(self, series: pd.Series, name: str) -> tuple[np.ndarray, list[str] | None]:
        return encode_class_target(series, name)

    def _objective(
        self, y_train: np.ndarray, classes: list[str] | None
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        assert classes is not None
        counts = np.bincount(y_train, minlength=len(classes))
        weight = np.sqrt(len(y_train) / (len(classes) * counts))[y_train]
        if len(classes) == 2:
            return {"objective": "binary"}, weight
        return {"objective": "multiclass", "num_class": len(classes)}, weight

    def _evaluate(
        self, x_valid: np.ndarray, y_valid: np.ndarray, y_train: np.ndarray
    ) -> tuple[dict[str, float], dict[str, Any]]:
        classes = self.classes_
        proba = self._proba(x_valid)
        self.threshold_: float | None = None
        if len(classes) == 2:
            self.threshold_ = _best_macro_f1_threshold(y_valid, proba[:, 1])
        predicted = self._decide(proba)
        majority = int(np.argmax(np.bincount(y_train, minlength=len(classes))))
        metrics = label_metrics(y_valid, predicted, classes, majority)
        scores = proba[:, 1] if len(classes) == 2 else proba
        metrics["roc_auc"] = float(roc_auc_score(y_valid, scores, multi_class="ovr"))
        if self.threshold_ is not None:
            metrics["threshold"] = self.threshold_
        binary = len(classes) == 2
        plots = classifier_plots(
            y_valid,
            predicted,
            classes,
            score=proba[:, 1] if binary else None,
            positive=1 if binary else None,
        )
        return metrics, plots


def _best_macro_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold on ``p`` (predict class 1 when ``p >= t``) with the highest macro-F1."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # Candidate thresholds are the distinct scores; predicting 1 for the first i rows of the
    # descending order is "p >= p_sorted[i - 1]" when the next score differs.
    last_of_run = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp = np.cumsum(y_sorted == 1)[last_of_run]
    fp = np.cumsum(y_sorted == 0)[last_of_run]
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    fn, tn = positives - tp, negatives - fp
    f1_one = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    f1_zero = 2 * tn / np.maximum(2 * tn + fn + fp, 1)
    best = int(np.argmax(f1_one + f1_zero))
    return float(p_sorted[last_of_run][best])
