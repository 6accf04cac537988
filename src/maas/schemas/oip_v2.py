"""Wire models of the Open Inference Protocol v2 (KServe v2 / Triton HTTP) REST API.

They follow the spec's JSON shapes field for field
(https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/), including the
``binary_data_size`` / ``binary_data`` / ``binary_data_output`` parameters of Triton's binary
tensor data extension. Tensor ``data`` is typed ``Any`` for validation and described in the JSON
schema only: a tensor can hold millions of elements, and ``api.oip_codec`` checks them in numpy
against the declared datatype instead of element by element here.

Request models ignore unknown fields rather than forbid them: v2 clients (Triton's, KServe's,
MLServer's) add extension fields of their own, and a v2 server is expected to tolerate them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = [
    "Datatype",
    "InferenceRequest",
    "InferenceResponse",
    "ModelMetadataResponse",
    "Parameters",
    "RequestInput",
    "RequestOutput",
    "ResponseOutput",
    "ServerMetadataResponse",
    "TensorData",
    "TensorMetadata",
]


class Datatype(StrEnum):
    """Tensor element types of the v2 protocol (``BF16`` is left out: numpy has no such type)."""

    BOOL = "BOOL"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"


Parameters = dict[str, Any]
"""The spec's ``$parameters``: an object of string, number or boolean values (not enforced)."""

TensorData = Annotated[
    Any,
    WithJsonSchema(
        {
            "description": (
                "Tensor elements in row-major order, flat or nested; numbers for numeric "
                "datatypes, true/false for BOOL, strings for BYTES. Absent when the tensor "
                "travels as binary data after the JSON header."
            ),
            "anyOf": [
                {"type": "array", "items": {}},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "string"},
            ],
        }
    ),
]
"""The ``data`` member of a tensor (validated by the codec, not here)."""

Shape = list[Annotated[int, Field(ge=0)]]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TensorMetadata(_Wire):
    """An input or output of a model as its metadata lists it (``-1`` marks a variable dim)."""

    name: str
    datatype: Datatype
    shape: list[int]


class ServerMetadataResponse(_Wire):
    """``GET /v2``."""

    name: str
    version: str
    extensions: list[str] = Field(default_factory=list)


class ModelMetadataResponse(_Wire):
    """``GET /v2/models/{name}[/versions/{version}]``."""

    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[TensorMetadata] = Field(default_factory=list)
    outputs: list[TensorMetadata] = Field(default_factory=list)


class RequestInput(_Wire):
    """One input tensor of an inference request."""

    name: str
    shape: Shape
    datatype: Datatype
    parameters: Parameters | None = None
    data: TensorData = None


class RequestOutput(_Wire):
    """One output the caller asks for (``parameters.binary_data`` picks its encoding)."""

    name: str
    parameters: Parameters | None = None


class InferenceRequest(_Wire):
    """``POST /v2/models/{name}[/versions/{version}]/infer``: the JSON (header) part."""

    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(_Wire):
    """One output tensor of an inference response."""

    name: str
    shape: Shape
    datatype: Datatype
    parameters: Parameters | None = None
    data: TensorData = None


class InferenceResponse(_Wire):
    """The JSON (header) part of an inference response."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]
