"""The routes that hand out the dashboard's files: public, cached by ETag, under a strict
Content-Security-Policy, never outside the package's folder, and nothing fetched from elsewhere."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.api.permissions import PUBLIC
from maas.api.routes.ui import CONTENT_SECURITY_POLICY

STATIC = files("maas").joinpath("ui", "static")


def _static_files() -> list[str]:
    found = []

    def walk(folder, prefix: str = "") -> None:  # noqa: ANN001 - a Traversable
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                found.append(prefix + entry.name)

    walk(STATIC)
    return sorted(found)


@pytest.mark.parametrize("path", ["/ui", "/ui/"])
def test_ui_index_is_served_without_a_key(app: FastAPI, path: str) -> None:
    with TestClient(app) as client:
        r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/ui/assets/app.js">' in r.text


def test_ui_policy_allows_nothing_inline_or_foreign() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_ui_assets_have_their_types_and_revalidate(app: FastAPI) -> None:
    with TestClient(app) as client:
        script = client.get("/ui/assets/app.js")
        style = client.get("/ui/assets/vendor/uplot/uPlot.min.css")
        again = client.get("/ui/assets/app.js", headers={"If-None-Match": script.headers["etag"]})
        head = client.head("/ui/assets/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert again.status_code == 304
    assert again.content == b""
    assert head.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/ui/assets/nope.js",
        "/ui/assets/../../api/app.py",
        "/ui/assets/..%2F..%2Fapi%2Fapp.py",
        "/ui/assets/%2e%2e/%2e%2e/settings.py",
        "/ui/assets/index.html",
        "/ui/assets/vendor/uplot/LICENSE",
        "/ui/assets/vendor/uplot/README.md",
    ],
)
def test_ui_asset_outside_the_list_is_a_404_problem(app: FastAPI, path: str) -> None:
    with TestClient(app) as client:
        r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "not_found"


def test_ui_routes_are_public_and_out_of_the_openapi_document(app: FastAPI) -> None:
    assert {"ui_index", "ui_asset"} <= PUBLIC
    assert not [p for p in app.openapi()["paths"] if p.startswith("/ui")]


def test_ui_files_reference_nothing_outside_the_server() -> None:
    """Offline: no CDN, no web font, no remote script, style or image anywhere."""
    remote = re.compile(
        r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|"""
        r"""import\s*(?:[^"';]*from\s*)?["'](?:https?:)?//|fetch\(\s*["'](?:https?:)?//"""
    )
    offenders = []
    for name in _static_files():
        if not name.endswith((".html", ".js", ".css", ".svg")):
            continue
        text = STATIC.joinpath(*name.split("/")).read_text(encoding="utf-8")
        if remote.search(text):
            offenders.append(name)
    assert offenders == []


def test_ui_files_ship_the_chart_library_with_its_licence() -> None:
    names = _static_files()
    assert {
        "index.html",
        "app.js",
        "app.css",
        "vendor/uplot/uPlot.iife.min.js",
        "vendor/uplot/uPlot.min.css",
        "vendor/uplot/LICENSE",
        "vendor/uplot/README.md",
    } <= set(names)
    readme = STATIC.joinpath("vendor", "uplot", "README.md").read_text(encoding="utf-8")
    assert "1.6.32" in readme
    assert "MIT" in readme


def test_ui_scripts_build_no_markup_from_strings() -> None:
    """Model names, descriptions and audit records reach the page as text only."""
    offenders = []
    for name in _static_files():
        if name.endswith(".js") and not name.startswith("vendor/"):
            text = STATIC.joinpath(*name.split("/")).read_text(encoding="utf-8")
            if re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", text):
                offenders.append(name)
    assert offenders == []
