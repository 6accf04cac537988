"""Failure prediction: a LightGBM classifier of machine failure from process readings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.preprocessing import label_binarize

from maas.domain.signature import Task
from maas.errors import InvalidParameterError
from maas.ml.templates.base import BoostedTemplate, BoostingParams, TemplateSpec

__all__ = ["MAX_CLASSES", "MIN_CLASS_ROWS", "FailurePrediction", "FailurePredictionParams"]

MAX_CLASSES = 50
"""A target with more distinct values than this is not a set of classes."""
MIN_CLASS_ROWS = 5
"""Each class needs at least this many rows to be learnt and validated."""


class FailurePredictionParams(BoostingParams):
    """Parameters of the failure-prediction template."""


class FailurePrediction(BoostedTemplate):
    """Predict whether (or how) a machine fails, from one row of process readings.

    A LightGBM classifier: binary for a 0/1 failure flag, multiclass for failure modes. Rare
    classes are up-weighted (by the square root of their imbalance). For a binary
    target the decision threshold on P(failure) is the one maximising F1 on the validation rows
    (``threshold_``); the reported ``f1`` and ``accuracy`` use that threshold on those same rows,
    so they are slightly optimistic, while ``roc_auc`` and ``pr_auc`` do not depend on it.

    Metrics (validation rows): ``roc_auc``, ``pr_auc`` (average precision), ``f1`` (of the
    second class when binary, macro otherwise), ``accuracy``; and ``baseline_accuracy``,
    ``baseline_f1`` (always predicting the training majority class) and ``baseline_pr_auc`` (the
    share of positives, what a model without skill scores); ``threshold`` when binary.
    """

    spec = TemplateSpec(
        name="failure_prediction",
        task=Task.CLASSIFICATION,
        description=(
            "Classify machine failure (or failure mode) from process readings with gradient-"
            "boosted trees; handles class imbalance and tunes the decision threshold for F1."
        ),
        params=FailurePredictionParams,
    )

    def fit(
        self,
        df: pd.DataFrame,
        target: str = "machine_failure",
        features: Sequence[str] | None = None,
    ) -> Self:
        """Learn to predict column ``target`` (default ``machine_failure``) of ``df``.

        Raises:
            InvalidParameterError: a parameter is invalid, too few rows, a single class, a
                class with fewer than ``MIN_CLASS_ROWS`` rows, or missing target values.
            SchemaMismatchError: a column is missing or of a type the template cannot use.
        """
        return super().fit(df, target, features)

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

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return contributions to the raw score (log-odds), shape ``(n, n_inputs + 1)``.

        For more than two classes, each row's contributions are those to its predicted class.

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

    @property
    def classes_(self) -> list[str]:
        """The class labels, in the order of the probability columns."""
        self._check_fitted()
        assert self.signature_.classes is not None  # a classification signature has classes
        return self.signature_.classes

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
        missing = int(series.isna().sum())
        if missing:
            raise InvalidParameterError(
                f"Target column {name!r} must have no missing values. Got {missing} instead.",
                field=name,
                expected="no missing values",
                received=f"{missing} missing",
            )
        if pd.api.types.is_float_dtype(series.dtype) and (series % 1 == 0).all():
            series = series.astype(np.int64)  # 0.0/1.0 flags read from CSV name classes 0 and 1
        # Classes in sorted order, or in category order for a categorical target.
        codes, uniques = pd.factorize(series, sort=True)
        classes = [str(u) for u in uniques]
        if not 2 <= len(classes) <= MAX_CLASSES:
            raise InvalidParameterError(
                f"Target column {name!r} must hold between 2 and {MAX_CLASSES} classes. "
                f"Got {len(classes)} instead.",
                field=name,
                expected=f"2 to {MAX_CLASSES} classes",
                received=f"{len(classes)} classes",
            )
        counts = np.bincount(codes, minlength=len(classes))
        if counts.min() < MIN_CLASS_ROWS:
            rare = classes[int(np.argmin(counts))]
            raise InvalidParameterError(
                f"Class {rare!r} of target column {name!r} needs at least {MIN_CLASS_ROWS} rows. "
                f"Got {int(counts.min())} instead.",
                field=name,
                expected=f">= {MIN_CLASS_ROWS} rows per class",
                received=f"{int(counts.min())} rows of class {rare!r}",
            )
        return codes.astype(np.int32), classes

    def _objective(
        self, y_train: np.ndarray, classes: list[str] | None
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        assert classes is not None
        counts = np.bincount(y_train, minlength=len(classes))
        # The square root of sklearn's "balanced" weights: rare classes count more, but not so
        # much that the ranking near the top suffers (on AI4I 2020, full balancing lowered
        # PR-AUC); the threshold tuned for F1 does the rest.
        weight = np.sqrt(len(y_train) / (len(classes) * counts))[y_train]
        if len(classes) == 2:
            return {"objective": "binary"}, weight
        return {"objective": "multiclass", "num_class": len(classes)}, weight

    def _evaluate(
        self, x_valid: np.ndarray, y_valid: np.ndarray, y_train: np.ndarray
    ) -> dict[str, float]:
        proba = self._proba(x_valid)
        k = proba.shape[1]
        majority = np.full_like(y_valid, np.argmax(np.bincount(y_train, minlength=k)))
        if k == 2:
            self.threshold_: float | None = _best_f1_threshold(y_valid, proba[:, 1])
            scores, truth, average = proba[:, 1], y_valid, "binary"
        else:
            self.threshold_ = None
            scores, truth, average = proba, label_binarize(y_valid, classes=range(k)), "macro"
        predicted = self._decide(proba)
        metrics = {
            "roc_auc": float(roc_auc_score(y_valid, scores, multi_class="ovr")),
            "pr_auc": float(average_precision_score(truth, scores)),
            "f1": float(f1_score(y_valid, predicted, average=average, zero_division=0.0)),
            "accuracy": float(accuracy_score(y_valid, predicted)),
            "baseline_pr_auc": float(np.mean(truth)),
            "baseline_f1": float(f1_score(y_valid, majority, average=average, zero_division=0.0)),
            "baseline_accuracy": float(accuracy_score(y_valid, majority)),
        }
        if self.threshold_ is not None:
            metrics["threshold"] = self.threshold_
        return metrics


def _best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold on ``p`` (predict positive when ``p >= t``) with the highest F1 on ``y``."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(thresholds[int(np.argmax(f1[:-1]))])
