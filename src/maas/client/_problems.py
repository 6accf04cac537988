"""Error responses back into exceptions: a problem document becomes the ``MaasError`` subclass
the server raised.

The server renders every ``MaasError`` as an RFC 9457 problem whose ``code`` member is the
class's ``code``; here that code selects the same class again, so ``except ModelNotFoundError``
works on both sides of the wire. Answers without a known code (a proxy's error page, a newer
server's new code) fall back to the class of their HTTP status, then to ``MaasError``.
"""

from __future__ import annotations

import email.utils
import functools
import time
from typing import Any

import httpx
import orjson

from maas.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    MaasError,
    MalformedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnsupportedMediaTypeError,
    all_error_classes,
)

__all__ = ["error_from_response"]

_STATUS_CLASSES: dict[int, type[MaasError]] = {
    400: MalformedRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: InvalidInputError,
    429: RateLimitedError,
}
"""The class an answer gets from its status alone, when its body names no known code."""

_OWN_MEMBERS = frozenset({"detail", "code", "field", "expected", "received", "details"})
"""Members that become the exception's own attributes. The server's ``details`` object comes
back as ``details``, and every other member (``status``, ``title``, ``type``, ``instance``,
``errors``, extensions) is added to it."""

_DEFAULT_RETRY_AFTER = 1.0


@functools.cache
def _classes_by_code() -> dict[str, type[MaasError]]:
    return {cls.code: cls for cls in all_error_classes()}


def error_from_response(response: httpx.Response) -> MaasError:
    """Build the exception an error response stands for.

    Args:
        response: an answer with a 4xx or 5xx status, its body already read.

    Returns:
        The ``MaasError`` subclass whose ``code`` the problem names, else the class of the
        status, else ``MaasError``; ``details`` always holds ``status``.
    """
    problem = _problem_document(response)
    if problem is None:
        reason = response.reason_phrase or "error"
        snippet = response.text[:200].strip()
        message = f"The server answered {response.status_code} {reason}" + (
            f": {snippet}" if snippet else "."
        )
        cls = _STATUS_CLASSES.get(response.status_code, MaasError)
        return _instantiate(cls, message, response, {"status": response.status_code}, {})

    code = problem.get("code")
    cls = (_classes_by_code().get(code) if isinstance(code, str) else None) or _STATUS_CLASSES.get(
        response.status_code, MaasError
    )
    detail = problem.get("detail") or problem.get("title") or f"HTTP {response.status_code}"
    sent_details = problem.get("details")
    details = dict(sent_details) if isinstance(sent_details, dict) else {}
    details.update((key, value) for key, value in problem.items() if key not in _OWN_MEMBERS)
    details["status"] = response.status_code
    if isinstance(code, str) and cls.code != code:
        details["code"] = code  # an unknown code is kept, so nothing the server said is lost
    return _instantiate(cls, str(detail), response, details, problem)


def _problem_document(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when it is not one."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _instantiate(
    cls: type[MaasError],
    message: str,
    response: httpx.Response,
    details: dict[str, Any],
    problem: dict[str, Any],
) -> MaasError:
    fields: dict[str, Any] = {
        "field": problem.get("field"),
        "expected": problem.get("expected"),
        "received": problem.get("received"),
        "details": details,
    }
    if issubclass(cls, RateLimitedError):
        return cls(message, retry_after=_retry_after(response, problem), **fields)
    return cls(message, **fields)


def _retry_after(response: httpx.Response, problem: dict[str, Any]) -> float:
    """Seconds to wait, from ``Retry-After`` (seconds or an HTTP date), else the body."""
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    value = problem.get("retry_after")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    return _DEFAULT_RETRY_AFTER
