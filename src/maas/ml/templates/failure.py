"""Failure prediction: a cross-fitted LightGBM classifier of machine failure from process readings.

The template learns whether (or how) a machine fails from one row of process readings, with
three things on top of plain gradient boosting:

- **Generic interactions** (``maas.ml.templates.interactions``). Each model also sees, for every
  pair of numeric inputs, their difference, product and both ratios, so that a failure depending
  on a temperature gap, a power or a wear-load is not learnt as a staircase. No reading is
  named: with more than ``max_interaction_inputs`` numeric inputs, the pairs are taken among
  those a plain model ranks highest on that fold model's own training rows.
- **Cross-fitting.** The rows are split into ``cv_folds`` stratified folds; one model is
  trained per fold on the other folds, and scores the rows of its own fold, which it never saw.
  Those out-of-fold scores choose the probability calibration and the decision threshold, and
  give the reported metrics; the served model averages the fold models' log-odds.
- **Calibration and threshold.** The averaged log-odds are mapped to probabilities by a
  scaling fitted on the out-of-fold scores (Platt scaling; for several classes a shared scale
  and one bias per class), and for two classes the minority (failure) class is predicted when
  its probability reaches the threshold that maximises its F1 on the out-of-fold rows.

Everything learnt is JSON (boosters as LightGBM model text, interactions as ``[op, i, j]``),
served by the ``template`` runtime through ``FailurePrediction.from_state``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from maas.domain.signature import ColumnType, Output, Signature, Task
from maas.errors import InvalidParameterError, SchemaMismatchError, UnsupportedFormatError
from maas.ml.features import encode_frame, infer_columns, select_features
from maas.ml.lightgbm_native import NativeBooster, NativeLightGBMError
from maas.ml.plots import classifier_plots
from maas.ml.prediction import Prediction
from maas.ml.templates.artifact import TEMPLATE_ARTIFACT, dump_template_artifact
from maas.ml.templates.base import (
    MIN_ROWS,
    Template,
    TemplateSpec,
    TrainedModel,
    encode_class_target,
    label_metrics,
)
from maas.ml.templates.calibration import best_f1_threshold, fit_scaling, softmax
from maas.ml.templates.interactions import (
    Interaction,
    as_written,
    derive,
    dump_interactions,
    load_interactions,
    pairs_of,
    to_inputs,
)

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["FailureModel", "FailurePrediction", "FailurePredictionParams"]

_STATE_VERSION = 1
_SELECTION_ROUNDS = 50
"""Boosting rounds of the plain model that ranks the numeric inputs when there are too many."""


class FailurePredictionParams(BaseModel):
    """Parameters of the failure-prediction template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_estimators: int = Field(300, ge=1, le=5000)
    """Boosting rounds (trees per class) of each fold model."""
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    """Shrinkage applied to each tree."""
    num_leaves: int = Field(15, ge=2, le=1024)
    """Maximum leaves per tree."""
    cv_folds: int = Field(5, ge=2, le=10)
    """Folds of the cross-fitting: models trained, and rows each scores out of fold."""
    interactions: bool = True
    """Whether each model also sees the difference, product and ratios of numeric input pairs."""
    max_interaction_inputs: int = Field(8, ge=2, le=30)
    """At most this many numeric inputs are paired (4 derived features per pair)."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the folds and of LightGBM; the same seed gives the same artifact."""


class FailureModel:
    """The served failure model: fold boosters, their interactions, calibration, threshold.

    ``predict_matrix`` is the ``template`` runtime's predictor contract; it keeps no mutable
    state, and LightGBM prediction is thread-safe, so concurrent calls are safe. Each row is
    predicted on its own (``row_wise``), so the server may batch concurrent requests.
    """

    row_wise = True

    def __init__(
        self,
        *,
        classes: list[str],
        n_inputs: int,
        members: list[tuple[lgb.Booster | NativeBooster, list[Interaction]]],
        scale: float,
        bias: list[float],
        positive: int | None,
        threshold: float | None,
    ) -> None:
        self.classes = classes
        self.n_inputs = n_inputs
        self.members = members
        self.scale = scale
        self.bias = np.asarray(bias, dtype=np.float64)
        self.positive = positive
        self.threshold = threshold
        self._maps = [to_inputs(n_inputs, interactions) for _, interactions in members]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Calibrated logits ``(n, n_classes)`` (a binary model's first column is 0)."""
        return self.scale * self._raw(self._matrix(x)) + self.bias

    def predict_matrix(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Predict for an encoded input matrix (one column per signature input).

        Raises:
            SchemaMismatchError: ``x`` is not a 2-D numeric array with one column per input.
        """
        x = self._matrix(x)
        logits = self.scale * self._raw(x) + self.bias
        proba = softmax(logits)
        chosen = self._decide(proba)
        contributions = self._contributions(x, chosen) if explain else None
        return Prediction(
            predictions=np.asarray(self.classes, dtype=object)[chosen],
            probabilities=proba,
            contributions=contributions,
        )

    def input_importance(self) -> np.ndarray:
        """Each input's share of the total split gain of all fold models (derived features'
        gain split evenly between their two inputs); all zeros when no fold model ever split
        (``TrainedModel.feature_importance``)."""
        gain = np.zeros(self.n_inputs)
        for (booster, _), m in zip(self.members, self._maps, strict=True):
            gain += booster.feature_importance(importance_type="gain") @ m[:-1, :-1]
        total = float(gain.sum())
        return gain / total if total > 0 else np.zeros(self.n_inputs)

    def _decide(self, proba: np.ndarray) -> np.ndarray:
        if self.positive is None or self.threshold is None:
            return np.asarray(np.argmax(proba, axis=1))
        hit = proba[:, self.positive] >= self.threshold
        return np.where(hit, self.positive, 1 - self.positive).astype(np.intp)

    def _matrix(self, x: np.ndarray) -> np.ndarray:
        try:
            x = as_written(x)
        except (TypeError, ValueError) as exc:
            raise SchemaMismatchError(
                "The failure model takes numbers only (categories as their index).",
                field="inputs",
                expected="numeric values",
                received="non-numeric values",
            ) from exc
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise SchemaMismatchError(
                f"The model takes {self.n_inputs} input columns. Got an array of shape "
                f"{x.shape} instead.",
                field="inputs",
                expected=f"(n, {self.n_inputs})",
                received=str(x.shape),
            )
        return x

    def _raw(self, x: np.ndarray) -> np.ndarray:
        """The fold models' mean raw score, as logits ``(n, n_classes)``."""
        total = np.zeros((len(x), len(self.classes)))
        if len(x) == 0:
            return total
        for booster, interactions in self.members:
            total += _as_logits(booster.predict(derive(x, interactions), raw_score=True))
        return total / len(self.members)

    def _contributions(self, x: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        k = len(self.classes)
        out = np.zeros((len(x), self.n_inputs + 1))
        if len(x) == 0:
            return out
        # Binary: towards the log-odds of the second class; else towards the predicted class.
        target = np.ones(len(x), dtype=np.intp) if k == 2 else chosen
        for (booster, interactions), m in zip(self.members, self._maps, strict=True):
            raw = np.asarray(booster.predict(derive(x, interactions), pred_contrib=True))
            if k > 2:
                raw = raw.reshape(len(x), k, -1)[np.arange(len(x)), target]
            out += raw @ m
        out *= self.scale / len(self.members)
        out[:, -1] += self.bias[target]  # bias[0] is 0: a binary model's logits are [0, z]
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> FailureModel:
        """Rebuild the model from the JSON state ``FailurePrediction`` wrote.

        Raises:
            UnsupportedFormatError: the state is not one this version wrote, a booster does not
                parse, the calibration is not a positive finite scale with finite biases, the
                threshold is not in [0, 1], or the state does not fit ``signature`` (inputs,
                classes).
        """
        try:
            return cls._from_state(state, signature)
        except (KeyError, TypeError, ValueError, IndexError, NativeLightGBMError) as exc:
            raise UnsupportedFormatError(
                f"The failure-prediction state is not readable: {exc}.",
                field="state",
                expected=f"a failure_prediction state, version {_STATE_VERSION}",
                received=type(exc).__name__,
            ) from exc

    @classmethod
    def _from_state(cls, state: dict[str, Any], signature: Signature) -> FailureModel:
        if state["state_version"] != _STATE_VERSION:
            raise ValueError(f"state_version {state['state_version']!r} is not {_STATE_VERSION}")
        classes, n_inputs = list(state["classes"]), int(state["n_inputs"])
        if classes != signature.classes or n_inputs != len(signature.inputs):
            raise ValueError(
                f"{n_inputs} inputs and classes {classes} do not match the signature's "
                f"{len(signature.inputs)} inputs and classes {signature.classes}"
            )
        members: list[tuple[lgb.Booster | NativeBooster, list[Interaction]]] = []
        for member in state["members"]:
            interactions = load_interactions(member["interactions"], n_inputs)
            # served through the C API: no per-call overhead, one thread for small batches
            booster = NativeBooster(str(member["booster"]))
            per_round = 1 if len(classes) == 2 else len(classes)
            if (
                booster.num_feature() != n_inputs + len(interactions)
                or booster.num_model_per_iteration() != per_round
            ):
                raise ValueError("a booster does not fit its inputs, interactions or classes")
            members.append((booster, interactions))
        if not members:
            raise ValueError("there are no fold models")
        positive, threshold = state["positive"], state["threshold"]
        if (positive is None) != (threshold is None) or (
            positive is not None and (len(classes) != 2 or type(positive) is not int)
        ):
            raise ValueError("positive class and threshold must come together, for two classes")
        if threshold is not None:
            threshold = float(threshold)
            if positive not in (0, 1) or not 0.0 <= threshold <= 1.0:
                raise ValueError("the positive class must be 0 or 1, the threshold in [0, 1]")
        bias = [float(b) for b in state["bias"]]
        if len(bias) != len(classes) or not all(math.isfinite(b) for b in bias):
            raise ValueError(f"{len(bias)} biases for {len(classes)} classes, or not finite")
        # A scale that is not positive would invert or erase the ranking of the scores; the
        # calibration only fits positive ones (calibration.fit_scaling).
        scale = float(state["scale"])
        if not (math.isfinite(scale) and scale > 0.0):
            raise ValueError(f"scale {scale} is not a positive number")
        return cls(
            classes=classes,
            n_inputs=n_inputs,
            members=members,
            scale=scale,
            bias=bias,
            positive=positive,
            threshold=threshold,
        )


class FailurePrediction(Template):
    """Predict whether (or how) a machine fails, from one row of process readings.

    See the module docstring for the method. Binary for a 0/1 failure flag (the rarer class is
    the "failure" whose F1 the threshold maximises), multiclass for failure modes. Rare classes
    are up-weighted in training by the square root of their imbalance.

    Metrics, all on out-of-fold rows (each scored by the fold model that did not see it):
    ``roc_auc``, ``pr_auc`` (average precision of the failure class, macro over classes when
    multiclass), ``f1``, ``precision``, ``recall`` of the failure class (macro F1 when
    multiclass), ``accuracy``, ``macro_f1``, ``recall.<class>``,
    ``confusion.<true>.<predicted>``; the naive answers' ``baseline_pr_auc`` (the failure share),
    ``baseline_f1``, ``baseline_accuracy``, ``baseline_macro_f1`` (always the training majority
    class); ``threshold`` when binary. The threshold-dependent metrics are honest too: each
    fold's rows are decided with a threshold chosen on the other folds' rows. Plots (the same
    out-of-fold rows and decisions): ``confusion``; ``roc`` and ``pr`` of the failure class
    when binary.
    """

    spec = TemplateSpec(
        name="failure_prediction",
        task=Task.CLASSIFICATION,
        description=(
            "Classify machine failure (or failure mode) from process readings with cross-fitted "
            "gradient-boosted trees over the readings and their pairwise differences, products "
            "and ratios; calibrated probabilities and a decision threshold tuned for F1."
        ),
        params=FailurePredictionParams,
    )

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        cv_folds: int = 5,
        interactions: bool = True,
        max_interaction_inputs: int = 8,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.cv_folds = cv_folds
        self.interactions = interactions
        self.max_interaction_inputs = max_interaction_inputs
        self.seed = seed

    def fit(
        self,
        df: pd.DataFrame,
        target: str = "machine_failure",
        features: Sequence[str] | None = None,
    ) -> Self:
        """Learn to predict column ``target`` (default ``machine_failure``) of ``df``.

        Raises:
            InvalidParameterError: a parameter is invalid, too few rows, a single class, a
                class with fewer than ``MIN_CLASS_ROWS`` rows (or than ``cv_folds``), or
                missing target values.
            SchemaMismatchError: a column is missing or of a type the template cannot use.
        """
        params: FailurePredictionParams = self._validated_params()
        names = select_features(df, target, features)
        inputs = infer_columns(df, names)
        if len(df) < MIN_ROWS:
            raise InvalidParameterError(
                f"Template {self.spec.name!r} needs at least {MIN_ROWS} rows. "
                f"Got {len(df)} instead.",
                field="rows",
                expected=f">= {MIN_ROWS}",
                received=len(df),
            )
        y, classes = encode_class_target(df[target], target)
        counts = np.bincount(y, minlength=len(classes))
        if counts.min() < params.cv_folds:
            raise InvalidParameterError(
                f"Each class of target column {target!r} needs at least cv_folds="
                f"{params.cv_folds} rows. Got {int(counts.min())} instead.",
                field=target,
                expected=f">= {params.cv_folds} rows per class",
                received=f"{int(counts.min())} rows of class {classes[int(np.argmin(counts))]!r}",
            )
        signature = Signature(
            inputs=inputs,
            outputs=[
                Output(name="predictions", dtype=ColumnType.STRING),
                Output(name="probabilities", dtype=ColumnType.FLOAT, shape=[-1, len(classes)]),
            ],
            task=Task.CLASSIFICATION,
            classes=classes,
        )
        x = as_written(encode_frame(df, signature))
        trainer = _FoldTrainer(params, signature, len(classes))
        import lightgbm as lgb
        from sklearn.model_selection import StratifiedKFold

        folds = StratifiedKFold(params.cv_folds, shuffle=True, random_state=params.seed)
        fold_of = np.empty(len(y), dtype=np.intp)
        oof = np.empty((len(y), len(classes)))
        members: list[tuple[lgb.Booster, list[Interaction]]] = []
        for f, (train, valid) in enumerate(folds.split(x, y)):
            booster, interactions = trainer.train(x[train], y[train])
            members.append((booster, interactions))
            oof[valid] = _as_logits(booster.predict(derive(x[valid], interactions), raw_score=True))
            fold_of[valid] = f
        scale, bias = fit_scaling(oof, y)
        proba = softmax(scale * oof + bias)
        positive, threshold = None, None
        if len(classes) == 2:
            positive = 1 if counts[1] <= counts[0] else 0  # the rarer class; a tie: the second
            threshold = best_f1_threshold(y == positive, proba[:, positive])
        self.state_ = {
            "state_version": _STATE_VERSION,
            "classes": classes,
            "n_inputs": len(inputs),
            "members": [
                {
                    "interactions": dump_interactions(interactions),
                    "booster": booster.model_to_string(),
                }
                for booster, interactions in members
            ],
            "scale": scale,
            "bias": bias.tolist(),
            "positive": positive,
            "threshold": threshold,
            "library_versions": {"lightgbm": lgb.__version__},
        }
        self.model_ = FailureModel.from_state(self.state_, signature)
        self.signature_ = signature
        self.feature_names_in_ = names
        self.target_ = target
        self.params_ = params
        self.threshold_ = threshold
        self.positive_ = positive
        self.interactions_ = [
            [i.describe(names) for i in interactions] for _, interactions in members
        ]
        self.metrics_, self.plots_ = _oof_metrics(y, proba, fold_of, classes, positive)
        if threshold is not None:
            self.metrics_["threshold"] = threshold
        self.metrics_ |= {"n_rows": float(len(y)), "cv_folds": float(params.cv_folds)}
        return self

    @property
    def classes_(self) -> list[str]:
        """The class labels, in the order of the probability columns."""
        self._check_fitted()
        assert self.signature_.classes is not None  # a classification signature has classes
        return self.signature_.classes

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Return the calibrated class probabilities ``(n, n_classes)``, in ``classes_`` order.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        proba = self._served(df).probabilities
        assert proba is not None
        return proba

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Return the predicted class label (``str``) of each row.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        return np.asarray(self._served(df).predictions)

    def decision_function(self, df: pd.DataFrame) -> np.ndarray:
        """Return calibrated log-odds of the second class ``(n,)``, or logits ``(n, k)``.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        self._check_fitted()
        logits = self.model_.logits(encode_frame(df, self.signature_))
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return contributions to the calibrated log-odds, shape ``(n, n_inputs + 1)``.

        Binary: each row adds up to the log-odds of the second class (``decision_function``);
        multiclass: to the calibrated logit of the row's predicted class. A derived feature's
        contribution is split evenly between its two inputs; the last column is the bias.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        contributions = self._served(df, explain=True).contributions
        assert contributions is not None
        return contributions

    def to_trained_model(self) -> TrainedModel:
        """Package the fold models, calibration and threshold as a ``template`` artifact.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """
        self._check_fitted()
        importance = sorted(
            zip(self.feature_names_in_, self.model_.input_importance().tolist(), strict=True),
            key=lambda item: -item[1],
        )
        return TrainedModel(
            artifact=dump_template_artifact(self.spec.name, self.state_),
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
    def from_state(cls, state: dict[str, Any], signature: Signature) -> FailureModel:
        """Rebuild the served model from an artifact's JSON state.

        Raises:
            UnsupportedFormatError: the state is not one this version wrote, or does not fit
                ``signature``.
        """
        return FailureModel.from_state(state, signature)

    def _served(self, df: pd.DataFrame, *, explain: bool = False) -> Prediction:
        self._check_fitted()
        return self.model_.predict_matrix(encode_frame(df, self.signature_), explain=explain)


class _FoldTrainer:
    """Trains one fold model: picks its interactions on its own rows, then boosts."""

    def __init__(self, params: FailurePredictionParams, signature: Signature, k: int) -> None:
        self.params = params
        self.k = k
        inputs = signature.inputs
        self.numeric = [i for i, c in enumerate(inputs) if c.dtype in _NUMERIC]
        self.categorical = [i for i, c in enumerate(inputs) if c.dtype is ColumnType.CATEGORY]

    def train(self, x: np.ndarray, y: np.ndarray) -> tuple[lgb.Booster, list[Interaction]]:
        interactions = self._interactions(x, y) if self.params.interactions else []
        booster = self._boost(derive(x, interactions), y, self.params.n_estimators)
        return booster, interactions

    def _interactions(self, x: np.ndarray, y: np.ndarray) -> list[Interaction]:
        most = self.params.max_interaction_inputs
        gain = None
        if len(self.numeric) > most:
            gain = self._boost(x, y, _SELECTION_ROUNDS).feature_importance(importance_type="gain")
        return pairs_of(self.numeric, most, gain)

    def _boost(self, x: np.ndarray, y: np.ndarray, rounds: int) -> lgb.Booster:
        counts = np.bincount(y, minlength=self.k)
        # The square root of sklearn's "balanced" weights: rare classes count more, but not so
        # much that the ranking near the top suffers; the tuned threshold does the rest.
        weight = np.sqrt(len(y) / (self.k * np.maximum(counts, 1)))[y]
        objective: dict[str, Any] = (
            {"objective": "binary"}
            if self.k == 2
            else {"objective": "multiclass", "num_class": self.k}
        )
        import lightgbm as lgb

        dataset = lgb.Dataset(
            x, label=y, weight=weight, categorical_feature=self.categorical or "auto"
        )
        return lgb.train(
            {
                **objective,
                "learning_rate": self.params.learning_rate,
                "num_leaves": self.params.num_leaves,
                "seed": self.params.seed,
                "deterministic": True,
                "force_col_wise": True,
                "verbose": -1,
                # One thread: training runs beside live serving on small machines.
                "num_threads": 1,
            },
            dataset,
            num_boost_round=rounds,
        )


_NUMERIC = (ColumnType.FLOAT, ColumnType.INT)


def _as_logits(raw: Any) -> np.ndarray:
    """LightGBM raw scores as ``(n, k)`` logits; a binary score ``z`` becomes ``[0, z]``."""
    scores = np.asarray(raw, dtype=np.float64)
    if scores.ndim == 1:
        return np.column_stack([np.zeros_like(scores), scores])
    return scores


def _oof_metrics(
    y: np.ndarray,
    proba: np.ndarray,
    fold_of: np.ndarray,
    classes: list[str],
    positive: int | None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The metrics of the out-of-fold rows, and their plots (``maas.ml.plots``)."""
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    k = len(classes)
    majority = int(np.argmax(np.bincount(y, minlength=k)))
    if positive is None:
        predicted = np.argmax(proba, axis=1)
        metrics = label_metrics(y, predicted, classes, majority)
        onehot = np.eye(k)[y]
        return metrics | {
            "roc_auc": float(roc_auc_score(y, proba, multi_class="ovr")),
            "pr_auc": float(average_precision_score(onehot, proba)),
            "f1": metrics["macro_f1"],
            "baseline_pr_auc": float(onehot.mean()),
            "baseline_f1": metrics["baseline_macro_f1"],
        }, classifier_plots(y, predicted, classes)
    truth, score = y == positive, proba[:, positive]
    hit = np.empty(len(y), dtype=bool)
    for f in np.unique(fold_of):
        own = fold_of == f
        # Each fold's rows are decided with a threshold chosen on the other folds' rows.
        threshold = best_f1_threshold(truth[~own], score[~own])
        hit[own] = score[own] >= threshold
    predicted = np.where(hit, positive, 1 - positive)
    metrics = label_metrics(y, predicted, classes, majority)
    baseline = np.full_like(y, majority)
    return metrics | {
        "roc_auc": float(roc_auc_score(truth, score)),
        "pr_auc": float(average_precision_score(truth, score)),
        "f1": float(f1_score(truth, hit, zero_division=0.0)),
        "precision": float(np.mean(truth[hit])) if hit.any() else 0.0,
        "recall": float(np.mean(hit[truth])),
        "baseline_pr_auc": float(truth.mean()),
        "baseline_f1": float(f1_score(truth, baseline == positive, zero_division=0.0)),
    }, classifier_plots(y, predicted, classes, score=score, positive=positive)
