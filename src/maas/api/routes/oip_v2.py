"""Open Inference Protocol v2 (KServe / Triton HTTP): stock v2 clients call our models.

Each signature column is one input tensor (shape ``[n]``); all-numeric models also take a
single ``[n, n_inputs]`` tensor. Outputs are ``predictions`` (labels as BYTES for classifiers),
``probabilities`` (``[n, n_classes]``) for classifiers, ``anomalies`` (``BOOL`` ``[n]``, score at
least 1) for anomaly scorers and, with the request parameter ``explain: true``,
``contributions`` (``[n, n_inputs + 1]``, the last column the bias). A text model's per-term
explanation (``terms`` on ``/v1``) is a mapping per row, not a tensor, so v2 does not carry it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from maas.api.deps import PrincipalDep, ServingDep
from maas.api.oip_codec import HEADER_LENGTH_FIELD, decode_infer_request, encode_infer_response
from maas.api.prediction_hook import observe_failure, observe_prediction
from maas.api.routes.health import _ready
from maas.api.routes.info import package_version
from maas.api.routes.predict import run_prediction
from maas.domain.principal import Principal
from maas.domain.signature import ColumnType, Signature, Task
from maas.errors import InvalidInputError, InvalidParameterError, SchemaMismatchError
from maas.runtimes.encoding import tensors_to_matrix
from maas.schemas.models import VersionRead
from maas.schemas.oip_v2 import (
    Datatype,
    InferenceRequest,
    InferenceResponse,
    ModelMetadataResponse,
    ServerMetadataResponse,
    TensorMetadata,
)
from maas.services.serving import INLINE_ROWS, ServingService

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])

ModelName = Annotated[str, Path(max_length=120, description="NAME, NAME@ALIAS or NAME@N")]
ModelVersion = Annotated[str, Path(max_length=12, pattern=r"^[0-9]+$")]

_DATATYPES = {
    ColumnType.FLOAT: Datatype.FP32,
    ColumnType.INT: Datatype.INT64,
    ColumnType.BOOL: Datatype.BOOL,
    ColumnType.CATEGORY: Datatype.BYTES,
    ColumnType.STRING: Datatype.BYTES,
}


def _output_names(sig: Signature) -> list[str]:
    if sig.task is Task.CLASSIFICATION:
        return ["predictions", "probabilities", "contributions"]
    if sig.task is Task.ANOMALY:
        return ["predictions", "anomalies", "contributions"]
    return ["predictions", "contributions"]


def _metadata(version: VersionRead, all_versions: list[str]) -> ModelMetadataResponse:
    sig = version.signature
    outputs = [
        TensorMetadata(
            name="predictions",
            datatype=Datatype.BYTES if sig.task is Task.CLASSIFICATION else Datatype.FP32,
            shape=[-1],
        )
    ]
    if sig.task is Task.CLASSIFICATION:
        outputs.append(
            TensorMetadata(
                name="probabilities", datatype=Datatype.FP32, shape=[-1, len(sig.classes or [])]
            )
        )
    if sig.task is Task.ANOMALY:
        outputs.append(TensorMetadata(name="anomalies", datatype=Datatype.BOOL, shape=[-1]))
    outputs.append(
        TensorMetadata(
            name="contributions", datatype=Datatype.FP32, shape=[-1, len(sig.inputs) + 1]
        )
    )
    return ModelMetadataResponse(
        name=version.model,
        versions=all_versions,
        platform=f"maas_{version.format}",
        inputs=[
            TensorMetadata(name=c.name, datatype=_DATATYPES[c.dtype], shape=[-1])
            for c in sig.inputs
        ],
        outputs=outputs,
    )


@router.get("/health/live")
def oip_server_live() -> dict[str, bool]:
    """v2 server liveness."""
    return {"live": True}


@router.get("/health/ready")
def oip_server_ready(request: Request) -> Response:
    """v2 server readiness (its database answers)."""
    ok, _ = _ready(request)
    return Response(
        b'{"ready":true}' if ok else b'{"ready":false}',
        status_code=200 if ok else 503,
        media_type="application/json",
    )


@router.get("", response_model=ServerMetadataResponse)
def oip_server_metadata(_principal: PrincipalDep) -> ServerMetadataResponse:
    """v2 server metadata."""
    return ServerMetadataResponse(
        name="maas", version=package_version(), extensions=["binary_tensor_data"]
    )


def _versions(serving: ServingService, principal: Principal, name: str) -> list[str]:
    model = name.partition("@")[0]
    return [str(v.version) for v in serving.registry.list_versions(principal, model)]


@router.get("/models/{model_name}", response_model=ModelMetadataResponse)
def oip_model_metadata(
    model_name: ModelName, principal: PrincipalDep, serving: ServingDep
) -> ModelMetadataResponse:
    """v2 model metadata of the version ``model_name`` resolves to (its ``production`` alias)."""
    version = serving.resolve(principal.tenant_id, model_name)
    return _metadata(version, _versions(serving, principal, model_name))


@router.get("/models/{model_name}/versions/{model_version}", response_model=ModelMetadataResponse)
def oip_model_version_metadata(
    model_name: ModelName, model_version: ModelVersion, principal: PrincipalDep, serving: ServingDep
) -> ModelMetadataResponse:
    """v2 model metadata of one version."""
    version = serving.resolve(principal.tenant_id, model_name, int(model_version))
    return _metadata(version, _versions(serving, principal, model_name))


def _ready_response(serving: ServingService, version: VersionRead) -> Response:
    serving.predictor(version)  # loads it; errors become problems
    return Response(b'{"ready":true}', media_type="application/json")


@router.get("/models/{model_name}/ready")
def oip_model_ready(
    model_name: ModelName, principal: PrincipalDep, serving: ServingDep
) -> Response:
    """200 once the model is loaded and can answer (it is loaded now if it was not)."""
    return _ready_response(serving, serving.resolve(principal.tenant_id, model_name))


@router.get("/models/{model_name}/versions/{model_version}/ready")
def oip_model_version_ready(
    model_name: ModelName, model_version: ModelVersion, principal: PrincipalDep, serving: ServingDep
) -> Response:
    """200 once the version is loaded and can answer."""
    version = serving.resolve(principal.tenant_id, model_name, int(model_version))
    return _ready_response(serving, version)


def _infer_body() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": InferenceRequest.model_json_schema()},
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                    "description": "JSON header + binary tensors (binary_tensor_data extension)",
                },
            },
        }
    }


async def _infer(
    request: Request,
    principal: Principal,
    serving: ServingService,
    model_name: str,
    model_version: int | None,
) -> Response:
    header = request.headers.get(HEADER_LENGTH_FIELD)
    header_length: int | None = None
    if header is not None:
        if not header.strip().isdigit():
            raise InvalidInputError(
                f"{HEADER_LENGTH_FIELD} must be a whole number of bytes.",
                field=HEADER_LENGTH_FIELD,
                received=header[:40],
            )
        header_length = int(header)
    decoded = decode_infer_request(await request.body(), header_length)
    version = serving.resolve(principal.tenant_id, model_name, model_version)
    explain = decoded.parameters.get("explain", False)
    if not isinstance(explain, bool):
        raise InvalidParameterError(
            "Parameter 'explain' must be true or false.",
            field="parameters.explain",
            expected="boolean",
            received=explain,
        )
    available = _output_names(version.signature)
    for wanted in decoded.outputs:
        if wanted.name not in available:
            raise SchemaMismatchError(
                f"Model {version.model!r} has no output {wanted.name!r}; it has {available}.",
                field="outputs",
                expected=available,
                received=wanted.name,
            )
    wants = {o.name for o in decoded.outputs}
    explain = explain or "contributions" in wants
    try:
        x = tensors_to_matrix(decoded.inputs, version.signature, model=f"model {version.model!r}")
        started = time.perf_counter()
        served = await run_prediction(
            request,
            serving,
            lambda: (version, x),
            explain=explain,
            inline=x.shape[0] <= INLINE_ROWS,
        )
    except Exception:
        observe_failure(request.app.state, principal, version.model)
        raise
    ids = observe_prediction(request.app.state, principal, served, x, time.perf_counter() - started)
    pred = served.prediction
    produced: list[tuple[str, np.ndarray, Datatype | None]] = []
    if version.signature.task is Task.CLASSIFICATION:
        produced.append(("predictions", np.asarray(pred.predictions, dtype=object), Datatype.BYTES))
        if pred.probabilities is not None:
            produced.append(("probabilities", pred.probabilities, Datatype.FP32))
    else:
        produced.append(("predictions", np.asarray(pred.predictions), Datatype.FP32))
    if pred.anomalies is not None:
        produced.append(("anomalies", np.asarray(pred.anomalies, dtype=bool), Datatype.BOOL))
    if pred.contributions is not None:
        produced.append(("contributions", pred.contributions, Datatype.FP32))
    if wants:
        produced = [p for p in produced if p[0] in wants]
    body, json_length = encode_infer_response(
        version.model,
        str(version.version),
        decoded.id,
        produced,
        decoded.binary_outputs(),
        # v2 parameters are scalars: the prediction log's ids, comma-separated, one per
        # prediction (empty where not logged), for POST /v1/feedback
        parameters=None if ids is None else {"prediction_ids": ",".join(i or "" for i in ids)},
    )
    if json_length is None:
        return Response(body, media_type="application/json")
    return Response(
        body,
        media_type="application/octet-stream",
        headers={HEADER_LENGTH_FIELD: str(json_length)},
    )


@router.post(
    "/models/{model_name}/infer", response_model=InferenceResponse, openapi_extra=_infer_body()
)
async def oip_infer(
    request: Request, model_name: ModelName, principal: PrincipalDep, serving: ServingDep
) -> Response:
    """v2 inference on the version ``model_name`` resolves to."""
    return await _infer(request, principal, serving, model_name, None)


@router.post(
    "/models/{model_name}/versions/{model_version}/infer",
    response_model=InferenceResponse,
    openapi_extra=_infer_body(),
)
async def oip_infer_version(
    request: Request,
    model_name: ModelName,
    model_version: ModelVersion,
    principal: PrincipalDep,
    serving: ServingDep,
) -> Response:
    """v2 inference on one version."""
    return await _infer(request, principal, serving, model_name, int(model_version))
