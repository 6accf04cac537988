"""schemathesis against the app's own OpenAPI document: no generated request gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from maas.api.app import create_app
from maas.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    app = create_app(Settings(data_dir=data, examples=False, admin_key=ADMIN_KEY))
    register(app, "machine-failure", failure_model())
    yield app
    app.state.services.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
def test_no_generated_request_gets_a_server_error(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers=AUTH)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
