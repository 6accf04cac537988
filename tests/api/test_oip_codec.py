"""The Open Inference Protocol v2 codec: round trips, tritonclient compatibility and errors."""

from __future__ import annotations

import math
import struct
import warnings
from typing import Any, Literal

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maas.api.oip_codec import (
    MAX_ELEMENTS,
    DecodedRequest,
    RequestedOutput,
    datatype_of,
    decode_infer_request,
    encode_infer_response,
    numpy_dtype_of,
)
from maas.errors import (
    InvalidInputError,
    InvalidParameterError,
    MaasError,
    ModelExecutionError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.schemas.oip_v2 import (
    Datatype,
    InferenceResponse,
    ModelMetadataResponse,
    ServerMetadataResponse,
    TensorMetadata,
)

with warnings.catch_warnings():
    # gevent (under tritonclient.http) may warn about monkey-patching or deprecated APIs when
    # imported; that is the client's business, not the codec's.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", RuntimeWarning)
    import tritonclient.http as triton

ALL_DATATYPES = list(Datatype)
TritonClient = triton.InferenceServerClient
EXAMPLES = settings(max_examples=40, deadline=None)
FLOAT_WIDTHS: dict[int, Literal[16, 32, 64]] = {2: 16, 4: 32, 8: 64}


# --- strategies and helpers -----------------------------------------------------------------


def _object_array(values: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr.reshape(shape)


def tensors(datatype: Datatype, *, finite: bool) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``datatype`` of up to 3 dims (0-d and empty included)."""
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    if datatype is Datatype.BYTES:
        return shapes.flatmap(
            lambda shape: st.lists(
                st.text(max_size=6), min_size=math.prod(shape), max_size=math.prod(shape)
            ).map(lambda values: _object_array(values, shape))
        )
    dtype = numpy_dtype_of(datatype)
    elements = None
    if dtype.kind == "f":
        width = FLOAT_WIDTHS[dtype.itemsize]
        elements = st.floats(width=width, allow_nan=not finite, allow_infinity=not finite)
    return hnp.arrays(dtype, shapes, elements=elements)


def assert_same(got: np.ndarray, want: np.ndarray, *, bitwise: bool = False) -> None:
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if want.dtype == object:
        assert got.tolist() == want.tolist()
    elif bitwise:
        assert got.tobytes() == want.tobytes()
    else:
        np.testing.assert_array_equal(got, want)


def as_text(arr: np.ndarray) -> np.ndarray:
    """tritonclient reads binary BYTES as ``bytes``; the codec speaks ``str``."""
    if arr.dtype != object:
        return arr
    return _object_array(
        [v.decode() if isinstance(v, bytes) else v for v in arr.reshape(-1).tolist()], arr.shape
    )


def response_as_request(body: bytes, header_length: int | None) -> tuple[bytes, int | None]:
    """Turn a response body into a request body: its outputs become the inputs, binary intact."""
    end = len(body) if header_length is None else header_length
    header = orjson.dumps({"inputs": orjson.loads(body[:end])["outputs"]})
    if header_length is None:
        return header, None
    return header + body[end:], len(header)


def triton_request(
    arrays: dict[str, tuple[np.ndarray, Datatype]], *, binary: bool, **kwargs: Any
) -> tuple[bytes, int | None]:
    inputs = []
    for name, (arr, datatype) in arrays.items():
        tensor = triton.InferInput(name, list(arr.shape), datatype.value)
        tensor.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(tensor)
    return TritonClient.generate_request_body(inputs, **kwargs)


def json_request(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def fp32_input(data: Any, shape: list[int], **extra: Any) -> dict[str, Any]:
    return {"name": "x", "shape": shape, "datatype": "FP32", "data": data, **extra}


# --- dtype mapping --------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", ALL_DATATYPES)
def test_datatype_of_inverts_numpy_dtype_of(datatype: Datatype) -> None:
    assert datatype_of(np.empty(2, dtype=numpy_dtype_of(datatype))) is datatype


@pytest.mark.parametrize(
    ("dtype", "datatype"),
    [(">f4", Datatype.FP32), (">i8", Datatype.INT64), ("<U3", Datatype.BYTES), ("S2", "BYTES")],
)
def test_datatype_of_reads_byte_order_and_string_dtypes(dtype: str, datatype: str) -> None:
    assert datatype_of(np.empty(1, dtype=dtype)) == datatype


def test_datatype_of_rejects_complex() -> None:
    with pytest.raises(UnsupportedFormatError) as info:
        datatype_of(np.zeros(1, dtype=np.complex64))
    assert info.value.received == "complex64"


def test_numpy_dtype_of_rejects_unknown_datatype() -> None:
    with pytest.raises(UnsupportedFormatError) as info:
        numpy_dtype_of("BF16")
    assert info.value.received == "BF16"


# --- round trips through our own encoder and decoder ----------------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", ALL_DATATYPES)
@EXAMPLES
@given(data=st.data())
def test_codec_round_trips_tensors(datatype: Datatype, binary: bool, data: st.DataObject) -> None:
    arr = data.draw(tensors(datatype, finite=not binary))
    declared = data.draw(st.sampled_from([datatype, None]))
    body, header_length = encode_infer_response("m", "1", "r", [("t", arr, declared)], binary)
    assert (header_length is not None) is binary
    decoded = decode_infer_request(*response_as_request(body, header_length))
    assert_same(decoded.inputs["t"], arr, bitwise=binary)


@EXAMPLES
@given(
    first=tensors(Datatype.FP32, finite=False),
    second=tensors(Datatype.BYTES, finite=True),
    third=tensors(Datatype.INT8, finite=True),
)
def test_codec_round_trips_mixed_json_and_binary_tensors(
    first: np.ndarray, second: np.ndarray, third: np.ndarray
) -> None:
    outputs = [("a", first, None), ("b", second, None), ("c", third, None)]
    body, header_length = encode_infer_response("m", "2", None, outputs, {"a", "b"})
    assert header_length is not None
    decoded = decode_infer_request(*response_as_request(body, header_length))
    assert list(decoded.inputs) == ["a", "b", "c"]
    for name, arr, _ in outputs:
        assert_same(decoded.inputs[name], arr, bitwise=name == "a")


# --- tritonclient builds the request, the codec decodes it -----------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", ALL_DATATYPES)
@EXAMPLES
@given(data=st.data())
def test_decode_reads_tritonclient_requests(
    datatype: Datatype, binary: bool, data: st.DataObject
) -> None:
    arr = data.draw(tensors(datatype, finite=not binary))
    other = np.arange(3, dtype=np.int32)
    body, header_length = triton_request(
        {"t": (arr, datatype), "u": (other, Datatype.INT32)},
        binary=binary,
        outputs=[triton.InferRequestedOutput("y", binary_data=binary)],
        request_id="req-7",
    )
    decoded = decode_infer_request(body, header_length)
    assert decoded.id == "req-7"
    assert_same(decoded.inputs["t"], arr, bitwise=binary)
    assert_same(decoded.inputs["u"], other)
    assert decoded.outputs == (RequestedOutput("y", binary, {"binary_data": binary}),)
    assert decoded.binary_outputs() == ({"y"} if binary else set())


def test_decode_reads_tritonclient_default_of_binary_outputs() -> None:
    body, header_length = triton_request(
        {"x": (np.ones((2, 2), np.float64), Datatype.FP64)}, binary=True
    )
    decoded = decode_infer_request(body, header_length)
    assert decoded.binary_data_output is True
    assert decoded.outputs == ()
    assert decoded.binary_outputs() is True


def test_decode_gives_utf8_text_for_bytes_inputs() -> None:
    arr = _object_array(["hé", "", "\x00z"], (3,))
    for binary in (True, False):
        decoded = decode_infer_request(*triton_request({"s": (arr, Datatype.BYTES)}, binary=binary))
        assert decoded.inputs["s"].tolist() == ["hé", "", "\x00z"]


# --- the codec encodes the response, tritonclient parses it ---------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", ALL_DATATYPES)
@EXAMPLES
@given(data=st.data())
def test_tritonclient_parses_encoded_responses(
    datatype: Datatype, binary: bool, data: st.DataObject
) -> None:
    arr = data.draw(tensors(datatype, finite=not binary))
    label = np.array([1.5, -2.0], dtype=np.float64)
    body, header_length = encode_infer_response(
        "pump-rul", "3", "req-1", [("t", arr, datatype), ("label", label, None)], binary
    )
    result = TritonClient.parse_response_body(body, header_length=header_length)
    assert_same(as_text(result.as_numpy("t")), arr, bitwise=binary)
    assert_same(result.as_numpy("label"), label)
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "pump-rul",
        "3",
        "req-1",
    )


def test_encode_writes_non_finite_floats_as_null_in_json() -> None:
    arr = np.array([np.nan, 1.0, np.inf], dtype=np.float32)
    body, header_length = encode_infer_response("m", None, None, [("y", arr, None)], False)
    assert orjson.loads(body)["outputs"][0]["data"] == [None, 1.0, None]
    parsed = TritonClient.parse_response_body(body, header_length=header_length).as_numpy("y")
    np.testing.assert_array_equal(parsed, [np.nan, 1.0, np.nan])


def test_encode_converts_to_the_declared_datatype() -> None:
    arr = np.array([[0.25, 2.0]], dtype=np.float64)
    body, _ = encode_infer_response("m", None, None, [("y", arr, "FP32")], False)
    assert orjson.loads(body)["outputs"][0] == {
        "name": "y",
        "datatype": "FP32",
        "shape": [1, 2],
        "data": [0.25, 2.0],
    }


def test_encode_writes_big_endian_arrays_little_endian() -> None:
    arr = np.array([1, 256], dtype=">u2")
    body, header_length = encode_infer_response("m", None, None, [("y", arr, None)], True)
    assert header_length is not None
    assert body[header_length:] == struct.pack("<HH", 1, 256)


def test_encode_output_validates_as_inference_response() -> None:
    outputs = [("p", np.array([0.1, 0.9]), None), ("c", np.array(["ok", "bad"]), None)]
    body, header_length = encode_infer_response("m", "7", "i", outputs, {"p"}, parameters={"k": 1})
    assert header_length is not None
    response = InferenceResponse.model_validate_json(body[:header_length])
    assert [(o.name, o.datatype, o.shape) for o in response.outputs] == [
        ("p", Datatype.FP64, [2]),
        ("c", Datatype.BYTES, [2]),
    ]
    assert response.outputs[0].parameters == {"binary_data_size": 16}
    assert response.outputs[1].data == ["ok", "bad"]
    assert response.parameters == {"k": 1}


def test_encode_rejects_non_utf8_bytes_as_json() -> None:
    arr = _object_array([b"\xff\xfe"], (1,))
    with pytest.raises(InvalidParameterError) as info:
        encode_infer_response("m", None, None, [("raw", arr, None)], False)
    assert info.value.field == "raw"
    body, header_length = encode_infer_response("m", None, None, [("raw", arr, None)], True)
    parsed = TritonClient.parse_response_body(body, header_length=header_length)
    assert parsed.as_numpy("raw").tolist() == [b"\xff\xfe"]


@pytest.mark.parametrize(
    ("arr", "declared"),
    [
        (np.zeros(2, dtype=np.complex128), None),
        (np.array([1.5]), "INT32"),
        (np.array(["a"]), "FP32"),
        (_object_array(["a"], (1,)), "FP32"),
        (np.zeros(1), "BF16"),
    ],
    ids=["complex", "float-as-int", "str-as-float", "object-as-float", "unknown-datatype"],
)
def test_encode_rejects_outputs_it_cannot_type(arr: np.ndarray, declared: str | None) -> None:
    with pytest.raises(ModelExecutionError) as info:
        encode_infer_response("m", None, None, [("y", arr, declared)], False)
    assert info.value.field == "y"


# --- decoding details -----------------------------------------------------------------------


def test_decode_reshapes_nested_json_data_row_major() -> None:
    body = json_request(fp32_input([[1, 2.5, 3], [4, 5, 6]], [3, 2]))
    decoded = decode_infer_request(body, None)
    assert_same(decoded.inputs["x"], np.array([[1, 2.5], [3, 4], [5, 6]], dtype=np.float32))


def test_decode_reads_full_64_bit_integer_ranges() -> None:
    body = json_request(
        {"name": "u", "shape": [3], "datatype": "UINT64", "data": [2**64 - 1, 2**63, 1]},
        {"name": "i", "shape": [2], "datatype": "INT64", "data": [-(2**63), 2**63 - 1]},
    )
    decoded = decode_infer_request(body, None)
    assert decoded.inputs["u"].tolist() == [2**64 - 1, 2**63, 1]
    assert decoded.inputs["u"].dtype == np.uint64
    assert decoded.inputs["i"].tolist() == [-(2**63), 2**63 - 1]


def test_decode_keeps_id_and_parameters() -> None:
    body = json_request(
        fp32_input([1], [1]),
        id="abc",
        parameters={"binary_data_output": True, "priority": 2},
        outputs=[{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
    )
    decoded = decode_infer_request(body, None)
    assert decoded == DecodedRequest(
        id="abc",
        parameters={"binary_data_output": True, "priority": 2},
        inputs=decoded.inputs,
        outputs=(RequestedOutput("a"), RequestedOutput("b", False, {"binary_data": False})),
        binary_data_output=True,
    )
    assert decoded.binary_outputs() == {"a"}


def test_decode_accepts_empty_tensors() -> None:
    body = json_request({"name": "e", "shape": [0, 3], "datatype": "INT16", "data": []})
    arr = decode_infer_request(body, None).inputs["e"]
    assert (arr.shape, arr.dtype) == ((0, 3), np.int16)


# --- decoding errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tensor", "expected", "received"),
    [
        (fp32_input([1, 2, 3, 4, 5], [2, 3]), 6, 5),
        (fp32_input([[1, 2], [3, 4]], [5]), 5, 4),
        (fp32_input(7, [2]), 2, 1),
    ],
    ids=["flat", "nested", "scalar"],
)
def test_decode_rejects_element_count_mismatch(
    tensor: dict[str, Any], expected: int, received: int
) -> None:
    with pytest.raises(SchemaMismatchError) as info:
        decode_infer_request(json_request(tensor), None)
    assert (info.value.field, info.value.expected, info.value.received) == (
        "inputs[0].data",
        expected,
        received,
    )


@pytest.mark.parametrize(
    ("datatype", "data", "received"),
    [
        ("FP32", [1.0, "2.0"], "string"),
        ("FP32", [1.0, None], "null"),
        ("FP32", [True, False], "boolean"),
        ("FP64", [{"a": 1}, 2], "object"),
        ("INT32", [1, 2.5], "number"),
        ("UINT8", ["1", 2], "string"),
        ("BOOL", [1, 0], "number"),
        ("BYTES", ["a", 1], "number"),
        ("BYTES", ["a", None], "null"),
    ],
)
def test_decode_rejects_values_of_the_wrong_type(datatype: str, data: list, received: str) -> None:
    tensor = {"name": "y", "shape": [2], "datatype": datatype, "data": data}
    body = json_request({"name": "ok", "shape": [1], "datatype": "BOOL", "data": [True]}, tensor)
    with pytest.raises(SchemaMismatchError) as info:
        decode_infer_request(body, None)
    assert (info.value.field, info.value.expected, info.value.received) == (
        "inputs[1].data",
        datatype,
        received,
    )
    assert "'y'" in info.value.message


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("UINT8", [0, 256]),
        ("UINT64", [-1, 2]),
        ("UINT64", [-1, 2**63]),
        ("INT8", [-129]),
        ("INT64", [2**63]),
        ("FP16", [70000.0]),
        ("FP32", [1e39]),
    ],
)
def test_decode_rejects_values_out_of_range(datatype: str, data: list) -> None:
    body = json_request({"name": "y", "shape": [len(data)], "datatype": datatype, "data": data})
    with pytest.raises(SchemaMismatchError) as info:
        decode_infer_request(body, None)
    assert info.value.field == "inputs[0].data"
    assert info.value.received == "out-of-range values"


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"inputs": [', b"", b"\xff\xfe", b'{"inputs": []}x'],
    ids=["open-brace", "unterminated", "empty", "not-utf8", "trailing"],
)
def test_decode_rejects_malformed_json(body: bytes) -> None:
    with pytest.raises(InvalidInputError) as info:
        decode_infer_request(body, None)
    assert type(info.value) is InvalidInputError
    assert info.value.code == "invalid_input"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_decode_rejects_non_finite_literals(literal: bytes) -> None:
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[' + literal + b"]}]}"
    with pytest.raises(InvalidInputError) as info:
        decode_infer_request(body, None)
    assert info.value.code == "invalid_input"


def test_decode_rejects_tritonclient_nan_sent_as_json() -> None:
    arr = np.array([np.nan], dtype=np.float32)
    with pytest.raises(InvalidInputError):
        decode_infer_request(*triton_request({"x": (arr, Datatype.FP32)}, binary=False))


def _inputs(*tensors: dict[str, Any]) -> dict[str, Any]:
    return {"inputs": list(tensors)}


NO_DATA = {"name": "x", "shape": [1], "datatype": "FP32"}
HUGE = [MAX_ELEMENTS, 2]
BAD_REQUESTS = [
    pytest.param([1, 2], InvalidInputError, "body", "[1, 2]", id="not-an-object"),
    pytest.param(_inputs(), InvalidInputError, "inputs", "[]", id="no-inputs"),
    pytest.param(
        _inputs({"shape": [1]}), InvalidInputError, "inputs[0].name", "missing", id="no-name"
    ),
    pytest.param(
        _inputs(fp32_input([1], [1, -1])),
        InvalidInputError,
        "inputs[0].shape[1]",
        "-1",
        id="negative-dim",
    ),
    pytest.param(
        {"id": 5, **_inputs(fp32_input([1], [1]))}, InvalidInputError, "id", "5", id="numeric-id"
    ),
    pytest.param(_inputs(NO_DATA), InvalidInputError, "inputs[0].data", None, id="no-data"),
    pytest.param(
        _inputs(fp32_input([1], [1]), fp32_input([2], [1])),
        InvalidInputError,
        "inputs[1].name",
        "x",
        id="repeated-name",
    ),
    pytest.param(
        _inputs(fp32_input([], HUGE)), InvalidInputError, "inputs[0].shape", HUGE, id="absurd-count"
    ),
    pytest.param(
        _inputs(fp32_input([[1, 2], [3]], [3])),
        SchemaMismatchError,
        "inputs[0].data",
        "ragged nested lists",
        id="ragged",
    ),
    pytest.param(
        _inputs({**NO_DATA, "datatype": "BF16"}),
        UnsupportedFormatError,
        "inputs[0].datatype",
        "'BF16'",
        id="unknown-datatype",
    ),
]


@pytest.mark.parametrize(("document", "error", "field", "received"), BAD_REQUESTS)
def test_decode_rejects_malformed_requests(
    document: Any, error: type[MaasError], field: str, received: Any
) -> None:
    with pytest.raises(error) as info:
        decode_infer_request(orjson.dumps(document), None)
    assert type(info.value) is error
    assert (info.value.field, info.value.received) == (field, received)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"parameters": {"binary_data_output": "yes"}}, "parameters.binary_data_output"),
        (
            {"outputs": [{"name": "y", "parameters": {"binary_data": 1}}]},
            "outputs[0].parameters.binary_data",
        ),
    ],
)
def test_decode_rejects_non_boolean_binary_flags(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        decode_infer_request(json_request(fp32_input([1], [1]), **extra), None)
    assert info.value.field == field


def _binary_body(binary: np.ndarray | bytes, **tensor: Any) -> tuple[bytes, int]:
    """A body with one binary tensor (FP32, shape [2] unless told) holding ``binary``."""
    raw = binary if isinstance(binary, bytes) else binary.tobytes()
    spec: dict[str, Any] = {"name": "x", "shape": [2], "datatype": "FP32"}
    spec.update(tensor, parameters={"binary_data_size": len(raw)})
    header = json_request(spec)
    return header + raw, len(header)


def test_decode_rejects_truncated_binary_body() -> None:
    body, header_length = triton_request(
        {"x": (np.arange(4, dtype=np.float32), Datatype.FP32)}, binary=True
    )
    with pytest.raises(InvalidInputError) as info:
        decode_infer_request(body[:-1], header_length)
    assert info.value.field == "inputs[0].parameters.binary_data_size"
    assert (info.value.expected, info.value.received) == (16, 15)


def test_decode_rejects_header_length_beyond_body() -> None:
    body, _ = _binary_body(np.ones(2, np.float32))
    for header_length in (len(body) + 1, -1):
        with pytest.raises(InvalidInputError) as info:
            decode_infer_request(body, header_length)
        assert info.value.field == "Inference-Header-Content-Length"


def test_decode_rejects_bytes_after_the_last_tensor() -> None:
    body, header_length = _binary_body(np.ones(2, np.float32))
    with pytest.raises(InvalidInputError) as info:
        decode_infer_request(body + b"\x00", header_length)
    assert info.value.field == "body"


def test_decode_rejects_binary_size_not_matching_the_shape() -> None:
    body, header_length = _binary_body(np.ones(3, np.float32))
    with pytest.raises(SchemaMismatchError) as info:
        decode_infer_request(body, header_length)
    assert (info.value.expected, info.value.received) == (8, 12)


def test_decode_rejects_binary_data_without_header_length() -> None:
    body, _ = _binary_body(np.ones(2, np.float32))
    with pytest.raises(InvalidInputError):
        decode_infer_request(body, None)


def test_decode_rejects_data_and_binary_data_together() -> None:
    body, header_length = _binary_body(np.ones(2, np.float32), data=[1.0, 2.0])
    with pytest.raises(InvalidInputError) as info:
        decode_infer_request(body, header_length)
    assert info.value.field == "inputs[0].data"


@pytest.mark.parametrize("size", [-1, "8", 1.5, True])
def test_decode_rejects_bad_binary_data_size(size: Any) -> None:
    body = json_request(fp32_input(None, [2], parameters={"binary_data_size": size}))
    with pytest.raises(InvalidParameterError) as info:
        decode_infer_request(body, len(body))
    assert info.value.field == "inputs[0].parameters.binary_data_size"


def test_decode_rejects_bool_bytes_other_than_zero_and_one() -> None:
    body, header_length = _binary_body(b"\x01\x02", datatype="BOOL")
    with pytest.raises(SchemaMismatchError):
        decode_infer_request(body, header_length)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (struct.pack("<I", 5) + b"abc" + struct.pack("<I", 0), InvalidInputError),
        (struct.pack("<I", 1) + b"a" + b"\x00\x00", InvalidInputError),
        (struct.pack("<I", 1) + b"a", SchemaMismatchError),
        ((struct.pack("<I", 1) + b"a") * 3, SchemaMismatchError),
        (struct.pack("<I", 2) + b"\xff\xfe" + struct.pack("<I", 0), SchemaMismatchError),
    ],
    ids=["length-past-end", "partial-prefix", "too-few", "too-many", "not-utf8"],
)
def test_decode_rejects_bad_binary_bytes_elements(raw: bytes, error: type[MaasError]) -> None:
    body, header_length = _binary_body(raw, datatype="BYTES")
    with pytest.raises(error) as info:
        decode_infer_request(body, header_length)
    assert info.value.field == "inputs[0].parameters.binary_data_size"


# --- the other wire models ------------------------------------------------------------------


def test_metadata_models_dump_the_spec_shapes() -> None:
    server = ServerMetadataResponse(name="maas", version="0.1.0", extensions=["binary_tensor_data"])
    assert server.model_dump() == {
        "name": "maas",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data"],
    }
    model = ModelMetadataResponse(
        name="pump-rul",
        versions=["1", "2"],
        platform="lightgbm",
        inputs=[TensorMetadata(name="x", datatype=Datatype.FP32, shape=[-1, 4])],
        outputs=[TensorMetadata(name="y", datatype=Datatype.FP64, shape=[-1])],
    )
    assert orjson.loads(model.model_dump_json())["inputs"] == [
        {"name": "x", "datatype": "FP32", "shape": [-1, 4]}
    ]
