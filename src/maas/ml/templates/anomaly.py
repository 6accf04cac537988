"""Anomaly detection: unsupervised scoring of sensor rows, with each sensor's share of the score.

Each sensor is first put on a robust scale, ``z = (x - median) / (1.4826 * MAD)`` (the standard
deviation when the MAD is 0, and 1 for a constant sensor), so that one wild reading does not
set the scale. The score of a row is then its squared Mahalanobis distance from the median,
``d² = zᵀ P z``, with ``P`` the inverse of a Ledoit-Wolf shrunk covariance of the training rows'
``z``: it flags both a single sensor far from usual and an unusual *combination* of sensors that
are each within range (a pressure that does not follow the flow it usually follows).

The covariance is estimated twice: once on every training row, then again without the rows that
first pass scores highest (``max(contamination, 5%)`` of them), so that the anomalies in the
training data do not widen the notion of normal. The threshold is the ``1 - contamination``
quantile of the training rows' ``d²``, and the served score is ``d² / threshold``: **a row is an
anomaly when its score is at least 1**, which ``Prediction.anomalies`` says for every row (the
``d²`` threshold is the version's ``threshold`` metric). The score splits exactly into one part
per sensor, ``z_j (P z)_j`` divided by the threshold (a part can be negative when a reading makes
the others more plausible), reported as ``Prediction.contributions`` (bias column 0).

Medians, scales, the precision matrix and the threshold are stored as JSON arrays (``template``
artifact); a missing reading counts as the median (it adds nothing to the score).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.covariance import LedoitWolf
from sklearn.metrics import average_precision_score, confusion_matrix, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

from maas.domain.signature import ColumnType, Output, Signature, Task
from maas.errors import InvalidParameterError, SchemaMismatchError, UnsupportedFormatError
from maas.ml.features import encode_frame, infer_columns, select_features
from maas.ml.plots import classifier_plots, score_histogram
from maas.ml.prediction import Prediction
from maas.ml.templates.artifact import TEMPLATE_ARTIFACT, dump_template_artifact
from maas.ml.templates.base import (
    MIN_CLASS_ROWS,
    MIN_ROWS,
    Template,
    TemplateSpec,
    TrainedModel,
    check_classes_in_both_parts,
)

__all__ = [
    "ANOMALY_SCORE",
    "AnomalyDetection",
    "AnomalyDetectionParams",
    "AnomalyModel",
    "anomaly_labels",
]

_STATE_VERSION = 1
_MIN_TRIM = 0.05
"""At least this share of the highest-scoring training rows is left out of the second
covariance estimate."""
_MAD_TO_SD = 1.4826
"""The MAD of a normal distribution times this is its standard deviation."""
ANOMALY_SCORE = 1.0
"""A row whose served score is at least this is an anomaly (the score is ``d² / threshold``)."""


class AnomalyDetectionParams(BaseModel):
    """Parameters of the anomaly-detection template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contamination: float = Field(0.01, gt=0.0, le=0.5)
    """Share of the training rows expected to be anomalous: the threshold flags that share."""
    validation_fraction: float = Field(0.2, ge=0.05, le=0.5)
    """Share of rows held out to report the metrics (against the labels, when given)."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the training / validation split."""


class AnomalyModel:
    """The served anomaly scorer; stateless after construction, so safe across threads."""

    def __init__(
        self, *, center: np.ndarray, scale: np.ndarray, precision: np.ndarray, threshold: float
    ) -> None:
        self.center = center
        self.scale = scale
        self.precision = precision
        self.threshold = threshold

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each sensor's part of the score, ``(n, n_inputs)``; rows add up to the score."""
        z = (self._matrix(x) - self.center) / self.scale
        z[np.isnan(z)] = 0.0
        return np.asarray(z * (z @ self.precision) / self.threshold)

    def predict_matrix(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Score each row of ``x`` (``float32``, one column per sensor): anomalous from 1 up.

        ``anomalies`` flags the rows whose score is at least 1.

        Raises:
            SchemaMismatchError: ``x`` is not a 2-D numeric array with one column per sensor.
        """
        parts = self.contributions(x)
        scores = parts.sum(axis=1)
        contributions = None
        if explain:
            contributions = np.column_stack([parts, np.zeros(len(parts))])
        return Prediction(
            predictions=scores, contributions=contributions, anomalies=scores >= ANOMALY_SCORE
        )

    def to_state(self) -> dict[str, Any]:
        """The JSON state of the model."""
        return {
            "state_version": _STATE_VERSION,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "precision": self.precision.tolist(),
            "threshold": self.threshold,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> AnomalyModel:
        """Rebuild the model from ``to_state``'s JSON.

        Raises:
            UnsupportedFormatError: the state is not one this version wrote, or does not fit
                ``signature`` (one value per input, a square precision matrix, finite numbers).
        """
        p = len(signature.inputs)
        try:
            if state["state_version"] != _STATE_VERSION:
                raise ValueError(f"state_version {state['state_version']!r}")
            center = np.asarray(state["center"], dtype=np.float64)
            scale = np.asarray(state["scale"], dtype=np.float64)
            precision = np.asarray(state["precision"], dtype=np.float64)
            threshold = float(state["threshold"])
            if center.shape != (p,) or scale.shape != (p,) or precision.shape != (p, p):
                raise ValueError(f"arrays do not fit {p} inputs")
            if not (np.isfinite(precision).all() and (scale > 0).all() and threshold > 0):
                raise ValueError("non-finite or non-positive values")
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsupportedFormatError(
                f"The anomaly-detection state is not readable: {exc}.",
                field="state",
                expected=f"an anomaly_detection state, version {_STATE_VERSION}",
                received=type(exc).__name__,
            ) from exc
        return cls(center=center, scale=scale, precision=precision, threshold=threshold)

    def _matrix(self, x: np.ndarray) -> np.ndarray:
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SchemaMismatchError(
                "The anomaly model takes numbers only.",
                field="inputs",
                expected="numeric values",
                received="non-numeric values",
            ) from exc
        if x.ndim != 2 or x.shape[1] != len(self.center):
            raise SchemaMismatchError(
                f"The model takes {len(self.center)} input columns. Got an array of shape "
                f"{x.shape} instead.",
                field="inputs",
                expected=f"(n, {len(self.center)})",
                received=str(x.shape),
            )
        return x


class AnomalyDetection(Template):
    """Score how anomalous each row of sensor readings is (see the module docstring).

    Unsupervised: labels, when a ``target`` column names them, are used only to evaluate. The
    rows are split into a training part (the model) and a validation part (the metrics).

    Metrics (validation rows): ``anomaly_rate`` (share flagged) and ``contamination``; with
    labels, ``roc_auc``, ``pr_auc`` (average precision), and at the threshold ``f1``,
    ``precision``, ``recall``, ``confusion.<true>.<flagged>`` (0/1), next to the naive answers'
    ``baseline_pr_auc`` (the anomaly share) and ``baseline_f1`` (flagging every row). ``threshold``
    is the ``d²`` that scores 1. Plots (the same rows): ``scores``, the histogram of the served
    scores (threshold 1); with labels also ``roc``, ``pr`` and ``confusion``.
    """

    spec = TemplateSpec(
        name="anomaly_detection",
        task=Task.ANOMALY,
        description=(
            "Score sensor rows for anomalies (robust z-scores and a shrunk Mahalanobis distance, "
            "1 and up is anomalous) with each sensor's share of the score; evaluated against "
            "labels when given."
        ),
        params=AnomalyDetectionParams,
    )

    def __init__(
        self, *, contamination: float = 0.01, validation_fraction: float = 0.2, seed: int = 0
    ) -> None:
        self.contamination = contamination
        self.validation_fraction = validation_fraction
        self.seed = seed

    def fit(
        self, df: pd.DataFrame, target: str | None = None, features: Sequence[str] | None = None
    ) -> Self:
        """Learn what normal rows of ``features`` (default: every column but ``target``) are.

        Args:
            df: the sensor rows.
            target: an optional label column (anomalous rows are the rarer of its two values,
                or its true / non-zero values), used only for the metrics.
            features: the sensor columns; numeric or boolean.

        Raises:
            InvalidParameterError: a parameter is invalid, too few rows, a sensor with no
                value, or a label column that does not hold two values.
            SchemaMismatchError: a column is missing or not numeric.
        """
        params: AnomalyDetectionParams = self._validated_params()
        names = _sensor_names(df, target, features)
        inputs = infer_columns(df, names)
        for column in inputs:
            if column.dtype not in (ColumnType.FLOAT, ColumnType.INT, ColumnType.BOOL):
                raise SchemaMismatchError(
                    f"Column {column.name!r} must be a numeric sensor. Got {column.dtype.value} "
                    "instead.",
                    field=column.name,
                    expected="numeric or boolean",
                    received=column.dtype.value,
                )
        if len(df) < MIN_ROWS:
            raise InvalidParameterError(
                f"Template {self.spec.name!r} needs at least {MIN_ROWS} rows. "
                f"Got {len(df)} instead.",
                field="rows",
                expected=f">= {MIN_ROWS}",
                received=len(df),
            )
        labels = None if target is None else anomaly_labels(df[target], target)
        if labels is not None and min(labels.sum(), len(labels) - labels.sum()) < MIN_CLASS_ROWS:
            raise InvalidParameterError(
                f"Label column {target!r} needs at least {MIN_CLASS_ROWS} normal and "
                f"{MIN_CLASS_ROWS} anomalous rows. Got {int(labels.sum())} anomalous of "
                f"{len(labels)} instead.",
                field=target,
                expected=f">= {MIN_CLASS_ROWS} rows of each",
                received=f"{int(labels.sum())} anomalous of {len(labels)}",
            )
        signature = Signature(
            inputs=inputs,
            outputs=[Output(name="predictions", dtype=ColumnType.FLOAT)],
            task=Task.ANOMALY,
        )
        x = encode_frame(df, signature).astype(np.float64)
        train, valid = train_test_split(
            np.arange(len(df)),
            test_size=params.validation_fraction,
            random_state=params.seed,
            stratify=labels,
        )
        if labels is not None and target is not None:
            check_classes_in_both_parts(labels[train], labels[valid], ["normal", "anomaly"], target)
        self.model_ = _fit_model(x[train], names, params.contamination)
        self.signature_ = signature
        self.feature_names_in_ = names
        self.target_ = target
        self.params_ = params
        self.importance_ = _importance(self.model_.contributions(x[train]), params.contamination)
        scores = self.model_.predict_matrix(x[valid]).predictions
        self.metrics_ = {
            "anomaly_rate": float(np.mean(scores >= ANOMALY_SCORE)),
            "contamination": params.contamination,
            "threshold": self.model_.threshold,
            "n_train": float(len(train)),
            "n_validation": float(len(valid)),
        }
        if labels is not None:
            self.metrics_ |= _label_metrics(labels[valid], scores)
        self.plots_ = _plots(scores, None if labels is None else labels[valid])
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Return each row's anomaly score (``float64``): anomalous from 1 up.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        return np.asarray(self._served(df).predictions, dtype=np.float64)

    def is_anomaly(self, df: pd.DataFrame) -> np.ndarray:
        """Return whether each row is an anomaly (its score is at least 1).

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        flags = self._served(df).anomalies
        assert flags is not None  # the anomaly model always flags
        return np.asarray(flags, dtype=bool)

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return each sensor's part of the score, ``(n, n_inputs + 1)``, last column 0.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        contributions = self._served(df, explain=True).contributions
        assert contributions is not None
        return contributions

    def to_trained_model(self) -> TrainedModel:
        """Package the scorer as a ``template`` artifact.

        ``feature_importance`` is each sensor's share of the positive score parts of the
        highest-scoring ``contamination`` share of the training rows (those the threshold is
        set to flag): which sensors its anomalies come from. It is all zeros only when every
        training row scores 0 (each sensor constant at its median): nothing to rank.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """
        self._check_fitted()
        importance = sorted(
            zip(self.feature_names_in_, self.importance_.tolist(), strict=True),
            key=lambda item: -item[1],
        )
        return TrainedModel(
            artifact=dump_template_artifact(self.spec.name, self.model_.to_state()),
            format=TEMPLATE_ARTIFACT,
            signature=self.signature_,
            template=self.spec.name,
            params={
                **self.params_.model_dump(),
                "target": self.target_,
                "features": list(self.feature_names_in_),
            },
            metrics=dict(self.metrics_),
            feature_importance=dict(importance),
            plots=dict(self.plots_),
        )

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> AnomalyModel:
        """Rebuild the served scorer from an artifact's JSON state.

        Raises:
            UnsupportedFormatError: the state is not readable or does not fit ``signature``.
        """
        return AnomalyModel.from_state(state, signature)

    def _served(self, df: pd.DataFrame, *, explain: bool = False) -> Prediction:
        self._check_fitted()
        return self.model_.predict_matrix(encode_frame(df, self.signature_), explain=explain)


def _sensor_names(
    df: pd.DataFrame, target: str | None, features: Sequence[str] | None
) -> list[str]:
    if target is not None:
        return select_features(df, target, features)
    if features is None:
        names = list(df.columns)
    else:
        names = [features] if isinstance(features, str) else list(features)
    for name in names:
        if name not in df.columns:
            raise SchemaMismatchError(
                f"Feature column {name!r} is missing from the data.",
                field=str(name),
                expected="a column of the data",
                received="nothing",
            )
    if not names:
        raise SchemaMismatchError(
            "The data has no sensor column.", field="features", expected="at least one column"
        )
    return [str(n) for n in names]


def anomaly_labels(series: pd.Series, name: str) -> np.ndarray:
    """The label column as 0/1 with 1 the anomalies: true / non-zero, or the rarer value."""
    values = series.dropna().unique()
    if series.isna().any() or len(values) != 2:
        raise InvalidParameterError(
            f"Label column {name!r} must hold two values (normal, anomaly) and no missing ones. "
            f"Got {len(values)} distinct values and {int(series.isna().sum())} missing instead.",
            field=name,
            expected="two values, no missing ones",
            received=f"{len(values)} values",
        )
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        if set(np.asarray(values, dtype=np.float64).tolist()) == {0.0, 1.0}:
            return np.asarray(series.astype(np.float64) == 1.0, dtype=np.int8)
    codes, _ = pd.factorize(series, sort=True)
    counts = np.bincount(codes, minlength=2)
    rarer = 1 if counts[1] <= counts[0] else 0
    return np.asarray(codes == rarer, dtype=np.int8)


def _fit_model(x: np.ndarray, names: list[str], contamination: float) -> AnomalyModel:
    empty = np.isnan(x).all(axis=0)
    if empty.any():
        name = names[int(np.argmax(empty))]
        raise InvalidParameterError(
            f"Sensor column {name!r} needs at least one value in the training rows. Got none.",
            field=name,
            expected="at least one value",
            received="only missing values",
        )
    center = np.nanmedian(x, axis=0)
    scale = _MAD_TO_SD * np.nanmedian(np.abs(x - center), axis=0)
    spread = np.nanstd(x, axis=0)
    scale = np.where(scale > 0, scale, np.where(spread > 0, spread, 1.0))
    z = (x - center) / scale
    z[np.isnan(z)] = 0.0
    first = _precision(z)
    d2 = np.einsum("ij,jk,ik->i", z, first, z)
    keep = d2 <= np.quantile(d2, 1.0 - max(contamination, _MIN_TRIM))
    precision = _precision(z[keep]) if keep.sum() > z.shape[1] else first
    d2 = np.einsum("ij,jk,ik->i", z, precision, z)
    threshold = float(np.quantile(d2, 1.0 - contamination))
    return AnomalyModel(
        center=center, scale=scale, precision=precision, threshold=max(threshold, 1e-12)
    )


def _importance(parts: np.ndarray, contamination: float) -> np.ndarray:
    """Each sensor's share of the positive score parts of the top ``contamination`` rows.

    The rows are taken by rank rather than by ``score >= 1``: the threshold is a quantile of
    these same scores, and rounding (or tied scores) can leave no row exactly at or above it,
    which would report no information where there is some. All zeros when the top rows score 0.
    """
    scores = parts.sum(axis=1)
    top = np.argsort(-scores, kind="stable")[: max(1, math.ceil(contamination * len(scores)))]
    share = np.clip(parts[top], 0.0, None).sum(axis=0)
    total = float(share.sum())
    return share / total if total > 0 else np.zeros(parts.shape[1])


def _precision(z: np.ndarray) -> np.ndarray:
    """The inverse of the Ledoit-Wolf covariance of ``z`` about 0 (the medians), symmetrised."""
    p = np.asarray(LedoitWolf(assume_centered=True).fit(z).precision_)
    return np.asarray((p + p.T) / 2.0)


def _plots(scores: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """The held-out scores' histogram; with labels, ROC, PR and confusion (``1``: anomaly)."""
    plots = score_histogram(scores, ANOMALY_SCORE, labels)
    if labels is not None:
        flagged = (scores >= ANOMALY_SCORE).astype(np.intp)
        plots |= classifier_plots(labels, flagged, ["0", "1"], score=scores, positive=1)
    return plots


def _label_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    flagged = scores >= ANOMALY_SCORE
    share = float(labels.mean())
    metrics = {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "f1": float(f1_score(labels, flagged, zero_division=0.0)),
        "precision": float(labels[flagged].mean()) if flagged.any() else 0.0,
        "recall": float(flagged[labels == 1].mean()),
        "baseline_pr_auc": share,
        "baseline_f1": 2 * share / (1 + share),
    }
    confusion = confusion_matrix(labels, flagged, labels=[0, 1])
    for i in (0, 1):
        for j in (0, 1):
            metrics[f"confusion.{i}.{j}"] = float(confusion[i, j])
    return metrics
