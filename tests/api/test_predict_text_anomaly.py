"""What text and anomaly models add on the wire: per-term contributions and anomaly flags."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.ml import synthetic
from maas.ml.templates.anomaly import AnomalyDetection
from maas.ml.templates.base import TrainedModel
from maas.ml.templates.text import SERVED_TERMS, TextClassification
from tests.factories import failure_model, register

SENSORS = ["flow_l_min", "pressure_bar", "temperature_c"]
NORMAL = {"flow_l_min": 50.0, "pressure_bar": 10.0, "temperature_c": 60.0}
LEAK = {"flow_l_min": 50.0, "pressure_bar": 6.0, "temperature_c": 60.0}
"""Every reading within its usual range, but the pressure far below what the flow gives."""
LOGS = [
    "press 3: oil leak at hydraulic cylinder, ticket closed",
    "spindle 2: grinding noise from bearing, vibration high, checked by night shift",
    "",
]


def _pump_readings(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    flow = rng.normal(50.0, 5.0, n)
    pressure = 0.2 * flow + rng.normal(0.0, 0.3, n)
    anomaly = np.zeros(n, dtype=np.int64)
    rows = rng.choice(n, size=n // 20, replace=False)
    anomaly[rows] = 1
    pressure[rows] -= 2.5
    return pd.DataFrame(
        {
            "flow_l_min": flow.round(2),
            "pressure_bar": pressure.round(3),
            "temperature_c": rng.normal(60.0, 2.0, n).round(2),
            "anomaly": anomaly,
        }
    )


@functools.cache
def _text_template() -> TextClassification:
    return TextClassification().fit(synthetic.maintenance_logs(n=400, seed=0))


@functools.cache
def _anomaly_template() -> AnomalyDetection:
    return AnomalyDetection(contamination=0.05).fit(_pump_readings(), target="anomaly")


def _register(app: FastAPI, name: str, trained: TrainedModel) -> str:
    register(app, name, trained)
    return name


@pytest.fixture
def text_model(app: FastAPI) -> str:
    return _register(app, "log-triage", _text_template().to_trained_model())


@pytest.fixture
def anomaly_model(app: FastAPI) -> str:
    return _register(app, "pump-watch", _anomaly_template().to_trained_model())


def _predict(client: TestClient, model: str, body: dict[str, object]) -> dict[str, object]:
    r = client.post(f"/v1/models/{model}/predict", json=body)
    assert r.status_code == 200, r.text
    return r.json()


# --- text: terms --------------------------------------------------------------------------------


def test_predict_text_explain_lists_the_terms_of_each_prediction(
    client: TestClient, text_model: str
) -> None:
    rows = [{"log_text": t} for t in LOGS]
    body = _predict(client, text_model, {"rows": rows, "explain": True})
    assert body["predictions"][:2] == ["hydraulic", "bearing"]
    expected = _text_template().explain_terms(pd.DataFrame({"log_text": LOGS}), top=SERVED_TERMS)
    assert len(body["terms"]) == len(LOGS)
    for served, local in zip(body["terms"], expected, strict=True):
        assert list(served) == list(local)  # the same terms, in the same order
        assert served == pytest.approx(local, abs=1e-6)
    assert body["terms"][2] == {}  # an empty text has no term


def test_predict_text_terms_rank_by_size_and_add_up_to_the_text_contribution(
    client: TestClient, text_model: str
) -> None:
    # three words, so at most five terms (and their bigrams): none is left out of the list
    body = _predict(
        client, text_model, {"rows": [{"log_text": "hydraulic oil leak"}], "explain": True}
    )
    assert body["predictions"] == ["hydraulic"]
    (terms,) = body["terms"]
    assert 3 <= len(terms) <= 5
    assert {"hydraulic", "oil", "leak"} <= set(terms)
    sizes = [abs(v) for v in terms.values()]
    assert sizes == sorted(sizes, reverse=True)
    assert terms["hydraulic"] > 0  # it pushes towards the predicted class
    (contributions,) = body["contributions"]
    assert set(contributions) == {"log_text", "_bias"}
    assert math.isclose(sum(terms.values()), contributions["log_text"], abs_tol=1e-5)


def test_predict_text_keeps_at_most_the_served_number_of_terms(
    client: TestClient, text_model: str
) -> None:
    long_log = " ".join(LOGS[:2]) + " motor overheating, fuse blown, insert worn, hose cracked"
    body = _predict(client, text_model, {"columns": {"log_text": [long_log]}, "explain": True})
    assert len(body["terms"][0]) == SERVED_TERMS


def test_predict_text_without_explain_has_no_terms(client: TestClient, text_model: str) -> None:
    body = _predict(client, text_model, {"rows": [{"log_text": LOGS[0]}]})
    assert "terms" not in body
    assert "contributions" not in body
    assert body["classes"] == _text_template().classes_


# --- anomaly: flags -----------------------------------------------------------------------------


def test_predict_anomaly_flags_each_row(client: TestClient, anomaly_model: str) -> None:
    body = _predict(client, anomaly_model, {"rows": [NORMAL, LEAK, NORMAL]})
    assert body["anomalies"] == [False, True, False]
    assert [s >= 1.0 for s in body["predictions"]] == body["anomalies"]
    assert "terms" not in body


def test_predict_anomaly_flags_agree_with_the_template(
    client: TestClient, anomaly_model: str
) -> None:
    frame = _pump_readings(n=200, seed=5)
    columns = {name: frame[name].tolist() for name in SENSORS}
    body = _predict(client, anomaly_model, {"columns": columns, "explain": True})
    flags = _anomaly_template().is_anomaly(frame[SENSORS])
    assert body["anomalies"] == flags.tolist()
    assert 0 < sum(body["anomalies"]) < len(frame)  # both answers occur
    for contributions, score in zip(body["contributions"], body["predictions"], strict=True):
        assert set(contributions) == {*SENSORS, "_bias"}
        assert math.isclose(sum(contributions.values()), score, rel_tol=1e-4, abs_tol=1e-4)


def test_predict_anomaly_threshold_is_on_the_version(
    client: TestClient, anomaly_model: str
) -> None:
    r = client.get(f"/v1/models/{anomaly_model}/versions/1")
    assert r.status_code == 200, r.text
    version = r.json()
    assert version["params"]["contamination"] == 0.05
    assert version["metrics"]["contamination"] == 0.05
    assert version["metrics"]["threshold"] == _anomaly_template().model_.threshold
    assert version["metrics"]["threshold"] > 0


def test_predict_other_models_carry_neither_field(client: TestClient, app: FastAPI) -> None:
    register(app, "machine-failure", failure_model())
    row = {
        "type": "M",
        "air_temperature_k": 300.1,
        "process_temperature_k": 310.2,
        "rotational_speed_rpm": 1500,
        "torque_nm": 40.5,
        "tool_wear_min": 120,
    }
    body = _predict(client, "machine-failure", {"rows": [row], "explain": True})
    assert "anomalies" not in body
    assert "terms" not in body
    assert len(body["contributions"]) == 1


def test_predict_response_schema_declares_anomalies_and_terms(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictResponse"]
    anomalies = schema["properties"]["anomalies"]["anyOf"][0]
    terms = schema["properties"]["terms"]["anyOf"][0]
    assert anomalies == {"type": "array", "items": {"type": "boolean"}}
    assert terms["items"] == {"type": "object", "additionalProperties": {"type": "number"}}


# --- Open Inference Protocol v2 -------------------------------------------------------------------


def test_oip_infer_anomaly_adds_a_bool_output(client: TestClient, anomaly_model: str) -> None:
    inputs = [
        {"name": n, "datatype": "FP32", "shape": [2], "data": [NORMAL[n], LEAK[n]]} for n in SENSORS
    ]
    r = client.post(f"/v2/models/{anomaly_model}/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert set(outputs) == {"predictions", "anomalies"}
    assert outputs["anomalies"]["datatype"] == "BOOL"
    assert outputs["anomalies"]["shape"] == [2]
    assert outputs["anomalies"]["data"] == [False, True]


def test_oip_anomaly_metadata_lists_the_flag_output(client: TestClient, anomaly_model: str) -> None:
    r = client.get(f"/v2/models/{anomaly_model}")
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert outputs["anomalies"] == {"name": "anomalies", "datatype": "BOOL", "shape": [-1]}
    assert list(outputs) == ["predictions", "anomalies", "contributions"]


def test_oip_infer_anomaly_can_ask_for_the_flags_alone(
    client: TestClient, anomaly_model: str
) -> None:
    inputs = [{"name": n, "datatype": "FP32", "shape": [1], "data": [LEAK[n]]} for n in SENSORS]
    body = {"inputs": inputs, "outputs": [{"name": "anomalies"}]}
    r = client.post(f"/v2/models/{anomaly_model}/infer", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == [
        {"name": "anomalies", "datatype": "BOOL", "shape": [1], "data": [True]}
    ]
