"""The ONNX runtime: uploaded ONNX models run by onnxruntime on the CPU.

Loading refuses anything that is not a valid ONNX model, and any model whose tensors point to
external data: those would make onnxruntime open files named inside the upload.

Inputs, chosen once at load:

- one 2-D input whose last dimension is the number of signature inputs (or dynamic): the whole
  matrix is fed, cast to that input's element type (skl2onnx's default, ``X``);
- otherwise one input per signature column, with the same names, each of shape ``[n]`` or
  ``[n, 1]``; a ``tensor(string)`` input of a category column receives the category's name.

Outputs, for a classifier (``signature.classes`` in the model's class order):

- an output named like ``label`` / ``output_label`` gives the predicted classes; integer labels
  are the class values themselves when every class name is an integer, else indices into
  ``classes``;
- a float output named ``probabilities`` / ``output_probability`` (or any 2-D float output with
  one column per class) gives the probabilities; without labels, the most probable class is
  predicted. skl2onnx's ZipMap (a list of dicts) is refused: convert classifiers with
  ``options={id(model): {"zipmap": False}}``.

For any other task the first output, flattened to one value per row, is the prediction.
Explanations are not available for ONNX models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from maas.domain.signature import Column, ColumnType, Signature, Task
from maas.errors import (
    InvalidParameterError,
    ModelExecutionError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.runtimes.base import Prediction

__all__ = ["OnnxPredictor", "OnnxRuntime"]

_ORT_ERRORS: tuple[type[Exception], ...] = tuple(
    getattr(ort_state, name)
    for name in (
        "Fail",
        "InvalidArgument",
        "NoSuchFile",
        "NoModel",
        "EngineError",
        "RuntimeException",
        "InvalidProtobuf",
        "ModelLoaded",
        "NotImplemented",
        "InvalidGraph",
        "EPFail",
    )
    if hasattr(ort_state, name)
)
"""onnxruntime's exception classes (they derive from ``Exception`` only)."""

_ELEMENT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint64)": np.uint64,
    "tensor(uint32)": np.uint32,
    "tensor(uint16)": np.uint16,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}
_LABEL_NAMES = ("label", "output_label", "labels", "predicted_label")
_PROBABILITY_NAMES = ("probabilities", "output_probability", "probability", "probas")


class OnnxRuntime:
    """Loads ONNX models (format ``"onnx"``)."""

    format = "onnx"

    def load(self, data: bytes, signature: Signature) -> OnnxPredictor:
        """Check ``data`` is a self-contained ONNX model and map it onto ``signature``.

        Raises:
            UnsupportedFormatError: ``data`` does not parse or check as ONNX, refers to external
                data, cannot be loaded by onnxruntime, or its inputs or outputs do not fit
                ``signature`` (see the module docstring for the layouts accepted).
        """
        _check_model_bytes(data)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except _ORT_ERRORS as exc:
            raise UnsupportedFormatError(
                f"onnxruntime cannot load the model: {exc}",
                field="artifact",
                expected="an ONNX model onnxruntime runs on the CPU",
                received="a model onnxruntime refused",
            ) from exc
        feeds = _plan_inputs(session, signature)
        return OnnxPredictor(signature, session, feeds, _plan_outputs(session, signature))


@dataclass(frozen=True, slots=True)
class _Feed:
    """How to build one model input from the predictor's matrix."""

    name: str
    dtype: Any
    column: int | None
    """The signature column fed, or ``None`` to feed the whole matrix."""
    rank: int
    categories: np.ndarray | None = None
    """For a string input of a category column: index → category name."""


@dataclass(frozen=True, slots=True)
class _Outputs:
    """Which model outputs hold what."""

    value: str | None = None
    label: str | None = None
    probabilities: str | None = None

    @property
    def names(self) -> list[str]:
        return [n for n in (self.value, self.label, self.probabilities) if n is not None]


class OnnxPredictor:
    """A loaded ONNX session; ``predict`` is safe to call from several threads at once."""

    def __init__(
        self,
        signature: Signature,
        session: ort.InferenceSession,
        feeds: list[_Feed],
        outputs: _Outputs,
    ) -> None:
        self.signature = signature
        self._session = session
        self._feeds = feeds
        self._outputs = outputs
        classes = signature.classes or []
        self._classes = np.asarray(classes, dtype=object)
        # Integer labels name the classes themselves when every class is an integer
        # (skl2onnx emits sklearn's classes_ values); otherwise they index into the classes.
        self._labels_are_values = bool(classes) and all(_is_int(c) for c in classes)

    def predict(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Run the model on the rows of ``x`` (one column per signature input).

        Raises:
            InvalidParameterError: ``explain`` was asked (ONNX models cannot explain).
            SchemaMismatchError: a value cannot be given to the model's input type.
            ModelExecutionError: onnxruntime failed, or its outputs do not have the expected
                shape.
        """
        if explain:
            raise InvalidParameterError(
                "explanations are not available for onnx models",
                field="explain",
                expected=False,
                received=True,
            )
        x = np.asarray(x)
        inputs = {feed.name: self._feed_value(feed, x) for feed in self._feeds}
        try:
            results = dict(
                zip(
                    self._outputs.names, self._session.run(self._outputs.names, inputs), strict=True
                )
            )
        except _ORT_ERRORS as exc:
            raise ModelExecutionError(f"The ONNX model failed on this input: {exc}") from exc
        n = len(x)
        if self._outputs.value is not None:
            return Prediction(predictions=_per_row(results[self._outputs.value], n, 1)[:, 0])
        probabilities = None
        if self._outputs.probabilities is not None:
            probabilities = _per_row(results[self._outputs.probabilities], n, len(self._classes))
        if self._outputs.label is not None:
            labels = self._label_names(_per_row(results[self._outputs.label], n, 1)[:, 0])
        else:
            assert probabilities is not None  # _plan_outputs requires labels or probabilities
            labels = self._classes[np.argmax(probabilities, axis=1)]
        return Prediction(predictions=labels, probabilities=probabilities)

    def _feed_value(self, feed: _Feed, x: np.ndarray) -> np.ndarray:
        values = x if feed.column is None else x[:, feed.column]
        if feed.dtype is object:
            values = self._as_text(feed, values)
        elif np.issubdtype(feed.dtype, np.integer) or feed.dtype is np.bool_:
            values = _as_integers(feed, values)
        else:
            try:
                values = values.astype(feed.dtype)
            except (TypeError, ValueError) as exc:
                raise SchemaMismatchError(
                    f"Input {feed.name!r} of the model takes numbers.",
                    field=feed.name,
                    expected="numbers",
                    received="non-numeric values",
                ) from exc
        return values.reshape(-1, 1) if feed.column is not None and feed.rank == 2 else values

    def _as_text(self, feed: _Feed, values: np.ndarray) -> np.ndarray:
        if values.dtype == object:
            if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values):
                raise _missing(feed.name)
            if feed.categories is None:
                return values.astype(str).astype(object)
            return np.asarray(
                [feed.categories[int(v)] if isinstance(v, int | float) else str(v) for v in values],
                dtype=object,
            )
        if feed.categories is None:
            return values.astype(str).astype(object)
        if np.isnan(values).any():
            raise _missing(feed.name)
        return feed.categories[values.astype(np.intp)]

    def _label_names(self, labels: np.ndarray) -> np.ndarray:
        if labels.dtype == object or labels.dtype.kind == "U":
            return labels.astype(str).astype(object)
        if self._labels_are_values:
            return np.asarray([str(int(v)) for v in labels], dtype=object)
        index = labels.astype(np.intp)
        if len(index) and (index.min() < 0 or index.max() >= len(self._classes)):
            raise ModelExecutionError(
                f"The ONNX model returned class index {int(index.max())} but the signature has "
                f"{len(self._classes)} classes."
            )
        return self._classes[index]


def _check_model_bytes(data: bytes) -> None:
    """Parse and check ``data`` as ONNX, refusing external data before anything reads it."""
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, TypeError) as exc:
        raise _not_onnx("it does not parse") from exc
    for tensor in _all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            raise UnsupportedFormatError(
                f"The ONNX model stores tensor {tensor.name!r} outside the file (external "
                "data); upload a single self-contained .onnx file.",
                field="artifact",
                expected="all tensors inside the model file",
                received=f"external data for tensor {tensor.name!r}",
            )
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise _not_onnx(f"it fails the ONNX checker: {exc}") from exc


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of the model: initializers and node attributes, subgraphs and functions."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        sparse = [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []
        for tensor in [*sparse, *attribute.sparse_tensors]:
            yield from (tensor.values, tensor.indices)
        if attribute.HasField("g"):
            yield from _graph_tensors(attribute.g)
        for graph in attribute.graphs:
            yield from _graph_tensors(graph)


def _plan_inputs(session: ort.InferenceSession, signature: Signature) -> list[_Feed]:
    inputs = session.get_inputs()
    n_columns = len(signature.inputs)
    for arg in inputs:
        if arg.type not in _ELEMENT_TYPES:
            raise _misfit(f"input {arg.name!r} has type {arg.type}, which maas cannot feed")
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and _fits(inputs[0].shape[1], n_columns):
        if inputs[0].type == "tensor(string)":
            raise _misfit(f"its single input {inputs[0].name!r} is a string matrix")
        return [_Feed(inputs[0].name, _ELEMENT_TYPES[inputs[0].type], None, 2)]
    if sorted(arg.name for arg in inputs) != sorted(signature.input_names):
        raise _misfit(
            f"its inputs {[arg.name for arg in inputs]} are neither one [n, {n_columns}] matrix "
            f"nor one input per signature column {signature.input_names}"
        )
    position = {name: j for j, name in enumerate(signature.input_names)}
    feeds = []
    for arg in inputs:
        if len(arg.shape) not in (1, 2) or (len(arg.shape) == 2 and not _fits(arg.shape[1], 1)):
            raise _misfit(f"input {arg.name!r} has shape {arg.shape}, not [n] or [n, 1]")
        column = signature.inputs[position[arg.name]]
        feeds.append(
            _Feed(
                arg.name,
                _ELEMENT_TYPES[arg.type],
                position[arg.name],
                len(arg.shape),
                _category_names(column) if arg.type == "tensor(string)" else None,
            )
        )
    return feeds


def _plan_outputs(session: ort.InferenceSession, signature: Signature) -> _Outputs:
    outputs = session.get_outputs()
    if signature.task is not Task.CLASSIFICATION:
        first = outputs[0]
        if first.type not in _ELEMENT_TYPES or first.type == "tensor(string)":
            raise _misfit(f"its first output {first.name!r} is {first.type}, not numbers")
        return _Outputs(value=first.name)
    assert signature.classes is not None  # a classification signature has classes
    k = len(signature.classes)
    if any(arg.type.startswith("seq(map") for arg in outputs):
        raise _misfit(
            "its probabilities are a ZipMap (a list of dicts); convert the classifier with "
            "skl2onnx options={id(model): {'zipmap': False}}"
        )
    label = next(
        (a.name for a in outputs if a.name.lower() in _LABEL_NAMES and a.type in _ELEMENT_TYPES),
        None,
    )
    floats = [a for a in outputs if a.type in ("tensor(float)", "tensor(double)")]
    probabilities = next((a.name for a in floats if a.name.lower() in _PROBABILITY_NAMES), None)
    if probabilities is None:
        probabilities = next(
            (a.name for a in floats if len(a.shape) == 2 and a.shape[1] == k and a.name != label),
            None,
        )
    shape = next((a.shape for a in floats if a.name == probabilities), None)
    if shape is not None and (len(shape) != 2 or not _fits(shape[1], k)):
        raise _misfit(
            f"its output {probabilities!r} has shape {shape}, not [n, {k}] for {k} classes"
        )
    if label is None and probabilities is None:
        raise _misfit(
            f"a classifier needs a 'label' output or a float 'probabilities' output with {k} "
            f"columns; it has {[(a.name, a.type, a.shape) for a in outputs]}"
        )
    return _Outputs(label=label, probabilities=probabilities)


def _per_row(values: Any, n: int, width: int) -> np.ndarray:
    """``values`` as an ``(n, width)`` array, or ``ModelExecutionError``."""
    array = np.asarray(values)
    if array.size != n * width:
        raise ModelExecutionError(
            f"The ONNX model returned an output of shape {array.shape} for {n} rows; expected "
            f"{width} value(s) per row."
        )
    array = array.reshape(n, width)
    return array.astype(np.float64) if array.dtype.kind == "f" else array


def _as_integers(feed: _Feed, values: np.ndarray) -> np.ndarray:
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise SchemaMismatchError(
            f"Input {feed.name!r} of the model takes integers.",
            field=feed.name,
            expected="integers",
            received="non-numeric values",
        ) from exc
    if np.isnan(numbers).any():
        raise _missing(feed.name)
    return numbers.astype(feed.dtype)


def _category_names(column: Column) -> np.ndarray | None:
    if column.dtype is ColumnType.CATEGORY and column.categories is not None:
        return np.asarray(column.categories, dtype=object)
    return None


def _fits(dim: Any, size: int) -> bool:
    """Whether a declared dimension takes ``size`` (a symbolic or unknown one takes any)."""
    return not isinstance(dim, int) or dim == size


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _missing(name: str) -> SchemaMismatchError:
    return SchemaMismatchError(
        f"Input {name!r} of the model cannot take missing values.",
        field=name,
        expected="a value",
        received="missing",
    )


def _not_onnx(reason: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"The artifact is not a valid ONNX model: {reason}.",
        field="artifact",
        expected="an ONNX ModelProto",
        received=reason,
    )


def _misfit(reason: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"The ONNX model does not fit its signature: {reason}.",
        field="artifact",
        expected="inputs and outputs as described for the onnx format",
        received=reason,
    )
