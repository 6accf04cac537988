"""The template contract: sklearn-style estimators that train a model and hand back its artifact.

A template is a class with:

- ``spec``: a ``TemplateSpec`` naming it, its task, and the pydantic model of its parameters.
- ``__init__`` taking exactly the fields of ``spec.params`` as keyword arguments with the same
  defaults, stored unchanged as public attributes of the same name (validated in ``fit``, as
  sklearn does, so ``get_params`` always returns what was given).
- ``fit(df, target, features=None)``: learn from a frame and return ``self``; learned state ends
  in ``_`` (``signature_``, ``booster_``, ``metrics_``); the same parameters and seed give the same
  model, byte for byte.
- ``predict(df)``: labels (``str``) for a classifier, floats otherwise.
- ``explain(df)``: each input's additive contribution to the raw score, one row per row of
  ``df`` and one column per input plus a last column holding the expected value.
- ``to_trained_model()``: the artifact bytes and everything the registry stores with them,
  including the plot data (``maas.ml.plots``) of the held-out rows the metrics come from, kept
  at fit time. Artifacts are data, never pickle: loading one must not run code.

Before ``fit``, ``predict``, ``explain`` and ``to_trained_model`` raise ``NotFittedError``.

``BoostedTemplate`` is the shared machinery of the LightGBM templates; ``dump_lightgbm_artifact``
writes the JSON envelope that ``maas.runtimes.lightgbm`` reads back.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from maas.domain.signature import ColumnType, Output, Signature, Task
from maas.errors import InvalidParameterError, NotFittedError
from maas.ml.features import encode_frame, infer_columns, select_features
from maas.ml.templates.artifact import LIGHTGBM_ARTIFACT, LIGHTGBM_ARTIFACT_VERSION

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = [
    "LIGHTGBM_ARTIFACT",
    "LIGHTGBM_ARTIFACT_VERSION",
    "MAX_CLASSES",
    "MIN_CLASS_ROWS",
    "MIN_ROWS",
    "BoostedTemplate",
    "BoostingParams",
    "Template",
    "TemplateSpec",
    "TrainedModel",
    "check_classes_in_both_parts",
    "dump_lightgbm_artifact",
    "encode_class_target",
    "label_metrics",
    "validate_params",
]

MIN_ROWS = 50
"""Fewer rows than this cannot give both a model and a validation part worth reporting."""
MAX_CLASSES = 50
"""A classification target with more distinct values than this is not a set of classes."""
MIN_CLASS_ROWS = 5
"""Each class needs at least this many rows to be learnt and validated."""


class TemplateSpec(BaseModel):
    """What a template is: its name, its task, and the parameters it accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    task: Task
    description: str
    params: type[BaseModel]
    """The pydantic model validating the template's parameters; its defaults are the defaults."""


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted template's output: what the registry stores as a new version."""

    artifact: bytes
    format: str
    signature: Signature
    template: str
    """The ``spec.name`` of the template that trained it."""
    params: dict[str, Any] = field(default_factory=dict)
    """The validated parameters plus the target and feature columns used."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Scores on the held-out validation rows, with the naive baseline's next to them."""
    feature_importance: dict[str, float] = field(default_factory=dict)
    """Each input's share of what the model learnt from it (split gain for the boosted
    templates; each template's docstring says what it measures), summing to 1, largest first.

    All zeros means "no information", never a guess: the model learnt nothing that ranks its
    inputs (boosted trees that never split, as when every input is constant; an anomaly model
    whose training rows all score 0, every sensor at its median). A uniform share would claim
    that the inputs matter equally, which nothing showed. Per-term importance (the text
    template) lists no term at all in that case, as it has no positive term weight to share."""
    plots: dict[str, Any] = field(default_factory=dict)
    """Plot data of the same held-out rows as ``metrics`` (``roc``, ``pr``, ``confusion``,
    ``predicted_vs_true``, ``forecast``, ``scores``: see ``maas.ml.plots``); plain JSON."""


class Template(ABC):
    """Base of the training templates (see the module docstring for the contract)."""

    spec: ClassVar[TemplateSpec]

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters as given (validation happens in ``fit``)."""
        return {name: getattr(self, name) for name in self.spec.params.model_fields}

    def _validated_params(self) -> Any:
        """Validate the parameters against ``spec.params`` (``validate_params``).

        Raises:
            InvalidParameterError: a parameter is invalid, or several do not fit together.
        """
        return validate_params(self.spec, self.get_params())

    def _check_fitted(self) -> None:
        """Raise ``NotFittedError`` unless ``fit`` has run.

        Raises:
            NotFittedError: ``fit`` has not been called on this instance.
        """
        if not hasattr(self, "signature_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit first."
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def fit(self, df: pd.DataFrame, target: str, features: Sequence[str] | None = None) -> Self:
        """Learn from ``df`` to predict column ``target`` from ``features`` (default: the rest).

        Raises:
            InvalidParameterError: a parameter is invalid, or the data cannot train this template.
            SchemaMismatchError: a column is missing or of a type the template cannot use.
        """

    @abstractmethod
    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predict for each row of ``df``: labels for a classifier, floats otherwise.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """

    @abstractmethod
    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return the additive contributions to the raw score, shape ``(n, n_inputs + 1)``.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """

    @abstractmethod
    def to_trained_model(self) -> TrainedModel:
        """Package the fitted model for the registry.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """


class BoostingParams(BaseModel):
    """Parameters of the gradient-boosted templates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_estimators: int = Field(200, ge=1, le=5000)
    """Number of boosting rounds (trees per class)."""
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    """Shrinkage applied to each tree."""
    num_leaves: int = Field(31, ge=2, le=1024)
    """Maximum leaves per tree."""
    validation_fraction: float = Field(0.2, ge=0.05, le=0.5)
    """Share of rows held out to choose the decision threshold and report the metrics."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the split and of LightGBM; the same seed gives the same artifact."""


class BoostedTemplate(Template):
    """Shared machinery of the LightGBM templates: input inference, split, training, artifact.

    Subclasses set ``spec`` and implement the target-specific hooks: ``_encode_target``,
    ``_objective``, ``_evaluate``, ``predict``; and ``_decision_threshold`` when they have one.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        validation_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.validation_fraction = validation_fraction
        self.seed = seed

    def fit(self, df: pd.DataFrame, target: str, features: Sequence[str] | None = None) -> Self:
        """Learn from ``df`` to predict column ``target`` from ``features`` (default: the rest).

        The rows are split into a training part and a validation part
        (``validation_fraction``); the model is trained on the first and scored on the second.

        Raises:
            InvalidParameterError: a parameter is invalid, there are fewer than ``MIN_ROWS``
                rows, or the target cannot be learnt (one class, missing values, ...).
            SchemaMismatchError: a column is missing or of a type the template cannot use.
        """
        params: BoostingParams = self._validated_params()
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
        y, classes = self._encode_target(df[target], target)
        signature = Signature(
            inputs=inputs, outputs=_outputs(classes), task=self.spec.task, classes=classes
        )
        x = encode_frame(df, signature)
        import lightgbm as lgb
        from sklearn.model_selection import train_test_split

        train, valid = train_test_split(
            np.arange(len(df)),
            test_size=params.validation_fraction,
            random_state=params.seed,
            stratify=y if classes is not None else None,
        )
        if classes is not None:
            check_classes_in_both_parts(y[train], y[valid], classes, target)
        objective, weight = self._objective(y[train], classes)
        categorical = [i for i, c in enumerate(inputs) if c.dtype is ColumnType.CATEGORY]
        dataset = lgb.Dataset(
            x[train], label=y[train], weight=weight, categorical_feature=categorical or "auto"
        )
        booster = lgb.train(
            {
                **objective,
                "learning_rate": params.learning_rate,
                "num_leaves": params.num_leaves,
                "seed": params.seed,
                "deterministic": True,
                "force_col_wise": True,
                "verbose": -1,
                # One thread: training runs beside live serving on small machines, where OpenMP
                # spinning on every core stalls requests (and, oversubscribed, training too).
                "num_threads": 1,
            },
            dataset,
            num_boost_round=params.n_estimators,
        )
        self.booster_ = booster
        self.signature_ = signature
        self.feature_names_in_ = names
        self.target_ = target
        self.params_ = params
        self.metrics_, self.plots_ = self._evaluate(x[valid], y[valid], y[train])
        self.metrics_ |= {"n_train": float(len(train)), "n_validation": float(len(valid))}
        return self

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return the additive contributions to the raw score, shape ``(n, n_inputs + 1)``.

        The last column is the expected value; each row sums to the raw score (log-odds for a
        binary classifier, the prediction for a regressor).

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        x = self._encode(df)
        return np.asarray(self.booster_.predict(x, pred_contrib=True))

    def to_trained_model(self) -> TrainedModel:
        """Package the booster as a LightGBM JSON artifact with its signature and metrics.

        ``feature_importance`` is each input's share of the split gain; all zeros when no tree
        ever split (every input constant, say): no information, see ``TrainedModel``.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """
        self._check_fitted()
        gain = self.booster_.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        importance = sorted(
            zip(self.feature_names_in_, (float(g) / total for g in gain), strict=True),
            key=lambda item: -item[1],
        )
        return TrainedModel(
            artifact=dump_lightgbm_artifact(
                self.booster_,
                task=self.spec.task,
                classes=self.signature_.classes,
                threshold=self._decision_threshold(),
            ),
            format=LIGHTGBM_ARTIFACT,
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

    def _encode(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return encode_frame(df, self.signature_)

    def _decision_threshold(self) -> float | None:
        return None

    @abstractmethod
    def _encode_target(self, series: pd.Series, name: str) -> tuple[np.ndarray, list[str] | None]:
        """Return the target as LightGBM labels, and the class names for a classifier."""

    @abstractmethod
    def _objective(
        self, y_train: np.ndarray, classes: list[str] | None
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        """Return the LightGBM objective parameters and the training rows' weights, if any."""

    @abstractmethod
    def _evaluate(
        self, x_valid: np.ndarray, y_valid: np.ndarray, y_train: np.ndarray
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """Score ``self.booster_`` on the validation rows, next to a naive baseline.

        Returns the metrics and the plot data (``maas.ml.plots``) of those same rows.
        """


def validate_params(spec: TemplateSpec, params: dict[str, Any]) -> Any:
    """Validate ``params`` against ``spec.params`` and return the validated model.

    Raises:
        InvalidParameterError: a parameter is out of range or of the wrong type, or several
            do not fit together. The error names the first such parameter as ``field`` (for a
            rule across parameters, one of those its message names, with the values of all of
            them as ``received``: see ``_locate``) and lists every error in ``details``.
    """
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        located = [_locate(e, params, spec.params) for e in errors]
        name, received = located[0]
        raise InvalidParameterError(
            f"Parameter {name!r} of template {spec.name!r}: {errors[0]['msg']}. "
            f"Got {received!r} instead.",
            field=name,
            expected=errors[0]["msg"],
            received=received,
            details={
                "errors": [
                    {"field": field, "message": e["msg"], "received": repr(value)}
                    for e, (field, value) in zip(errors, located, strict=True)
                ]
            },
        ) from None


def check_classes_in_both_parts(
    y_train: np.ndarray, y_valid: np.ndarray, classes: list[str], target: str
) -> None:
    """Check that every class has rows in both the training and the validation part.

    Raises:
        InvalidParameterError: a class is absent from one part (named in the message).
    """
    for part, y in (("training", y_train), ("validation", y_valid)):
        counts = np.bincount(y, minlength=len(classes))
        if counts.min() == 0:
            absent = classes[int(np.argmin(counts))]
            raise InvalidParameterError(
                f"Class {absent!r} of target column {target!r} has too few rows to appear in the "
                f"{part} part; add rows of it or raise validation_fraction.",
                field=target,
                expected="every class in both the training and the validation part",
                received=f"no row of class {absent!r} in the {part} part",
            )


def encode_class_target(series: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Return a classification target as codes ``0..k-1`` (``int32``) and its class labels.

    Classes are in sorted order, or in category order for a categorical target; ``0.0``/``1.0``
    read from a CSV name the classes ``0`` and ``1``.

    Raises:
        InvalidParameterError: the target has missing values, fewer than 2 or more than
            ``MAX_CLASSES`` classes, or a class with fewer than ``MIN_CLASS_ROWS`` rows.
    """
    missing = int(series.isna().sum())
    if missing:
        raise InvalidParameterError(
            f"Target column {name!r} must have no missing values. Got {missing} instead.",
            field=name,
            expected="no missing values",
            received=f"{missing} missing",
        )
    if pd.api.types.is_float_dtype(series.dtype) and (series % 1 == 0).all():
        series = series.astype(np.int64)
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


def label_metrics(
    y: np.ndarray, predicted: np.ndarray, classes: Sequence[str], majority: int
) -> dict[str, float]:
    """Score predicted class codes against true ones, next to always answering ``majority``.

    Returns ``accuracy``, ``macro_f1``, ``recall.<class>`` per class, the confusion matrix as
    ``confusion.<true class>.<predicted class>`` (row counts), and ``baseline_accuracy``,
    ``baseline_macro_f1`` of the majority-class answer (the training part's majority class).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    labels = list(range(len(classes)))
    baseline = np.full_like(y, majority)
    recall = recall_score(y, predicted, labels=labels, average=None, zero_division=0.0)
    confusion = confusion_matrix(y, predicted, labels=labels)
    metrics = {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(
            f1_score(y, predicted, labels=labels, average="macro", zero_division=0.0)
        ),
        "baseline_accuracy": float(accuracy_score(y, baseline)),
        "baseline_macro_f1": float(
            f1_score(y, baseline, labels=labels, average="macro", zero_division=0.0)
        ),
    }
    metrics |= {f"recall.{c}": float(r) for c, r in zip(classes, recall, strict=True)}
    for i, true in enumerate(classes):
        for j, guess in enumerate(classes):
            metrics[f"confusion.{true}.{guess}"] = float(confusion[i, j])
    return metrics


def _locate(error: Any, params: dict[str, Any], model: type[BaseModel]) -> tuple[str, Any]:
    """The parameter a validation error of ``model`` is about, and the value it refused.

    A rule across parameters (a model validator) is located nowhere (``loc`` is ``()``): it is
    about the parameters its message names and refuses their values together. Its field is the
    first of them (by position in the message) that was given other than its default, as the
    one the caller most likely meant to change; else the first named. A message naming none is
    about ``"params"``, all of them.
    """
    if error["loc"]:
        return ".".join(str(p) for p in error["loc"]), error["input"]
    message = str(error["msg"])
    named = {
        m.start(): key
        for key in params
        if (m := re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", message)) is not None
    }
    if not named:
        return "params", params
    keys = [key for _, key in sorted(named.items())]
    fields = model.model_fields
    given = [k for k in keys if not _is_default(params[k], fields[k])]
    return (given or keys)[0], {key: params[key] for key in keys}


def _is_default(value: Any, field: FieldInfo) -> bool:
    try:
        return bool(value == field.get_default(call_default_factory=True))
    except (TypeError, ValueError):  # an array, say: compared element-wise, no single answer
        return False


def _outputs(classes: list[str] | None) -> list[Output]:
    if classes is None:
        return [Output(name="predictions", dtype=ColumnType.FLOAT)]
    return [
        Output(name="predictions", dtype=ColumnType.STRING),
        Output(name="probabilities", dtype=ColumnType.FLOAT, shape=[-1, len(classes)]),
    ]


def dump_lightgbm_artifact(
    booster: lgb.Booster,
    *,
    task: Task | str,
    classes: Sequence[str] | None,
    threshold: float | None,
) -> bytes:
    """Write ``booster`` as a LightGBM artifact: UTF-8 JSON holding the booster's text dump.

    The envelope is ``{"maas_artifact": "lightgbm", "artifact_version": 1, "task", "classes",
    "threshold", "booster", "library_versions"}``; keys are sorted so the same booster always
    gives the same bytes.

    Args:
        booster: the trained booster.
        task: ``classification`` or ``regression``.
        classes: the class labels in the order of the booster's outputs (classification only).
        threshold: for a binary classifier, the decision threshold on P(second class); ``None``
            means 0.5.

    Raises:
        InvalidParameterError: ``task``, ``classes`` and ``threshold`` do not fit together.
    """
    task = Task(task)
    if task is Task.CLASSIFICATION:
        if classes is None or len(classes) < 2:
            raise InvalidParameterError(
                "A classification artifact needs at least two classes.",
                field="classes",
                expected="two or more class labels",
                received=classes,
            )
        if threshold is not None and (len(classes) != 2 or not 0.0 <= threshold <= 1.0):
            raise InvalidParameterError(
                "A decision threshold applies to a binary classifier only and lies in [0, 1].",
                field="threshold",
                expected="a number in [0, 1] for two classes",
                received=threshold,
            )
    elif task is Task.REGRESSION:
        if classes is not None or threshold is not None:
            raise InvalidParameterError(
                "A regression artifact has no classes and no threshold.",
                field="classes",
                expected=None,
                received=classes,
            )
    else:
        raise InvalidParameterError(
            f"A LightGBM artifact is for classification or regression. Got {task.value} instead.",
            field="task",
            expected=["classification", "regression"],
            received=task.value,
        )
    import lightgbm as lgb

    envelope = {
        "maas_artifact": LIGHTGBM_ARTIFACT,
        "artifact_version": LIGHTGBM_ARTIFACT_VERSION,
        "task": task.value,
        "classes": None if classes is None else [str(c) for c in classes],
        "threshold": None if threshold is None else float(threshold),
        "booster": booster.model_to_string(),
        "library_versions": {"lightgbm": lgb.__version__, "maas": _maas_version()},
    }
    return json.dumps(envelope, sort_keys=True, ensure_ascii=False).encode("utf-8")


def _maas_version() -> str:
    try:
        return version("maas")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"
