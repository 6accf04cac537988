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
from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    app = create_app(Settings(data_dir=data, examples=False, admin_key=ADMIN_KEY))
    register(app, "machine-failure", failure_model())
    yield app
    app.state.services.close()


def test_no_generated_request_gets_a_server_error(fuzz_app: FastAPI) -> None:
    # Driven by hand rather than by schemathesis' pytest plugin, which does not follow
    # pytest 9 yet: one hypothesis run per operation of the OpenAPI document.
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=AUTH)
            where = (case.method, case.formatted_path, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                content_type = response.headers.get("content-type")
                if isinstance(content_type, list):
                    content_type = content_type[0]
                assert content_type == "application/problem+json", where

        check()
        checked += 1
    assert checked >= 25
