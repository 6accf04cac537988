"""What the sync and async clients share: the ``Call`` an operation is described by, and
turning a ``Call`` into a request and a response back into a result or an error.

``_operations`` builds one ``Call`` per API operation, so ``Client.get_model`` and
``AsyncClient.get_model`` differ only in ``await``.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from maas.client._problems import error_from_response
from maas.client._types import TimeoutTypes
from maas.client._uploads import Upload
from maas.errors import InvalidParameterError, MaasError

__all__ = [
    "USE_CLIENT_DEFAULT",
    "BaseClient",
    "Call",
    "TimeoutArg",
    "UseClientDefault",
    "no_content",
    "package_version",
    "parse_as",
]

T = TypeVar("T")


class UseClientDefault:
    """The type of ``USE_CLIENT_DEFAULT``: "this call takes the client's own setting".

    ``None`` cannot mean that for ``timeout``, because ``timeout=None`` means "wait forever".
    """

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT = UseClientDefault()

TimeoutArg: TypeAlias = TimeoutTypes | UseClientDefault
"""A per-call ``timeout``: its own value, or ``USE_CLIENT_DEFAULT``."""


@functools.cache
def package_version() -> str:
    """The installed version of ``maas``, or ``0+unknown`` when running from a bare checkout."""
    try:
        return importlib.metadata.version("maas")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API operation: the request to send, and how to read a successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | int] | None = None
    json: bytes | None = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    upload: Upload | None = None
    """A raw body streamed from a file (dataset uploads), or raw bytes (Arrow tables)."""
    accept: str | None = None
    """The media type of the answer wanted, when it is not JSON (an Arrow IPC stream)."""


class BaseClient:
    """URL, credentials and timeout, and turning a ``Call`` into a request and back."""

    def __init__(self, url: str, api_key: str | None, *, timeout: TimeoutTypes) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidParameterError(
                f"url must start with http:// or https://. Got {url!r} instead.",
                field="url",
                expected="http(s)://host[:port][/prefix]",
                received=url,
            )
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"maas-python/{package_version()}",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    @property
    def url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self._url

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(url={self._url!r})"

    def _build_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        call: Call[Any],
        timeout: TimeoutArg,
    ) -> httpx.Request:
        headers = dict(self._headers)
        if call.accept is not None:
            headers["Accept"] = f"{call.accept}, application/problem+json"
        content: Any = call.json
        if call.json is not None:
            headers["Content-Type"] = "application/json"
        if call.upload is not None:
            headers["Content-Type"] = call.upload.content_type
            size = call.upload.size
            if size is not None:  # lets the server refuse a too-large file before it is sent
                headers["Content-Length"] = str(size)
            content = call.upload.content(asynchronous=isinstance(http, httpx.AsyncClient))
        return http.build_request(
            call.method,
            self._url + call.path,
            params=dict(call.params) if call.params else None,
            content=content,
            data=dict(call.data) if call.data is not None else None,
            files=dict(call.files) if call.files is not None else None,
            headers=headers,
            timeout=self._timeout if isinstance(timeout, UseClientDefault) else timeout,
        )

    @staticmethod
    def _read_response(call: Call[T], response: httpx.Response) -> T:
        if response.is_error:
            raise error_from_response(response)
        return call.parse(response)


def parse_as(tp: type[T]) -> Callable[[httpx.Response], T]:
    """A parser validating the body as ``tp`` (a schema class or ``list[...]`` of one)."""
    adapter = TypeAdapter(tp)  # cheap: it reuses the schema classes' validators

    def parse(response: httpx.Response) -> T:
        try:
            result: T = adapter.validate_json(response.content)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the body"
            raise MaasError(
                f"The server's answer to {response.request.method} {response.request.url.path} "
                f"is not a valid {getattr(tp, '__name__', tp)}: {where}: {first['msg']}.",
                details={"status": response.status_code, "errors": exc.error_count()},
            ) from exc
        return result

    return parse


def no_content(response: httpx.Response) -> None:  # noqa: ARG001 - a Call's parser signature
    return None
