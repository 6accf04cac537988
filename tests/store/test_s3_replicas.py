"""Two server replicas sharing one database and an S3 bucket (moto on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from maas.api.app import create_app
from maas.settings import Settings
from tests.api.test_predict import ROW
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register

pytestmark = pytest.mark.s3


def test_replicas_share_models_through_s3(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    common = {
        "examples": False,
        "admin_key": ADMIN_KEY,
        "database_url": f"sqlite:///{tmp_path / 'shared.db'}",
        "artifact_uri": "s3://maas-replicas/artifacts",
        "s3_endpoint_url": moto_endpoint,
        "resolve_cache_seconds": 0.0,
    }
    one = create_app(Settings(data_dir=tmp_path / "one", **common))
    two = create_app(Settings(data_dir=tmp_path / "two", **common))
    version = register(one, "machine-failure", failure_model())
    assert version.artifact_uri.startswith("s3://maas-replicas/artifacts/")
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(one, headers=auth) as a, TestClient(two, headers=auth) as b:
        first = a.post("/v1/models/machine-failure/predict", json={"rows": [ROW]}).json()
        second = b.post("/v1/models/machine-failure/predict", json={"rows": [ROW]}).json()
        assert first.pop("prediction_ids") != second.pop("prediction_ids")  # per request
        assert first == second
        register(one, "machine-failure", failure_model(), alias=None)
        a.put("/v1/models/machine-failure/aliases/production", json={"version": 2})
        # the other replica follows the move (its resolve cache is off here)
        answer = b.post("/v1/models/machine-failure/predict", json={"rows": [ROW]}).json()
        assert answer["version"] == 2
    for app in (one, two):
        app.state.services.close()
