"""Online prediction on /v1: answers, signature checks and every kind of bad input."""

from __future__ import annotations

import math

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.domain.roles import Role
from tests.factories import failure_model, register, system_principal, tool_life_model

ROW = {
    "type": "M",
    "air_temperature_k": 300.1,
    "process_temperature_k": 310.2,
    "rotational_speed_rpm": 1500,
    "torque_nm": 40.5,
    "tool_wear_min": 120,
}


@pytest.fixture
def model(app: FastAPI) -> str:
    register(app, "machine-failure", failure_model())
    return "machine-failure"


def _key(app: FastAPI, role: Role) -> str:
    return app.state.services.keys.create_key(
        system_principal(app), name=f"k-{role}", role=role
    ).key


def test_predict_rows_answers_with_version_and_probabilities(
    client: TestClient, model: str
) -> None:
    r = client.post(f"/v1/models/{model}/predict", json={"rows": [ROW, {**ROW, "torque_nm": 70}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == model
    assert body["version"] == 1
    assert body["classes"] == ["0", "1"]
    assert len(body["predictions"]) == 2
    assert all(p in body["classes"] for p in body["predictions"])
    for probs in body["probabilities"]:
        assert math.isclose(sum(probs), 1.0, rel_tol=1e-5)


def test_predict_columns_equal_rows(client: TestClient, model: str) -> None:
    rows = [ROW, {**ROW, "tool_wear_min": 230, "type": "L"}]
    by_rows = client.post(f"/v1/models/{model}/predict", json={"rows": rows}).json()
    columns = {k: [r[k] for r in rows] for k in ROW}
    by_cols = client.post(f"/v1/models/{model}/predict", json={"columns": columns}).json()
    assert by_rows["probabilities"] == by_cols["probabilities"]


def test_predict_matches_the_template_in_process(client: TestClient, model: str) -> None:
    import pandas as pd

    from maas.ml import synthetic

    frame = synthetic.machine_conditions(n=50, seed=3)
    rows = frame.drop(columns=["machine_failure"]).to_dict(orient="records")
    body = client.post(f"/v1/models/{model}/predict", json={"rows": rows}).json()
    from maas.runtimes.catalog import get_runtime

    trained = failure_model()
    predictor = get_runtime(trained.format).load(trained.artifact, trained.signature)
    from maas.runtimes.encoding import rows_to_matrix

    expected = predictor.predict(rows_to_matrix(rows, trained.signature))
    assert body["predictions"] == list(expected.predictions)
    assert isinstance(frame, pd.DataFrame)


def test_predict_explain_gives_contributions_that_add_up(client: TestClient, app: FastAPI) -> None:
    register(app, "tool-life", tool_life_model())
    row = {
        "rotational_speed_rpm": 2000.0,
        "torque_nm": 30.0,
        "feed_mm_per_rev": 0.2,
        "material": "steel",
        "coolant": True,
    }
    body = client.post("/v1/models/tool-life/predict", json={"rows": [row], "explain": True}).json()
    contrib = body["contributions"][0]
    assert set(contrib) == {*row, "_bias"}
    assert math.isclose(sum(contrib.values()), body["predictions"][0], rel_tol=1e-3, abs_tol=1e-2)


def test_predict_by_version_and_alias(client: TestClient, app: FastAPI, model: str) -> None:
    register(app, model, failure_model(), alias="staging")
    assert client.post(f"/v1/models/{model}@2/predict", json={"rows": [ROW]}).json()["version"] == 2
    assert (
        client.post(f"/v1/models/{model}@staging/predict", json={"rows": [ROW]}).json()["version"]
        == 2
    )
    assert client.post(f"/v1/models/{model}/predict", json={"rows": [ROW]}).json()["version"] == 1
    assert (
        client.post(f"/v1/models/{model}@latest/predict", json={"rows": [ROW]}).json()["version"]
        == 2
    )


def test_predict_follows_alias_moves_at_once(client: TestClient, app: FastAPI, model: str) -> None:
    register(app, model, failure_model(), alias=None)
    assert client.post(f"/v1/models/{model}/predict", json={"rows": [ROW]}).json()["version"] == 1
    client.put(f"/v1/models/{model}/aliases/production", json={"version": 2})
    assert client.post(f"/v1/models/{model}/predict", json={"rows": [ROW]}).json()["version"] == 2
    client.post(f"/v1/models/{model}/aliases/production/rollback")
    assert client.post(f"/v1/models/{model}/predict", json={"rows": [ROW]}).json()["version"] == 1


@pytest.mark.parametrize(
    ("rows", "field", "expected"),
    [
        ([{k: v for k, v in ROW.items() if k != "torque_nm"}], "torque_nm", "float64"),
        ([{**ROW, "colour": "red"}], "colour", "no such column"),
        ([{**ROW, "torque_nm": "forty"}], "rows[0].torque_nm", "a number"),
        ([{**ROW, "type": "X"}], "rows[0].type", "one of ['H', 'L', 'M']"),
        ([ROW, {**ROW, "tool_wear_min": None}], "rows[1].tool_wear_min", None),
        ([{**ROW, "torque_nm": True}], "rows[0].torque_nm", "a number"),
    ],
)
def test_predict_rejects_rows_that_do_not_fit(
    client: TestClient, model: str, rows: list[dict[str, object]], field: str, expected: str | None
) -> None:
    r = client.post(f"/v1/models/{model}/predict", json={"rows": rows})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "schema_mismatch"
    assert problem["field"] == field
    if expected is not None:
        assert problem["expected"] == expected
    assert "detail" in problem


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_request"),
        (b'{"rows": [{"torque_nm": NaN}]}', 400, "malformed_request"),
        (b'{"rows": [{"torque_nm": Infinity}]}', 400, "malformed_request"),
        (b"[]", 422, "invalid_input"),
        (b'{"rows": []}', 422, "invalid_input"),
        (b'{"rows": {}}', 422, "invalid_input"),
        (b'{"rows": [1, 2]}', 422, "schema_mismatch"),
        (b'{"rows": [], "columns": {}}', 422, "invalid_input"),
        (b'{"data": []}', 422, "invalid_input"),
        (b'{"rows": [{}], "explain": "yes"}', 422, "invalid_input"),
        (b'{"columns": {"torque_nm": [1, 2]}}', 422, "schema_mismatch"),
    ],
)
def test_predict_bad_bodies_get_clear_4xx(
    client: TestClient, model: str, body: bytes, status: int, code: str
) -> None:
    r = client.post(
        f"/v1/models/{model}/predict", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


def test_predict_columns_of_unequal_length(client: TestClient, model: str) -> None:
    columns = {k: [v, v] for k, v in ROW.items()}
    columns["torque_nm"] = [1.0]
    r = client.post(f"/v1/models/{model}/predict", json={"columns": columns})
    assert r.status_code == 422
    assert r.json()["field"] == "columns.torque_nm"


def test_predict_wrong_content_type_is_415(client: TestClient, model: str) -> None:
    r = client.post(
        f"/v1/models/{model}/predict", content=b"rows=1", headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_media_type"


def test_predict_unknown_model_names_it(client: TestClient) -> None:
    r = client.post("/v1/models/no-such-model/predict", json={"rows": [ROW]})
    assert r.status_code == 404
    assert "no-such-model" in r.json()["detail"]
    r = client.post("/v1/models/BAD NAME/predict", json={"rows": [ROW]})
    assert r.status_code == 422


def test_predict_unknown_alias_and_version(client: TestClient, model: str) -> None:
    assert (
        client.post(f"/v1/models/{model}@nope/predict", json={"rows": [ROW]}).json()["code"]
        == "alias_not_found"
    )
    assert (
        client.post(f"/v1/models/{model}@7/predict", json={"rows": [ROW]}).json()["code"]
        == "version_not_found"
    )


def test_predict_too_many_rows_is_413(app: FastAPI, model: str) -> None:
    app.state.services.serving.max_rows = 3
    with TestClient(app, headers={"Authorization": "Bearer " + _key(app, Role.CONSUMER)}) as c:
        r = c.post(f"/v1/models/{model}/predict", json={"rows": [ROW] * 4})
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


def test_body_over_the_limit_is_413_and_nothing_breaks(
    client: TestClient, app: FastAPI, model: str
) -> None:
    limit = app.state.services.settings.max_body_bytes
    big = orjson.dumps({"rows": [ROW] * (limit // 100 + 10)})
    assert len(big) > limit
    r = client.post(
        f"/v1/models/{model}/predict", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert client.post(f"/v1/models/{model}/predict", json={"rows": [ROW]}).status_code == 200


def test_roles_consumer_predicts_but_cannot_read_viewer_reads_but_cannot_predict(
    app: FastAPI, model: str
) -> None:
    consumer = {"Authorization": "Bearer " + _key(app, Role.CONSUMER)}
    viewer = {"Authorization": "Bearer " + _key(app, Role.VIEWER)}
    with TestClient(app) as c:
        assert (
            c.post(
                f"/v1/models/{model}/predict", json={"rows": [ROW]}, headers=consumer
            ).status_code
            == 200
        )
        assert c.get("/v1/models", headers=consumer).status_code == 403
        assert c.get("/v1/models", headers=viewer).status_code == 200
        r = c.post(f"/v1/models/{model}/predict", json={"rows": [ROW]}, headers=viewer)
        assert r.status_code == 403
        assert r.json()["code"] == "permission_denied"
        assert (
            c.put(f"/v1/models/{model}/aliases/x", json={"version": 1}, headers=viewer).status_code
            == 403
        )


def test_no_key_or_a_wrong_key_is_401(anon: TestClient, model: str) -> None:
    r = anon.post(f"/v1/models/{model}/predict", json={"rows": [ROW]})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = anon.post(
        f"/v1/models/{model}/predict",
        json={"rows": [ROW]},
        headers={"Authorization": "Bearer nope"},
    )
    assert r.status_code == 401
    r = anon.get("/v1/models", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
