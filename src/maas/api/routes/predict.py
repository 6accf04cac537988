"""Online prediction on ``/v1``: rows or columns of JSON in, predictions out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from maas.api.deps import PrincipalDep, ServingDep
from maas.errors import (
    InvalidInputError,
    MalformedRequestError,
    ModelTimeoutError,
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
    """Encode and predict: small requests on trusted formats inline on the event loop (no
    thread hop), everything else on a worker thread under the configured timeout.

    Raises:
        ModelTimeoutError: the model ran longer than ``predict_timeout_seconds``.
    """
    if inline:
        version, x = prepare()
        if serving.is_fast(version, int(x.shape[0])):
            return serving.predict_matrix(version, x, explain=explain)
    else:
        version, x = await run_in_threadpool(prepare)
    timeout = request.app.state.services.settings.predict_timeout_seconds
    try:
        return await asyncio.wait_for(
            run_in_threadpool(serving.predict_matrix, version, x, explain=explain), timeout
        )
    except TimeoutError as exc:
        raise ModelTimeoutError(
            f"Model {version.model!r} version {version.version} took longer than {timeout:g} s.",
            expected=f"<= {timeout:g} s",
        ) from exc


def render_served(served: Served) -> dict[str, Any]:
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
    return out


@router.post(
    "/{ref}/predict",
    response_model=PredictResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
        }
    },
)
async def predict(
    request: Request,
    ref: Annotated[
        str, Path(max_length=120, description="NAME (its production alias), NAME@ALIAS or NAME@N")
    ],
    principal: PrincipalDep,
    serving: ServingDep,
    version: Annotated[int | None, Query(ge=1, description="Overrides the ref's selector")] = None,
) -> Response:
    """Predict with a model. Send ``rows`` (list of objects) or ``columns`` (name → list).

    The answer names the model and version that answered; classifiers add ``classes`` and
    ``probabilities``; ``explain: true`` adds per-feature ``contributions``.
    """
    rows, columns, explain = _parse_predict(
        read_json_body(await request.body(), request.headers.get("content-type"))
    )
    started = time.perf_counter()
    served = await run_prediction(
        request,
        serving,
        lambda: serving.prepare(principal, ref, rows=rows, columns=columns, version=version),
        explain=explain,
        inline=rows is not None and len(rows) <= INLINE_ROWS,
    )
    elapsed = time.perf_counter() - started
    request.app.state.services.audit.count_prediction(
        principal, served.version.model, served.version.version
    )
    request.app.state.metrics.observe_prediction(
        served.version.model,
        served.version.version,
        len(served.prediction.predictions),
        elapsed,
    )
    return Response(
        orjson.dumps(render_served(served), option=orjson.OPT_SERIALIZE_NUMPY),
        media_type="application/json",
    )
