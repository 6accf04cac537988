"""The dashboard: a static single-page app served at ``/ui`` from files inside the package.

Every script, style and chart library is a file of the package (``maas/ui/static``), so the
dashboard works on a plant network without internet access. The pages sign in with an API key
and call the same ``/v1`` routes as any client, so the key's tenant and role decide what they
show; these routes themselves are public and hand out only the static files.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from maas.api.problems import problem_response

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(include_in_schema=False)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""No inline script or style, nothing from another origin: the pages only talk to this server."""

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
"""The kinds of file served under ``/ui/assets``; anything else in the folder (licences,
notes) stays private."""

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # File names carry no content hash, so browsers revalidate every time (a 304 when the
    # ETag still matches): an upgraded server never runs with last release's scripts.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


def _static_root() -> Traversable:
    return files("maas").joinpath("ui", "static")


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        if entry.is_dir():
            found.update(_walk(entry, f"{prefix}{entry.name}/"))
        else:
            found[prefix + entry.name] = entry
    return found


def _asset(entry: Traversable, media_type: str) -> _Asset:
    body = entry.read_bytes()
    return _Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@functools.cache
def _assets() -> dict[str, _Asset]:
    """Every servable file, read once: the set of names is fixed when the package is built,
    so a request path is looked up here and never joined onto a folder."""
    table: dict[str, _Asset] = {}
    for name, entry in _walk(_static_root()).items():
        suffix = name[name.rfind(".") :] if "." in name else ""
        if suffix in _TYPES:
            table[name] = _asset(entry, _TYPES[suffix])
    return table


@functools.cache
def _index() -> _Asset:
    return _asset(_static_root().joinpath("index.html"), "text/html; charset=utf-8")


def _send(asset: _Asset, request: Request) -> Response:
    headers = {**_HEADERS, "ETag": asset.etag}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def ui_index(request: Request) -> Response:
    """The dashboard's page; it signs in with an API key and reads ``/v1``."""
    return _send(_index(), request)


def ui_asset(path: str, request: Request) -> Response:
    """One script, style sheet or icon of the dashboard."""
    asset = _assets().get(path)
    if asset is None:
        return problem_response(
            404,
            code="not_found",
            title="Not found",
            detail=f"The dashboard has no file {path[:200]!r}.",
        )
    return _send(asset, request)


router.add_api_route("/ui", ui_index, methods=["GET", "HEAD"], name="ui_index")
router.add_api_route("/ui/", ui_index, methods=["GET", "HEAD"], name="ui_index")
router.add_api_route("/ui/assets/{path:path}", ui_asset, methods=["GET", "HEAD"], name="ui_asset")
