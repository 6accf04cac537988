"""ASGI middleware: request ids, body size limits, access logs and request metrics."""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maas.api.problems import problem_response
from maas.errors import PayloadTooLargeError
from maas.observability.logging import ACCESS_LOGGER, access_sink, request_id_var
from maas.observability.metrics import Metrics

__all__ = ["RequestMiddleware"]

log = logging.getLogger(ACCESS_LOGGER)


class _TooLargeError(Exception):
    pass


class RequestMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead) so the prediction path stays short."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        limit_for: Callable[[str, str], int],
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.limit_for = limit_for
        self.access_log = access_log
        # Request ids: a random prefix per process and a counter (32 hex digits, unique without
        # a random draw, i.e. a system call, per request).
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count(1)

    def _next_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids) & 0xFFFFFFFFFFFFFFFF:016x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or self._next_id()
        token = request_id_var.set(rid)
        method: str = scope["method"]
        path: str = scope["path"]
        limit = self.limit_for(method, path)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _TooLargeError
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _TooLargeError
                return message

            await self.app(scope, limited_receive, send_wrapper)
        except _TooLargeError:
            response = problem_response(
                413,
                code=PayloadTooLargeError.code,
                title=PayloadTooLargeError.title,
                detail=f"The request body is larger than the limit of {limit} bytes.",
                field="body",
                expected=f"<= {limit} bytes",
            )
            await response(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(method, template, status, elapsed)
            if self.access_log and not path.startswith(("/health", "/v2/health")):
                ms = round(elapsed * 1000, 3)
                sink = access_sink(log)
                if sink is not None:
                    sink.access(method, path, status, ms, rid)
                elif log.isEnabledFor(logging.INFO):
                    # makeRecord + handle is log.info without its walk up the stack for the
                    # caller's file and line, which an access log does not need.
                    log.handle(
                        log.makeRecord(
                            log.name, logging.INFO, __file__, 0, "%s %s %s",
                            (method, path, status), None,
                            extra={"method": method, "path": path, "status": status,
                                   "duration_ms": ms},
                        )
                    )  # fmt: skip
            request_id_var.reset(token)
