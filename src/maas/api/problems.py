"""The one table from error class to HTTP status, and RFC 9457 problem rendering."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from maas import errors as e
from maas.observability.logging import request_id_var

__all__ = [
    "STATUS",
    "bug_response",
    "install_problem_handlers",
    "maas_error_response",
    "problem_response",
    "status_of",
]

log = logging.getLogger(__name__)

STATUS: dict[type[e.MaasError], int] = {
    e.MaasError: 500,
    e.NotFoundError: 404,
    e.ConflictError: 409,
    e.InvalidInputError: 422,
    e.MalformedRequestError: 400,
    e.UnsupportedMediaTypeError: 415,
    e.AuthenticationError: 401,
    e.PermissionDeniedError: 403,
    e.LimitExceededError: 429,
    e.PayloadTooLargeError: 413,
    e.RateLimitedError: 429,
    e.ModelTimeoutError: 504,
    e.IntegrityError: 500,
    e.NotFittedError: 500,
    e.ModelExecutionError: 500,
}
"""Resolved along the MRO: a subclass without an entry takes its nearest parent's status."""

PROBLEM_TYPE = "urn:maas:problem:"


def status_of(exc: e.MaasError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def _jsonable(value: Any) -> Any:
    try:
        orjson.dumps(value)
    except TypeError:
        return str(value)
    return value


def problem_response(
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    doc: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request_id_var.get(),
        "code": code,
    }
    doc.update({k: _jsonable(v) for k, v in extra.items() if v is not None})
    return Response(
        orjson.dumps(doc),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def render_error(exc: e.MaasError, *, v2: bool = False) -> Response:
    """The problem document of ``exc``; on ``/v2`` routes it also carries the Open Inference
    Protocol's ``error`` member, which v2 clients (tritonclient, KServe) read."""
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, e.AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, e.RateLimitedError):
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    if status >= 500:
        log.error("request failed: %s", exc.message, exc_info=exc)
    return problem_response(
        status,
        code=exc.code,
        title=exc.title,
        detail=exc.message,
        headers=headers or None,
        field=exc.field,
        expected=exc.expected,
        received=exc.received,
        **({"details": exc.details} if exc.details else {}),
        **({"error": exc.message} if v2 else {}),
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or ".".join(str(p) for p in loc)


def _record_denial(request: Request, exc: e.MaasError) -> None:
    """Every denied request goes to the audit trail: who (if known), what, from where."""
    services = request.app.state.services
    principal = getattr(request.state, "principal", None) or getattr(
        request.state, "denied_principal", None
    )
    route = request.scope.get("route")
    services.audit.record(
        principal,
        action=getattr(route, "name", None) or "unmatched",
        resource=f"{request.method} {request.url.path}",
        outcome="denied",
        request_id=request_id_var.get(),
        details={
            "code": exc.code,
            "reason": exc.message,
            "client": request.client.host if request.client else None,
        },
    )


def maas_error_response(request: Request, exc: e.MaasError) -> Response:
    """The problem document of a domain error; denials (401, 403) are audited first."""
    if isinstance(exc, e.AuthenticationError | e.PermissionDeniedError):
        _record_denial(request, exc)
    return render_error(exc, v2=request.url.path.startswith("/v2"))


def bug_response(exc: Exception) -> Response:
    """A 500 problem carrying only the request id; the traceback goes to the log."""
    log.error("unhandled error", exc_info=exc)
    return problem_response(
        500,
        code="internal_error",
        title="Internal server error",
        detail="The server failed on this request; the request id locates it in the log.",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error a problem document: ours, FastAPI's validation, routing, and bugs."""

    async def on_maas_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, e.MaasError)
        return maas_error_response(request, exc)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for err in exc.errors():
            received = err.get("input")
            problems.append(
                {
                    "field": _field_of(tuple(err.get("loc", ()))),
                    "message": err.get("msg", ""),
                    "expected": err.get("type"),
                    "received": _jsonable(received),
                }
            )
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return problem_response(
                400,
                code=e.MalformedRequestError.code,
                title=e.MalformedRequestError.title,
                detail="The request body is not valid JSON.",
                field="body",
            )
        return problem_response(
            422,
            code=e.InvalidInputError.code,
            title=e.InvalidInputError.title,
            detail=f"{first['field']}: {first['message']}",
            field=first["field"],
            expected=first.get("expected"),
            received=first.get("received"),
            errors=problems,
        )

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem_response(
            exc.status_code,
            code=code,
            title=str(exc.detail) if exc.status_code != 404 else "Not found",
            detail=str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def on_bug(_request: Request, exc: Exception) -> Response:
        return bug_response(exc)

    app.add_exception_handler(e.MaasError, on_maas_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_bug)
