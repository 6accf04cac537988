"""Abuse limits: per-key rate limit, prediction timeout; and tenant onboarding."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.api.app import create_app
from maas.api.limits import RateLimiter
from maas.errors import RateLimitedError
from maas.runtimes.base import Prediction
from maas.settings import Settings
from tests.api.test_predict import ROW
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            data_dir=tmp_path / "d",
            examples=False,
            admin_key=ADMIN_KEY,
            rate_limit_per_second=1,
            rate_limit_burst=3,
        )
    )
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        codes = [c.get("/v1/models").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/v1/models")
        assert r.json()["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        # the bucket is the key's, whatever the route
        assert c.post("/v1/keys", json={"name": "o", "role": "viewer"}).status_code == 429
    app.state.services.close()


def test_rate_limiter_refills() -> None:
    limiter = RateLimiter(rate=50, burst=1)
    limiter.check("k")
    with pytest.raises(RateLimitedError) as info:
        limiter.check("k")
    assert 0 < info.value.retry_after <= 0.02 + 1e-9
    time.sleep(0.03)
    limiter.check("k")
    RateLimiter(rate=0, burst=1).check("k")  # 0 turns it off


class _SlowPredictor:
    def __init__(self, signature):  # type: ignore[no-untyped-def]
        self.signature = signature

    def predict(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        time.sleep(0.5)
        return Prediction(predictions=np.zeros(len(x)))


def test_slow_model_times_out_with_504(app: FastAPI, client: TestClient) -> None:
    version = register(app, "machine-failure", failure_model())
    serving = app.state.services.serving
    serving._models[version.artifact_uri] = _SlowPredictor(version.signature)
    serving.timeout_seconds = 0.1  # what predict_timeout_seconds sets at start
    r = client.post("/v1/models/machine-failure/predict", json={"rows": [ROW] * 300})
    assert r.status_code == 504
    assert r.json()["code"] == "model_timeout"
    assert client.get("/health/live").status_code == 200


def test_default_tenant_admin_onboards_a_plant(client: TestClient) -> None:
    r = client.post("/v1/tenants", json={"name": "plant-koeln"})
    assert r.status_code == 201
    plant_key = r.json()["admin_key"]
    assert [t["name"] for t in client.get("/v1/tenants").json()] == ["default", "plant-koeln"]
    assert client.post("/v1/tenants", json={"name": "plant-koeln"}).status_code == 409
    assert client.post("/v1/tenants", json={"name": "../x"}).status_code == 422
    plant = {"Authorization": f"Bearer {plant_key}"}
    assert client.get("/v1/keys", headers=plant).json()[0]["tenant"] == "plant-koeln"
    # a tenant's own admin cannot create or list tenants
    assert client.post("/v1/tenants", json={"name": "x"}, headers=plant).status_code == 403
    assert client.get("/v1/tenants", headers=plant).status_code == 403
