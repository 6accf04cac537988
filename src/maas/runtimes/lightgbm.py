"""The LightGBM runtime: JSON envelopes holding a booster's text dump, never pickle.

An artifact is UTF-8 JSON::

    {"maas_artifact": "lightgbm", "artifact_version": 1,
     "task": "classification" | "regression",
     "classes": [...] | null,       # labels in the order of the booster's outputs
     "threshold": float | null,     # binary only: predict classes[1] when P(classes[1]) >= it
     "booster": "<Booster.model_to_string() text>",
     "library_versions": {...}}

``dump_lightgbm_artifact`` (defined with the templates that write it, re-exported here) writes
one. Loading parses the JSON and the booster text; nothing in the bytes is executed. Boosters
predict through LightGBM's C API (``ml.lightgbm_native``), so serving needs neither the
``lightgbm`` Python package nor what it imports (scikit-learn, SciPy, pandas).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from maas.domain.signature import Signature, Task
from maas.errors import ModelExecutionError, SchemaMismatchError, UnsupportedFormatError
from maas.ml.lightgbm_native import NativeBooster, NativeLightGBMError
from maas.ml.templates.artifact import LIGHTGBM_ARTIFACT, LIGHTGBM_ARTIFACT_VERSION
from maas.runtimes.base import Prediction

__all__ = ["LightGBMPredictor", "LightGBMRuntime", "dump_lightgbm_artifact"]

_BINARY_OBJECTIVES = ("binary", "cross_entropy", "xentropy")
_MULTICLASS_OBJECTIVES = ("multiclass", "softmax", "multiclassova", "ova", "ovr")


def dump_lightgbm_artifact(
    booster: Any, *, task: Task | str, classes: list[str] | None, threshold: float | None
) -> bytes:
    """``maas.ml.templates.base.dump_lightgbm_artifact``, re-exported. The training code (and
    with it the ``lightgbm`` package) is imported on the first call only."""
    from maas.ml.templates.base import dump_lightgbm_artifact as dump

    return dump(booster, task=task, classes=classes, threshold=threshold)


class LightGBMRuntime:
    """Loads LightGBM JSON envelopes (format ``"lightgbm"``)."""

    format = LIGHTGBM_ARTIFACT

    def load(self, data: bytes, signature: Signature) -> LightGBMPredictor:
        """Parse the envelope and its booster, and check them against ``signature``.

        Raises:
            UnsupportedFormatError: ``data`` is not a LightGBM envelope this version reads, its
                booster text does not parse, or it does not match ``signature`` (number of
                inputs, task, classes).
        """
        envelope = _read_envelope(data)
        try:
            booster = NativeBooster(envelope["booster"])
        except NativeLightGBMError as exc:
            raise _refuse("its booster text does not parse", field="booster") from exc
        task = Task(envelope["task"])
        classes: list[str] | None = envelope["classes"]
        _check_against_signature(booster, task, classes, signature)
        _check_objective(booster, envelope["booster"], task, classes)
        return LightGBMPredictor(signature, booster, classes, envelope["threshold"])


class LightGBMPredictor:
    """A loaded booster; ``predict`` is safe to call from several threads at once (see
    ``ml.lightgbm_native``), and rows are predicted independently of each other, so requests
    may be batched together (``row_wise``)."""

    row_wise = True

    def __init__(
        self,
        signature: Signature,
        booster: NativeBooster,
        classes: list[str] | None,
        threshold: float | None,
    ) -> None:
        self.signature = signature
        self._booster = booster
        self._n_features = booster.num_feature()
        self._classes = None if classes is None else np.asarray(classes, dtype=object)
        self._threshold = 0.5 if threshold is None else threshold

    def predict(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Predict for the rows of ``x`` (float32, one column per signature input).

        Raises:
            SchemaMismatchError: ``x`` is not a 2-D numeric array with one column per input.
            ModelExecutionError: LightGBM failed on this input.
        """
        x = self._as_matrix(x)
        if len(x) == 0:
            return self._empty(explain)
        try:
            raw = self._booster.predict(x)
            contributions = self._booster.predict(x, pred_contrib=True) if explain else None
        except NativeLightGBMError as exc:
            raise ModelExecutionError(f"LightGBM failed to predict: {exc}") from exc
        if self._classes is None:
            return Prediction(predictions=raw, contributions=contributions)
        if raw.ndim == 1:
            probabilities = np.empty((len(raw), 2))
            np.subtract(1.0, raw, out=probabilities[:, 0])
            probabilities[:, 1] = raw
            chosen = (raw >= self._threshold).astype(np.intp)
        else:
            probabilities = raw
            chosen = np.argmax(raw, axis=1)
            if contributions is not None:
                per_class = contributions.reshape(len(x), len(self._classes), -1)
                contributions = per_class[np.arange(len(x)), chosen]
        return Prediction(
            predictions=self._classes[chosen],
            probabilities=probabilities,
            contributions=contributions,
        )

    def _as_matrix(self, x: np.ndarray) -> np.ndarray:
        if isinstance(x, np.ndarray) and x.dtype == np.float32:
            if x.ndim == 2 and x.shape[1] == self._n_features:
                return x
        try:
            x = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise SchemaMismatchError(
                "LightGBM models take numbers only (categories as their index).",
                field="inputs",
                expected="numeric values",
                received="non-numeric values",
            ) from exc
        if x.ndim != 2 or x.shape[1] != self._n_features:
            raise SchemaMismatchError(
                f"The model takes {self._n_features} input columns. Got an array of shape "
                f"{x.shape} instead.",
                field="inputs",
                expected=f"(n, {self._n_features})",
                received=str(x.shape),
            )
        return x

    def _empty(self, explain: bool) -> Prediction:
        contributions = np.empty((0, self._n_features + 1)) if explain else None
        if self._classes is None:
            return Prediction(predictions=np.empty(0), contributions=contributions)
        return Prediction(
            predictions=np.empty(0, dtype=object),
            probabilities=np.empty((0, len(self._classes))),
            contributions=contributions,
        )


def _read_envelope(data: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refuse("it is not UTF-8 JSON") from exc
    if not isinstance(envelope, dict) or envelope.get("maas_artifact") != LIGHTGBM_ARTIFACT:
        raise _refuse('it lacks "maas_artifact": "lightgbm"', field="maas_artifact")
    if envelope.get("artifact_version") != LIGHTGBM_ARTIFACT_VERSION:
        raise _refuse(
            f"its artifact_version is {envelope.get('artifact_version')!r}; this server reads "
            f"{LIGHTGBM_ARTIFACT_VERSION}",
            field="artifact_version",
        )
    task, classes, threshold = (
        envelope.get("task"),
        envelope.get("classes"),
        envelope.get("threshold"),
    )
    if task not in (Task.CLASSIFICATION.value, Task.REGRESSION.value):
        raise _refuse(f"its task {task!r} is not classification or regression", field="task")
    if task == Task.CLASSIFICATION.value and not (
        isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)
    ):
        raise _refuse("a classifier needs two or more string classes", field="classes")
    if task == Task.REGRESSION.value and classes is not None:
        raise _refuse("a regressor has no classes", field="classes")
    if threshold is not None and not (
        isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and 0.0 <= threshold <= 1.0
        and classes is not None
        and len(classes) == 2
    ):
        raise _refuse("its threshold must be a number in [0, 1] for two classes", field="threshold")
    if not isinstance(envelope.get("booster"), str):
        raise _refuse("its booster is not model text", field="booster")
    return envelope


def _check_against_signature(
    booster: NativeBooster, task: Task, classes: list[str] | None, signature: Signature
) -> None:
    if booster.num_feature() != len(signature.inputs):
        raise UnsupportedFormatError(
            f"The booster takes {booster.num_feature()} features but the signature has "
            f"{len(signature.inputs)} inputs.",
            field="inputs",
            expected=booster.num_feature(),
            received=len(signature.inputs),
        )
    if signature.task is not task:
        raise UnsupportedFormatError(
            f"The artifact is a {task.value} model but the signature says {signature.task.value}.",
            field="task",
            expected=task.value,
            received=signature.task.value,
        )
    if signature.classes != classes:
        raise UnsupportedFormatError(
            f"The artifact's classes {classes} differ from the signature's {signature.classes}.",
            field="classes",
            expected=classes,
            received=signature.classes,
        )


def _check_objective(
    booster: NativeBooster, text: str, task: Task, classes: list[str] | None
) -> None:
    """Check the booster's outputs mean what the envelope says (probabilities per class...)."""
    objective = _header_value(text, "objective")
    per_iteration = booster.num_model_per_iteration()
    if classes is None:
        ok = objective not in _BINARY_OBJECTIVES + _MULTICLASS_OBJECTIVES and per_iteration == 1
        expected = "a regression objective"
    elif len(classes) == 2:
        ok = objective in _BINARY_OBJECTIVES and per_iteration == 1
        expected = "objective binary"
    else:
        ok = objective in _MULTICLASS_OBJECTIVES and per_iteration == len(classes)
        expected = f"objective multiclass with num_class={len(classes)}"
    if not ok:
        raise UnsupportedFormatError(
            f"The booster (objective {objective!r}, {per_iteration} trees per iteration) does not "
            f"fit a {task.value} artifact with classes {classes}.",
            field="booster",
            expected=expected,
            received=f"objective {objective!r}, {per_iteration} trees per iteration",
        )


def _header_value(text: str, key: str) -> str | None:
    """The first word of ``key=...`` in the booster text's header (before the first tree)."""
    prefix = key + "="
    for line in text.partition("\nTree=")[0].splitlines():
        if line.startswith(prefix):
            words = line[len(prefix) :].split()
            return words[0] if words else None
    return None


def _refuse(reason: str, *, field: str | None = None) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"The artifact is not a readable LightGBM envelope: {reason}.",
        field=field,
        expected="a maas LightGBM JSON envelope, artifact_version 1",
        received=reason,
    )
