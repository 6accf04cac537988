"""Online prediction on ``/v1``: rows or columns of JSON, or an Arrow IPC / Parquet table, in;
predictions out (JSON, or an Arrow IPC stream when the caller accepts one).

``serve_prediction`` is the whole hot path; two ASGI entries share it: the lean endpoint
(``api.predict_endpoint``), which takes nearly every request without FastAPI's routing and
dependency machinery, and the FastAPI route below, which documents the operation and takes the
rest (unusual paths or query strings), with the same checks and answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from maas.api.arrow_codec import ARROW_STREAM, PARQUET, encode_prediction, read_table
from maas.api.deps import PrincipalDep
from maas.api.prediction_hook import observe_failure, observe_prediction
from maas.domain.principal import Principal
from maas.errors import (
    InvalidInputError,
    MalformedRequestError,
    UnsupportedMediaTypeError,
)
from maas.schemas.models import VersionRead
from maas.schemas.predict import PredictRequest, PredictResponse
from maas.services.serving import INLINE_ROWS, Served, ServingService

router = APIRouter(prefix="/v1/models", tags=["prediction"])


_ALLOWED_KEYS = frozenset(PredictRequest.model_fields)


def read_json_body(body: bytes, content_type: str | None) -> Any:
    """Parse a JSON request body with orjson.

    Raises:
        UnsupportedMediaTypeError: the content type is not JSON.
        MalformedRequestError: the body is not JSON (NaN and Infinity literals included).
    """
    if content_type is not None and "json" not in content_type.lower():
        raise UnsupportedMediaTypeError(
            f"This route reads application/json. Got {content_type!r} instead.",
            field="content-type",
            expected="application/json",
            received=content_type,
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(
            f"The request body is not valid JSON: {exc}", field="body"
        ) from exc


def _parse_predict(data: Any) -> tuple[Any, Any, bool]:
    if not isinstance(data, dict):
        raise InvalidInputError(
            "The body must be a JSON object with 'rows' or 'columns'.",
            field="body",
            expected="object",
            received=type(data).__name__,
        )
    unknown = set(data) - _ALLOWED_KEYS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInputError(
            f"Unknown member {name!r}; allowed: {sorted(_ALLOWED_KEYS)}.",
            field=name,
            expected=sorted(_ALLOWED_KEYS),
            received=name,
        )
    rows, columns, explain = data.get("rows"), data.get("columns"), data.get("explain", False)
    if rows is not None and not isinstance(rows, list):
        raise InvalidInputError(
            "'rows' must be a list of objects.",
            field="rows",
            expected="array",
            received=type(rows).__name__,
        )
    if columns is not None and not isinstance(columns, dict):
        raise InvalidInputError(
            "'columns' must be an object of name → list.",
            field="columns",
            expected="object",
            received=type(columns).__name__,
        )
    if not isinstance(explain, bool):
        raise InvalidInputError(
            "'explain' must be true or false.",
            field="explain",
            expected="boolean",
            received=explain,
        )
    return rows, columns, explain


async def run_prediction(
    request: Request,
    serving: ServingService,
    prepare: Callable[[], tuple[VersionRead, np.ndarray]],
    *,
    explain: bool,
    inline: bool,
) -> Served:
    """Encode (small inputs on the event loop, large ones on a worker thread), then predict
    through ``ServingService.predict_async`` (batching, timeout).

    Raises:
        ModelTimeoutError: the model ran longer than ``predict_timeout_seconds``.
    """
    version, x = prepare() if inline else await run_in_threadpool(prepare)
    principal: Principal = request.state.principal
    return await serving.predict_async(principal.tenant_id, version, x, explain=explain)


INLINE_BODY_BYTES = 64 * 1024
"""Request bodies up to this size are parsed and encoded on the event loop; larger ones on a
worker thread, so that a big (or malicious) body never stalls other requests."""
_MEDIA_TYPES = ("application/json", ARROW_STREAM, PARQUET)


@dataclass(frozen=True, slots=True)
class PredictInput:
    """A parsed prediction request body: one of ``rows``, ``columns`` or ``table``."""

    rows: list[Any] | None
    columns: dict[str, Any] | None
    table: Any
    explain: bool


def parse_predict_body(
    body: bytes, content_type: str | None, explain: bool, *, max_rows: int
) -> PredictInput:
    """Parse a JSON, Arrow IPC stream or Parquet body (by its content type; none means JSON).
    ``explain`` (from the query) adds explanations whatever the body says.

    Raises:
        UnsupportedMediaTypeError, MalformedRequestError, InvalidInputError,
        PayloadTooLargeError (a table of more than ``max_rows`` rows).
    """
    media = (content_type or "application/json").partition(";")[0].strip().lower()
    if media in (ARROW_STREAM, PARQUET):
        return PredictInput(None, None, read_table(body, media, max_rows=max_rows), explain)
    if "json" not in media:
        raise UnsupportedMediaTypeError(
            f"This route reads {', '.join(_MEDIA_TYPES)}. Got {content_type!r} instead.",
            field="content-type",
            expected=list(_MEDIA_TYPES),
            received=content_type,
        )
    rows, columns, body_explain = _parse_predict(read_json_body(body, content_type))
    return PredictInput(rows, columns, None, explain or body_explain)


async def serve_prediction(
    app_state: Any,
    principal: Principal,
    ref: str,
    *,
    version: int | None,
    body: bytes,
    content_type: str | None,
    accept: str | None,
    explain: bool,
) -> tuple[bytes, str]:
    """Parse, encode, predict, observe and render one request; returns the response body and
    its media type. The caller has checked the key, its role and the body size.

    Raises:
        MaasError subclasses (mapped to problem documents by the caller).
    """
    serving: ServingService = app_state.services.serving
    small = len(body) <= INLINE_BODY_BYTES
    started = time.perf_counter()

    def prepare() -> tuple[bool, VersionRead, np.ndarray]:
        parsed = parse_predict_body(body, content_type, explain, max_rows=serving.max_rows)
        found, x = serving.prepare(
            principal,
            ref,
            rows=parsed.rows,
            columns=parsed.columns,
            table=parsed.table,
            version=version,
        )
        return parsed.explain, found, x

    try:
        explain, found, x = prepare() if small else await run_in_threadpool(prepare)
        served = await serving.predict_async(principal.tenant_id, found, x, explain=explain)
    except Exception:
        observe_failure(app_state, principal, ref)
        raise
    ids = observe_prediction(app_state, principal, served, x, time.perf_counter() - started)
    arrow = accept is not None and ARROW_STREAM in accept
    if small and len(x) <= INLINE_ROWS:
        return render(served, arrow=arrow, prediction_ids=ids)
    return await run_in_threadpool(render, served, arrow=arrow, prediction_ids=ids)


def render(
    served: Served, *, arrow: bool = False, prediction_ids: list[str | None] | None = None
) -> tuple[bytes, str]:
    """The response body and media type: JSON (``render_served``) or an Arrow IPC stream."""
    if arrow:
        return encode_prediction(served, prediction_ids), ARROW_STREAM
    return (
        orjson.dumps(render_served(served, prediction_ids), option=orjson.OPT_SERIALIZE_NUMPY),
        "application/json",
    )


def render_served(served: Served, prediction_ids: list[str | None] | None = None) -> dict[str, Any]:
    version, pred = served.version, served.prediction
    sig = version.signature
    out: dict[str, Any] = {
        "model": version.model,
        "version": version.version,
        "predictions": np.asarray(pred.predictions).tolist(),
    }
    if pred.probabilities is not None:
        out["classes"] = sig.classes
        out["probabilities"] = pred.probabilities
    if pred.keys is not None:
        out["keys"] = pred.keys
    if pred.quantiles is not None:
        out["quantiles"] = {q: np.asarray(v).tolist() for q, v in pred.quantiles.items()}
    if pred.contributions is not None:
        names = [*sig.input_names, "_bias"]
        contrib = np.asarray(pred.contributions, dtype=np.float64).round(6)
        out["contributions"] = [dict(zip(names, row, strict=True)) for row in contrib.tolist()]
    if pred.anomalies is not None:
        out["anomalies"] = np.asarray(pred.anomalies, dtype=bool).tolist()
    if pred.terms is not None:
        out["terms"] = [{t: round(v, 6) for t, v in row.items()} for row in pred.terms]
    if prediction_ids is not None:
        out["prediction_ids"] = prediction_ids
    return out


_BODY_TYPES = {
    "application/json": {"schema": PredictRequest.model_json_schema()},
    ARROW_STREAM: {
        "schema": {"type": "string", "format": "binary"},
        "description": "An Arrow IPC stream, one column per input (explain: query parameter)",
    },
    PARQUET: {
        "schema": {"type": "string", "format": "binary"},
        "description": "A Parquet file, one column per input (explain: query parameter)",
    },
}


@router.post(
    "/{ref}/predict",
    response_model=PredictResponse,
    openapi_extra={"requestBody": {"required": True, "content": _BODY_TYPES}},
    responses={
        200: {
            "content": {
                ARROW_STREAM: {
                    "schema": {"type": "string", "format": "binary"},
                    "description": "With 'Accept: " + ARROW_STREAM + "': the prediction columns",
                }
            }
        }
    },
)
async def predict(
    request: Request,
    ref: Annotated[
        str, Path(max_length=120, description="NAME (its production alias), NAME@ALIAS or NAME@N")
    ],
    principal: PrincipalDep,
    version: Annotated[int | None, Query(ge=1, description="Overrides the ref's selector")] = None,
    explain: Annotated[
        bool, Query(description="Add per-feature contributions (for Arrow and Parquet bodies)")
    ] = False,
) -> Response:
    """Predict with a model. Send ``rows`` (list of objects) or ``columns`` (name → list) as
    JSON, or a table as an Arrow IPC stream or a Parquet file (one column per input).

    The answer names the model and version that answered; classifiers add ``classes`` and
    ``probabilities``; ``explain`` adds per-feature ``contributions``. With
    ``Accept: application/vnd.apache.arrow.stream`` the answer is an Arrow IPC stream of the
    prediction columns.
    """
    content, media_type = await serve_prediction(
        request.app.state,
        principal,
        ref,
        version=version,
        body=await request.body(),
        content_type=request.headers.get("content-type"),
        accept=request.headers.get("accept"),
        explain=explain,
    )
    return Response(content, media_type=media_type)
