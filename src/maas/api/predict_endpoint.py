"""The lean ASGI endpoint of ``POST /v1/models/{ref}/predict``: the prediction hot path without
FastAPI's routing and dependency machinery.

Matching every route, solving dependencies and validating parameters cost FastAPI several times
what a small prediction costs. This endpoint takes the requests whose path and query string
are plain (``/v1/models/<ref>/predict``, optionally ``?version=N`` and ``explain=true|false``)
and does for them what the FastAPI route does, in the same order, through the same functions:

1. the key, its rate limit and the route's role (``deps.authorize``, rule ``predict`` of
   ``api/permissions.py``); failures are the same problem documents, and denials are audited;
2. the body (the request middleware enforces its size limit around both);
3. ``routes.predict.serve_prediction``: parse, encode, predict, observe, render.

Any other request for the path (more query parameters, odd values) goes to the FastAPI route,
which answers it the same way. A ``RequestMiddleware`` wraps each, so request ids, body limits,
metrics and the access log do not depend on which one answered.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from maas.api.deps import authorize, secret_of
from maas.api.problems import bug_response, maas_error_response
from maas.api.routes.predict import serve_prediction
from maas.errors import MaasError

__all__ = ["PredictEndpoint"]

_PREFIX = "/v1/models/"
_SUFFIX = "/predict"
_MAX_REF = 120
_TRUE = {b"true": True, b"1": True, b"false": False, b"0": False}
_PLAN = "maas.predict"


def _plain_query(query: bytes) -> tuple[int | None, bool] | None:
    """``version`` and ``explain`` of a plain query string; ``None`` for anything else."""
    version: int | None = None
    explain = False
    seen: set[bytes] = set()
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if name in seen:
            return None
        seen.add(name)
        if name == b"version" and value.isdigit() and len(value) <= 9 and int(value) >= 1:
            version = int(value)
        elif name == b"explain" and value in _TRUE:
            explain = _TRUE[value]
        else:
            return None
    return version, explain


class PredictEndpoint:
    """See the module docstring. ``match`` picks the requests it takes (``MaasAPI`` sends
    them here, past FastAPI, inside a ``RequestMiddleware`` of their own)."""

    def __init__(self, app: FastAPI, route: APIRoute) -> None:
        self.app = app
        self.route = route
        """The FastAPI route of the same operation (its name and path template)."""

    def match(self, scope: Scope) -> PredictEndpoint | None:
        """This endpoint if it takes the request, else ``None`` (FastAPI answers it)."""
        if scope["method"] != "POST" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
            return None
        ref = path[len(_PREFIX) : -len(_SUFFIX)]
        if not ref or len(ref) > _MAX_REF or "/" in ref:
            return None
        query: bytes = scope.get("query_string", b"")
        options = _plain_query(query) if query else (None, False)
        if options is None:
            return None
        scope[_PLAN] = (ref, *options)
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ref, version, explain = scope.pop(_PLAN)
        scope["route"] = self.route  # the metrics' route template, the audit's action name
        scope["app"] = self.app
        state: dict[str, Any] = scope.setdefault("state", {})
        authorization = content_type = accept = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"accept" and accept is None:
                accept = value.decode("latin-1")
        client = scope.get("client")
        try:
            principal = authorize(
                self.app.state.services,
                secret_of(authorization),
                client=client[0] if client else "unknown",
                route_name=self.route.name,
                state=state,
            )
        except MaasError as exc:
            await maas_error_response(Request(scope, receive), exc)(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except ClientDisconnect:
            return
        try:
            content, media_type = await serve_prediction(
                self.app.state,
                principal,
                ref,
                version=version,
                body=body,
                content_type=content_type,
                accept=accept,
                explain=explain,
            )
        except MaasError as exc:
            await maas_error_response(Request(scope, receive), exc)(scope, receive, send)
            return
        except Exception as exc:  # noqa: BLE001 - a bug: logged, answered with a 500 problem
            await bug_response(exc)(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", media_type.encode("latin-1")),
                    (b"content-length", str(len(content)).encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
