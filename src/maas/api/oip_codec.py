"""Open Inference Protocol v2 bodies ↔ numpy arrays, JSON and binary; pure, no web framework.

The route hands over the raw body and the ``Inference-Header-Content-Length`` header and gets
back named numpy arrays; it hands over named arrays and gets back the body (and the header length
to send). Two encodings are supported, both per tensor:

- JSON: the tensor's ``data`` member, flat or nested in row-major order.
- Binary (Triton's binary tensor data extension): the JSON header is followed by the raw
  little-endian tensor bytes, in the order the tensors appear in the header, each tensor's size
  given by its ``parameters.binary_data_size``. ``BYTES`` elements are each prefixed by their
  length as a 4-byte little-endian unsigned integer.

Checks are strict where they are cheap and vectorised: the element count must equal the product
of the shape, JSON values must be of the datatype's kind (numbers, booleans, strings) and within
its range, and the binary section must be consumed exactly. One leniency is kept for speed: a JSON
boolean mixed in among numbers of a numeric tensor reads as 0 or 1 (numpy promotes it before any
per-element check could see it); a tensor of booleans alone is still refused.

Binary inputs are decoded without copying, so their arrays are read-only views on the body.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

from maas.errors import (
    InvalidInputError,
    InvalidParameterError,
    ModelExecutionError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.schemas.oip_v2 import Datatype, InferenceRequest, RequestInput

__all__ = [
    "HEADER_LENGTH_FIELD",
    "MAX_ELEMENTS",
    "DecodedRequest",
    "RequestedOutput",
    "datatype_of",
    "decode_infer_request",
    "encode_infer_response",
    "numpy_dtype_of",
]

MAX_ELEMENTS = 50_000_000
"""The most elements one tensor may declare; a guard against shapes that would exhaust memory."""

HEADER_LENGTH_FIELD = "Inference-Header-Content-Length"

# Wire dtypes are little-endian whatever the host; on little-endian hosts they equal the native.
_WIRE_DTYPES: dict[Datatype, np.dtype[Any]] = {
    Datatype.BOOL: np.dtype("?"),
    Datatype.UINT8: np.dtype("u1"),
    Datatype.UINT16: np.dtype("<u2"),
    Datatype.UINT32: np.dtype("<u4"),
    Datatype.UINT64: np.dtype("<u8"),
    Datatype.INT8: np.dtype("i1"),
    Datatype.INT16: np.dtype("<i2"),
    Datatype.INT32: np.dtype("<i4"),
    Datatype.INT64: np.dtype("<i8"),
    Datatype.FP16: np.dtype("<f2"),
    Datatype.FP32: np.dtype("<f4"),
    Datatype.FP64: np.dtype("<f8"),
}
_NATIVE_DTYPES: dict[Datatype, np.dtype[Any]] = {
    **{datatype: dtype.newbyteorder("=") for datatype, dtype in _WIRE_DTYPES.items()},
    Datatype.BYTES: np.dtype(object),
}
_DATATYPES_BY_KIND: dict[tuple[str, int], Datatype] = {
    (dtype.kind, dtype.itemsize): datatype for datatype, dtype in _WIRE_DTYPES.items()
}
# What the JSON values of a tensor must be, by numpy kind: a word for messages, and the types.
_JSON_KINDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "b": ("booleans", (bool,)),
    "i": ("integers", (int,)),
    "u": ("integers", (int,)),
    "f": ("numbers", (int, float)),
    "O": ("strings", (str,)),
}
_LENGTH_PREFIX = struct.Struct("<I")
_NAMES = [datatype.value for datatype in Datatype]


def numpy_dtype_of(datatype: Datatype | str) -> np.dtype[Any]:
    """The native numpy dtype that holds a v2 datatype (``object`` for ``BYTES``).

    Raises:
        UnsupportedFormatError: ``datatype`` is not a v2 datatype this server supports.
    """
    if datatype not in _NAMES:
        msg = f"Datatype {datatype!r} is not supported. Use one of {', '.join(_NAMES)}."
        raise UnsupportedFormatError(msg, field="datatype", expected=_NAMES, received=datatype)
    return _NATIVE_DTYPES[Datatype(datatype)]


def datatype_of(arr: np.ndarray[Any, Any]) -> Datatype:
    """The v2 datatype for a numpy array: object, ``str`` and ``bytes`` arrays are ``BYTES``.

    Raises:
        UnsupportedFormatError: the array's dtype has no v2 datatype (complex, datetime, ...).
    """
    kind = arr.dtype.kind
    if kind in "OUS":
        return Datatype.BYTES
    found = _DATATYPES_BY_KIND.get((kind, arr.dtype.itemsize))
    if found is None:
        msg = f"Numpy dtype {arr.dtype} has no Open Inference Protocol datatype."
        raise UnsupportedFormatError(msg, field="dtype", expected=_NAMES, received=str(arr.dtype))
    return found


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the caller asked for.

    Attributes:
        name: the output's name.
        binary_data: its ``parameters.binary_data``; ``None`` when not stated, in which case the
            request's ``binary_data_output`` decides.
        parameters: all its parameters as sent.
    """

    name: str
    binary_data: bool | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """An inference request with its tensors as numpy arrays.

    Attributes:
        id: the request id to echo in the response, if any.
        parameters: the request-level parameters as sent.
        inputs: each input reshaped to its declared shape, in request order; ``BYTES`` inputs are
            object arrays of ``str``.
        outputs: the outputs asked for, in request order; empty means every output.
        binary_data_output: the request's ``binary_data_output`` parameter (default ``False``).
    """

    id: str | None
    parameters: dict[str, Any]
    inputs: dict[str, np.ndarray[Any, Any]]
    outputs: tuple[RequestedOutput, ...] = ()
    binary_data_output: bool = False

    def binary_outputs(self) -> set[str] | bool:
        """What to pass as ``binary`` to ``encode_infer_response`` for this request.

        An output's own ``binary_data`` wins; where it is not stated, ``binary_data_output``
        decides, and with no outputs listed it decides for every output.
        """
        if not self.outputs:
            return self.binary_data_output
        return {
            output.name
            for output in self.outputs
            if (self.binary_data_output if output.binary_data is None else output.binary_data)
        }


def decode_infer_request(body: bytes, header_length: int | None) -> DecodedRequest:
    """Decode an inference request body, JSON only or JSON header plus binary tensors.

    Args:
        body: the whole request body.
        header_length: the ``Inference-Header-Content-Length`` header: how many leading bytes of
            ``body`` are the JSON header. ``None`` means the whole body is JSON.

    Returns:
        The request with each input as a numpy array of its declared shape and datatype.

    Raises:
        InvalidInputError: the body is not valid JSON or not a v2 request, the header length is
            outside the body, a shape is negative or larger than ``MAX_ELEMENTS``, the binary
            section is truncated or longer than the tensors declare, or a name repeats.
        SchemaMismatchError: a tensor's data does not match its declared shape or datatype.
        UnsupportedFormatError: a tensor's datatype is not one of ``Datatype``.
        InvalidParameterError: a protocol parameter has the wrong type.
    """
    view = memoryview(body)
    if header_length is None:
        header_length = len(view)
    elif not 0 <= header_length <= len(view):
        msg = f"{HEADER_LENGTH_FIELD} {header_length} lies outside the body of {len(view)} bytes."
        bounds = f"0..{len(view)}"
        raise InvalidInputError(
            msg, field=HEADER_LENGTH_FIELD, expected=bounds, received=header_length
        )
    try:
        document = orjson.loads(view[:header_length])
    except orjson.JSONDecodeError as exc:
        msg = f"The inference request header is not valid JSON: {exc}."
        raise InvalidInputError(msg, field="body", expected="JSON", received="malformed") from None
    try:
        request = InferenceRequest.model_validate(document)
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    parameters = dict(request.parameters or {})
    return DecodedRequest(
        id=request.id,
        parameters=parameters,
        inputs=_decode_inputs(request, view[header_length:]),
        outputs=_requested_outputs(request),
        binary_data_output=_bool_parameter(parameters, "binary_data_output", "parameters"),
    )


def encode_infer_response(
    model_name: str,
    model_version: str | None,
    id: str | None,  # the spec's name for it
    outputs: Sequence[tuple[str, np.ndarray[Any, Any], Datatype | str | None]],
    binary: set[str] | bool,
    *,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[bytes, int | None]:
    """Encode an inference response, JSON only or JSON header plus binary tensors.

    Args:
        model_name: the model's name, echoed as ``model_name``.
        model_version: its version, or ``None`` to leave ``model_version`` out.
        id: the request's id, or ``None`` to leave ``id`` out.
        outputs: ``(name, array, datatype)`` per output; a ``None`` datatype is taken from the
            array (``datatype_of``), a given one converts the array to it.
        binary: which outputs go as binary data: all (``True``), none (``False``), or those named.
        parameters: response-level parameters, if any.

    Returns:
        The body, and the JSON header's length in bytes when any output went binary (then send
        it as ``Inference-Header-Content-Length`` with ``application/octet-stream``), else
        ``None`` (send ``application/json``). Non-finite floats in JSON ``data`` become ``null``.

    Raises:
        ModelExecutionError: an array has no v2 datatype or cannot be converted to the one given.
        InvalidParameterError: a ``BYTES`` output asked for as JSON holds bytes that are not
            UTF-8 (it must be asked for as binary data).
    """
    entries: list[dict[str, Any]] = []
    chunks: list[bytes | memoryview] = []
    for name, array, declared in outputs:
        datatype, arr = _typed_output(name, np.asarray(array), declared)
        entry: dict[str, Any] = {"name": name, "datatype": datatype.value, "shape": arr.shape}
        if binary is True or (not isinstance(binary, bool) and name in binary):
            chunk = _binary_of(arr, datatype)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = _json_data_of(name, arr, datatype)
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        response["model_version"] = model_version
    if id is not None:
        response["id"] = id
    if parameters:
        response["parameters"] = dict(parameters)
    response["outputs"] = entries
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


# --- decoding -------------------------------------------------------------------------------


def _decode_inputs(
    request: InferenceRequest, binary: memoryview
) -> dict[str, np.ndarray[Any, Any]]:
    inputs: dict[str, np.ndarray[Any, Any]] = {}
    offset = 0
    for i, tensor in enumerate(request.inputs):
        name = tensor.name
        if name in inputs:
            msg = f"Input {name!r} appears more than once."
            raise InvalidInputError(
                msg, field=f"inputs[{i}].name", expected="unique names", received=name
            )
        count = _element_count(tensor, i)
        size = _binary_data_size(tensor, i)
        if size is None:
            inputs[name] = _from_json(tensor, i, count)
            continue
        if tensor.data is not None:
            msg = f"Input {name!r} has both data and parameters.binary_data_size."
            expected = "one of data or parameters.binary_data_size"
            raise InvalidInputError(
                msg, field=f"inputs[{i}].data", expected=expected, received="both"
            )
        left = len(binary) - offset
        if size > left:
            msg = f"Input {name!r} needs {size} bytes of binary data; the body has {left} left."
            where = f"inputs[{i}].parameters.binary_data_size"
            raise InvalidInputError(msg, field=where, expected=size, received=left)
        inputs[name] = _from_binary(tensor, i, count, binary[offset : offset + size])
        offset += size
    if offset != len(binary):
        msg = f"The body holds {len(binary) - offset} bytes after the last binary tensor."
        raise InvalidInputError(msg, field="body", expected=offset, received=len(binary))
    return inputs


def _requested_outputs(request: InferenceRequest) -> tuple[RequestedOutput, ...]:
    outputs: dict[str, RequestedOutput] = {}
    for j, output in enumerate(request.outputs or []):
        if output.name in outputs:
            msg = f"Output {output.name!r} is asked for more than once."
            raise InvalidInputError(
                msg, field=f"outputs[{j}].name", expected="unique names", received=output.name
            )
        params = dict(output.parameters or {})
        flag = None
        if "binary_data" in params:
            flag = _bool_parameter(params, "binary_data", f"outputs[{j}].parameters")
        outputs[output.name] = RequestedOutput(output.name, flag, params)
    return tuple(outputs.values())


def _element_count(tensor: RequestInput, i: int) -> int:
    # Negative dims are refused by the schema; math.prod on Python ints cannot overflow.
    count = math.prod(tensor.shape)
    if count > MAX_ELEMENTS:
        msg = (
            f"Input {tensor.name!r} declares shape {tensor.shape} ({count} elements); "
            f"at most {MAX_ELEMENTS} elements are allowed."
        )
        expected = f"at most {MAX_ELEMENTS} elements"
        raise InvalidInputError(
            msg, field=f"inputs[{i}].shape", expected=expected, received=tensor.shape
        )
    return count


def _binary_data_size(tensor: RequestInput, i: int) -> int | None:
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None and (type(size) is not int or size < 0):
        msg = f"binary_data_size of input {tensor.name!r} must be a non-negative integer."
        where = f"inputs[{i}].parameters.binary_data_size"
        expected = "a non-negative integer"
        raise InvalidParameterError(msg, field=where, expected=expected, received=_short(size))
    return size


def _bool_parameter(parameters: Mapping[str, Any], key: str, where: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        msg = f"{where}.{key} must be a boolean. Got {_short(value)} instead."
        raise InvalidParameterError(
            msg, field=f"{where}.{key}", expected="boolean", received=_short(value)
        )
    return value


def _from_json(tensor: RequestInput, i: int, count: int) -> np.ndarray[Any, Any]:
    where = f"inputs[{i}].data"
    if tensor.data is None:
        msg = f"Input {tensor.name!r} has neither data nor parameters.binary_data_size."
        raise InvalidInputError(msg, field=where, expected="data", received=None)
    is_bytes = tensor.datatype is Datatype.BYTES
    try:
        raw = np.asarray(tensor.data, dtype=object if is_bytes else None)
    except (ValueError, TypeError):
        msg = f"The data of input {tensor.name!r} must be flat or evenly nested. It is ragged."
        raise SchemaMismatchError(
            msg, field=where, expected=f"{count} elements", received="ragged nested lists"
        ) from None
    if raw.size != count:
        msg = (
            f"Input {tensor.name!r} declares shape {tensor.shape}, so its data must hold "
            f"{count} elements. Got {raw.size} instead."
        )
        raise SchemaMismatchError(msg, field=where, expected=count, received=raw.size)
    if count == 0:
        return np.empty(tensor.shape, dtype=_NATIVE_DTYPES[tensor.datatype])
    if is_bytes:
        flat = raw.reshape(-1)
        if not all(type(value) is str for value in flat):
            raise _wrong_kind(tensor, where, flat)
        return flat.reshape(tensor.shape)
    return _numeric_from_json(tensor, where, raw)


def _numeric_from_json(
    tensor: RequestInput, where: str, raw: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    # ``raw`` is numpy's own reading of the JSON values: its kind says whether they were all
    # booleans, integers or numbers, so one look at it replaces a per-element check. On a
    # mismatch, _wrong_kind scans what was sent, not what numpy made of it ([1, "a"] → str).
    target = _NATIVE_DTYPES[tensor.datatype]
    kind = raw.dtype.kind
    if target.kind == "b":
        if kind != "b":
            raise _wrong_kind(tensor, where, _flatten(tensor.data))
        return raw.reshape(tensor.shape)
    if target.kind == "f":
        if kind not in "iuf":
            raise _wrong_kind(tensor, where, _flatten(tensor.data))
        with np.errstate(over="ignore"):
            arr = raw.astype(target, copy=False)
        if target.itemsize < 8 and not np.isfinite(arr).all():
            raise _out_of_range(tensor, where, f"±{np.finfo(target).max}")
        return arr.reshape(tensor.shape)
    info = np.iinfo(target)
    bounds = f"{info.min}..{info.max}"
    if kind in "fO" and all(type(value) is int for value in _flatten(tensor.data)):
        # numpy makes float64 of integers that need uint64 next to ones that do not ([2**63, 1]);
        # build those exactly (rare: only values near the 64-bit limits get here).
        try:
            return np.array(list(_flatten(tensor.data)), dtype=target).reshape(tensor.shape)
        except OverflowError:
            raise _out_of_range(tensor, where, bounds) from None
    if kind not in "iu":
        raise _wrong_kind(tensor, where, _flatten(tensor.data))
    if raw.dtype != target and (int(raw.min()) < info.min or int(raw.max()) > info.max):
        raise _out_of_range(tensor, where, bounds)
    return raw.astype(target, copy=False).reshape(tensor.shape)


def _from_binary(
    tensor: RequestInput, i: int, count: int, chunk: memoryview
) -> np.ndarray[Any, Any]:
    where = f"inputs[{i}].parameters.binary_data_size"
    if tensor.datatype is Datatype.BYTES:
        return _bytes_from_binary(tensor, where, count, chunk).reshape(tensor.shape)
    wire = _WIRE_DTYPES[tensor.datatype]
    needed = count * wire.itemsize
    if len(chunk) != needed:
        msg = (
            f"Input {tensor.name!r} of shape {tensor.shape} and datatype "
            f"{tensor.datatype.value} needs {needed} bytes. Got {len(chunk)} instead."
        )
        raise SchemaMismatchError(msg, field=where, expected=needed, received=len(chunk))
    arr = np.frombuffer(chunk, dtype=wire)
    if tensor.datatype is Datatype.BOOL and (top := int(arr.view(np.uint8).max(initial=0))) > 1:
        msg = f"Input {tensor.name!r} is BOOL, so each of its bytes must be 0 or 1. Got {top}."
        raise SchemaMismatchError(msg, field=where, expected="bytes 0 or 1", received=top)
    if not wire.isnative:
        arr = arr.astype(wire.newbyteorder("="))
    return arr.reshape(tensor.shape)


def _bytes_from_binary(
    tensor: RequestInput, where: str, count: int, chunk: memoryview
) -> np.ndarray[Any, Any]:
    elements: list[str] = []
    offset, end = 0, len(chunk)
    while offset < end and len(elements) <= count:
        length = _LENGTH_PREFIX.unpack_from(chunk, offset)[0] if end - offset >= 4 else None
        offset += 4
        if length is None or offset + length > end:
            msg = f"Element {len(elements)} of BYTES input {tensor.name!r} runs past its end."
            expected = "per element a 4-byte little-endian length, then that many bytes"
            raise InvalidInputError(msg, field=where, expected=expected, received="truncated")
        try:
            elements.append(str(chunk[offset : offset + length], "utf-8"))
        except UnicodeDecodeError:
            msg = f"Element {len(elements)} of BYTES input {tensor.name!r} is not UTF-8 text."
            raise SchemaMismatchError(
                msg, field=where, expected="UTF-8 text", received="undecodable bytes"
            ) from None
        offset += length
    if len(elements) != count or offset != end:
        received = len(elements) if offset == end else f"more than {count}"
        msg = (
            f"Input {tensor.name!r} declares shape {tensor.shape}, so its binary data must hold "
            f"{count} elements. Got {received} instead."
        )
        raise SchemaMismatchError(msg, field=where, expected=count, received=received)
    arr = np.empty(count, dtype=object)
    arr[:] = elements
    return arr


def _wrong_kind(tensor: RequestInput, where: str, values: Iterable[Any]) -> SchemaMismatchError:
    wanted, types = _JSON_KINDS[_NATIVE_DTYPES[tensor.datatype].kind]
    for index, value in enumerate(values):
        if type(value) not in types:
            got = _json_type(value)
            msg = (
                f"Input {tensor.name!r} is {tensor.datatype.value}, so its data must hold "
                f"{wanted}. Got {got} {_short(value)} at index {index} instead."
            )
            return SchemaMismatchError(
                msg, field=where, expected=tensor.datatype.value, received=got
            )
    # Every value has the right JSON type, yet numpy could not hold them in one type (for
    # example -1 next to 2**64 - 1): that is a range problem.
    return _out_of_range(tensor, where, wanted)


def _out_of_range(tensor: RequestInput, where: str, bounds: str) -> SchemaMismatchError:
    msg = f"Input {tensor.name!r} is {tensor.datatype.value}; some values lie outside {bounds}."
    return SchemaMismatchError(msg, field=where, expected=bounds, received="out-of-range values")


def _flatten(data: Any) -> Iterable[Any]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return "null" if value is None else names.get(type(value), "object")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _from_validation_error(exc: ValidationError) -> InvalidInputError:
    errors = exc.errors(include_url=False, include_context=False)
    first, where = errors[0], _path(errors[0]["loc"])
    cls = InvalidInputError
    if first["type"] == "enum" and where.endswith("datatype"):
        cls = UnsupportedFormatError
    received = "missing" if first["type"] == "missing" else _short(first.get("input"))
    details = {"errors": [{"field": _path(e["loc"]), "message": e["msg"]} for e in errors[:20]]}
    msg = f"The inference request is not valid at {where}: {first['msg']}."
    return cls(msg, field=where, expected=first["msg"], received=received, details=details)


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


# --- encoding -------------------------------------------------------------------------------


def _typed_output(
    name: str, arr: np.ndarray[Any, Any], declared: Datatype | str | None
) -> tuple[Datatype, np.ndarray[Any, Any]]:
    received = str(arr.dtype) if declared is None else f"{arr.dtype} declared {declared}"
    try:
        datatype = datatype_of(arr) if declared is None else Datatype(declared)
    except (UnsupportedFormatError, ValueError):
        msg = f"Output {name!r} ({received}) has no Open Inference Protocol datatype."
        raise ModelExecutionError(msg, field=name, expected=_NAMES, received=received) from None
    target = _NATIVE_DTYPES[datatype]
    if datatype is Datatype.BYTES or arr.dtype == target:
        return datatype, arr
    msg = f"Output {name!r} of dtype {arr.dtype} cannot be sent as {datatype.value}."
    if arr.dtype.kind != "O" and not np.can_cast(arr.dtype, target, casting="same_kind"):
        raise ModelExecutionError(msg, field=name, expected=datatype.value, received=received)
    try:
        return datatype, arr.astype(target)
    except (ValueError, TypeError):
        raise ModelExecutionError(
            msg, field=name, expected=datatype.value, received=received
        ) from None


def _binary_of(arr: np.ndarray[Any, Any], datatype: Datatype) -> bytes | memoryview:
    if datatype is not Datatype.BYTES:
        # A flat uint8 view's len() is its size in bytes; bytes.join copies it once.
        flat = np.ascontiguousarray(arr, dtype=_WIRE_DTYPES[datatype]).reshape(-1)
        return flat.view(np.uint8).data
    parts: list[bytes] = []
    for value in arr.reshape(-1).tolist():
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts += (_LENGTH_PREFIX.pack(len(raw)), raw)
    return b"".join(parts)


def _json_data_of(name: str, arr: np.ndarray[Any, Any], datatype: Datatype) -> Any:
    if datatype is not Datatype.BYTES:
        # orjson writes a C-contiguous native array straight out (OPT_SERIALIZE_NUMPY).
        return np.ascontiguousarray(arr, dtype=_NATIVE_DTYPES[datatype]).reshape(-1)
    values: list[str] = []
    for value in arr.reshape(-1).tolist():
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                msg = (
                    f"Output {name!r} holds bytes that are not UTF-8 text, so it cannot be sent "
                    "as JSON. Ask for it with parameters.binary_data = true."
                )
                raise InvalidParameterError(
                    msg, field=name, expected="binary_data", received="JSON data"
                ) from None
        values.append(value if isinstance(value, str) else str(value))
    return values
