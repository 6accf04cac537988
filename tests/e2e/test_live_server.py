"""Against a real uvicorn process on loopback: plain HTTP, the SDK, tritonclient, restarts."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

import maas
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import LiveServer, start_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

ROW = {
    "type": "L",
    "air_temperature_k": 298.0,
    "process_temperature_k": 308.5,
    "rotational_speed_rpm": 1380,
    "torque_nm": 60.0,
    "tool_wear_min": 210,
}
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_curl_like_prediction(live: LiveServer) -> None:
    r = httpx.post(
        f"{live.url}/v1/models/machine-failure/predict", json={"rows": [ROW]}, headers=dict(AUTH)
    )
    assert r.status_code == 200
    assert r.json()["model"] == "machine-failure"
    assert httpx.get(f"{live.url}/health/ready").status_code == 200


def test_sdk_against_the_live_server(live: LiveServer) -> None:
    with maas.Client(live.url, ADMIN_KEY) as client:
        names = [m.name for m in client.list_models().items]
        assert names == ["machine-failure", "tool-life"]
        answer = client.predict("machine-failure", rows=[ROW])
        assert answer.version == 1
        assert answer.classes == ["0", "1"]
        with pytest.raises(maas.ModelNotFoundError):
            client.predict("no-such-model", rows=[ROW])
        with pytest.raises(maas.SchemaMismatchError) as info:
            client.predict("machine-failure", rows=[{**ROW, "torque_nm": "x"}])
        assert info.value.field == "rows[0].torque_nm"


def _triton(live: LiveServer):  # type: ignore[no-untyped-def]
    http = pytest.importorskip("tritonclient.http")
    return http, http.InferenceServerClient(
        url=f"{live.host}:{live.port}", connection_timeout=10, network_timeout=10
    )


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infers_with_a_classifier(live: LiveServer, binary: bool) -> None:
    http, client = _triton(live)
    assert client.is_server_live()
    assert client.is_server_ready(headers=dict(AUTH))
    assert client.is_model_ready("machine-failure", headers=dict(AUTH))
    meta = client.get_model_metadata("machine-failure", headers=dict(AUTH))
    assert [i["name"] for i in meta["inputs"]][:2] == ["type", "air_temperature_k"]
    inputs = []
    for item in meta["inputs"]:
        value = ROW[item["name"]]
        if item["datatype"] == "BYTES":
            arr = np.array([value, value], dtype=object)
        else:
            arr = np.array([value, value], dtype=np.float32)
        tensor = http.InferInput(item["name"], [2], item["datatype"])
        tensor.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(tensor)
    outputs = [
        http.InferRequestedOutput("predictions", binary_data=binary),
        http.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    result = client.infer(
        "machine-failure", inputs, model_version="1", outputs=outputs, headers=dict(AUTH)
    )
    probs = result.as_numpy("probabilities")
    assert probs.shape == (2, 2)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predictions")]
    rest = httpx.post(
        f"{live.url}/v1/models/machine-failure@1/predict", json={"rows": [ROW]}, headers=dict(AUTH)
    ).json()
    assert labels[0] == rest["predictions"][0]
    assert np.allclose(probs[0], rest["probabilities"][0], atol=1e-6)


def test_tritonclient_single_matrix_input_on_a_regressor(live: LiveServer) -> None:
    http, client = _triton(live)
    meta = client.get_model_metadata("tool-life", headers=dict(AUTH))
    assert {i["name"] for i in meta["inputs"]} >= {"torque_nm", "material"}
    tensors = []
    row = {
        "rotational_speed_rpm": 1800.0,
        "torque_nm": 25.0,
        "feed_mm_per_rev": 0.15,
        "material": "aluminium",
        "coolant": True,
    }
    for item in meta["inputs"]:
        value = row[item["name"]]
        dtype = {"BYTES": object, "BOOL": bool}.get(item["datatype"], np.float32)
        tensor = http.InferInput(item["name"], [1], item["datatype"])
        tensor.set_data_from_numpy(np.array([value], dtype=dtype))
        tensors.append(tensor)
    result = client.infer("tool-life", tensors, headers=dict(AUTH))
    assert result.as_numpy("predictions").shape == (1,)
    assert result.get_response()["model_version"] == "1"


def test_tritonclient_errors_are_clear(live: LiveServer) -> None:
    http, client = _triton(live)
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("no-such-model", headers=dict(AUTH))
    assert "no-such-model" in str(info.value)


def test_restart_keeps_models_and_predictions(tmp_path_factory: pytest.TempPathFactory) -> None:
    from maas.settings import Settings

    data = tmp_path_factory.mktemp("restart") / "data"
    settings = Settings(data_dir=data, examples=False, admin_key=ADMIN_KEY)
    first = start_server(settings)
    rows = [ROW, {**ROW, "type": "H", "torque_nm": 20.0}]
    try:
        before = httpx.post(
            f"{first.url}/v1/models/machine-failure/predict",
            json={"rows": rows},
            headers=dict(AUTH),
        ).json()
    finally:
        first.stop()
    second = start_server(settings, prepare=False)
    try:
        after = httpx.post(
            f"{second.url}/v1/models/machine-failure/predict",
            json={"rows": rows},
            headers=dict(AUTH),
        ).json()
        versions = httpx.get(f"{second.url}/v1/models/machine-failure/versions", headers=dict(AUTH))
    finally:
        second.stop()
    assert after.pop("prediction_ids") != before.pop("prediction_ids")  # one per request
    assert after == before
    assert versions.json()["total"] == 1


def test_sdk_onboards_a_tenant(live: LiveServer) -> None:
    with maas.Client(live.url, ADMIN_KEY) as client:
        created = client.create_tenant("plant-sdk")
        assert created.admin_key.startswith("maas_")
        assert "plant-sdk" in [t.name for t in client.list_tenants()]
        with pytest.raises(maas.AlreadyExistsError):
            client.create_tenant("plant-sdk")
    with maas.Client(live.url, created.admin_key) as plant:
        assert plant.list_models().total == 0
        with pytest.raises(maas.PermissionDeniedError):
            plant.list_tenants()
