"""Uploading ONNX models: checked before anything is stored, then served like any version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

SIGNATURE = {
    "inputs": [{"name": "vibration_mm_s"}, {"name": "temperature_c"}, {"name": "load_pct"}],
    "task": "classification",
    "classes": ["ok", "worn"],
}


@pytest.fixture(scope="module")
def onnx_bytes() -> bytes:
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    proto = skl2onnx.to_onnx(model, x[:1], options={"zipmap": False}, target_opset=17)
    return proto.SerializeToString()


def _upload(client: TestClient, name: str, data: bytes, signature: object = SIGNATURE):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/models/{name}/versions",
        files={"file": ("model.onnx", data, "application/octet-stream")},
        data={
            "signature": json.dumps(signature) if not isinstance(signature, str) else signature,
            "description": "bearing wear",
        },
    )


def test_upload_onnx_then_predict(client: TestClient, onnx_bytes: bytes) -> None:
    r = _upload(client, "bearing-wear", onnx_bytes)
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "onnx"
    assert r.json()["version"] == 1
    client.put("/v1/models/bearing-wear/aliases/production", json={"version": 1})
    rows = [
        {"vibration_mm_s": 2.0, "temperature_c": 1.0, "load_pct": 0.0},
        {"vibration_mm_s": -2.0, "temperature_c": -1.0, "load_pct": 0.0},
    ]
    body = client.post("/v1/models/bearing-wear/predict", json={"rows": rows}).json()
    assert body["predictions"] == ["worn", "ok"]
    assert body["probabilities"][0][1] > 0.5


@pytest.mark.parametrize(
    "data", [b"", b"not an onnx file at all", b"\x08\x07" + b"\xff" * 100, b"PK\x03\x04zipfile"]
)
def test_upload_refuses_what_is_not_onnx_and_stores_nothing(
    client: TestClient, app: FastAPI, data: bytes
) -> None:
    r = _upload(client, "junk", data)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "unsupported_format"
    assert client.get("/v1/models/junk").status_code == 404
    artifacts = Path(app.state.services.settings.data_dir) / "artifacts"
    assert not any(p.is_file() for p in artifacts.rglob("*"))


def test_upload_refuses_onnx_with_external_data(
    client: TestClient, onnx_bytes: bytes, tmp_path: Path
) -> None:
    proto = onnx.load_from_string(onnx_bytes)
    tensor = onnx.numpy_helper.from_array(np.ones(4, dtype=np.float32), name="weights")
    onnx.external_data_helper.set_external_data(tensor, location="../../etc/passwd")
    tensor.ClearField("raw_data")
    proto.graph.initializer.append(tensor)
    r = _upload(client, "sneaky", proto.SerializeToString())
    assert r.status_code == 422
    assert "external" in r.json()["detail"].lower()


@pytest.mark.parametrize(
    ("signature", "field_start"),
    [
        ("{not json", "signature"),
        ({"inputs": []}, "signature.inputs"),
        ({"inputs": [{"name": "a"}, {"name": "a"}]}, "signature"),
        ({"inputs": [{"name": "a", "dtype": "complex"}]}, "signature.inputs"),
        ({**SIGNATURE, "classes": None}, "signature"),
    ],
)
def test_upload_refuses_bad_signatures(
    client: TestClient, onnx_bytes: bytes, signature: object, field_start: str
) -> None:
    r = _upload(client, "bad-sig", onnx_bytes, signature)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field_start)


def test_upload_signature_that_does_not_fit_the_graph(
    client: TestClient, onnx_bytes: bytes
) -> None:
    sig = {**SIGNATURE, "inputs": [{"name": "a"}, {"name": "b"}]}
    r = _upload(client, "misfit", onnx_bytes, sig)
    assert r.status_code == 422


def test_upload_too_large_is_413(app: FastAPI, client: TestClient, onnx_bytes: bytes) -> None:
    app.state.services.settings.max_upload_bytes = 100
    r = _upload(client, "big", onnx_bytes)
    assert r.status_code == 413


def test_upload_needs_a_developer(app: FastAPI, onnx_bytes: bytes) -> None:
    from maas.domain.roles import Role
    from tests.factories import system_principal

    viewer = app.state.services.keys.create_key(system_principal(app), name="v", role=Role.VIEWER)
    with TestClient(app, headers={"Authorization": f"Bearer {viewer.key}"}) as c:
        assert _upload(c, "x", onnx_bytes).status_code == 403
