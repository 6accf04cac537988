"""Training as background jobs, end to end through the API: upload, train, report, predict."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.ml import synthetic
from maas.store.jobs import JobRepository
from maas.store.tables import JobRow, utcnow
from tests.api.test_predict import ROW


def _upload_machine_conditions(client: TestClient, n: int = 1_500) -> None:
    buf = io.StringIO()
    synthetic.machine_conditions(n=n, seed=1).to_csv(buf, index=False)
    r = client.post(
        "/v1/datasets/press-shop/versions",
        content=buf.getvalue().encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 201, r.text


def _wait(client: TestClient, job_id: str, seconds: float = 90.0) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_train_a_version_from_a_template_and_predict_with_it(client: TestClient) -> None:
    _upload_machine_conditions(client)
    r = client.post(
        "/v1/models/press-failure/train",
        json={
            "template": "failure_prediction",
            "dataset": "press-shop",
            "target": "machine_failure",
            "params": {"n_estimators": 40},
            "stability_runs": 2,
            "alias": "staging",
        },
    )
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    assert job["result"] == {"model": "press-failure", "version": 1, "alias": "staging"}
    assert "fitting failure_prediction" in job["log"]
    version = client.get("/v1/models/press-failure/versions/1").json()
    assert version["template"] == "failure_prediction"
    assert version["source_dataset"] == "press-shop@1"
    report = version["report"]
    assert "roc_auc" in report["held_out"]
    assert report["stability"]["roc_auc"]["runs"] == 2
    assert report["baseline"]
    assert set(report["feature_importance"]) == set(ROW)
    assert report["training_profile"]["columns"]["torque_nm"]["kind"] == "numeric"
    # The answers' distribution on the training data: the reference of prediction drift.
    answers = report["prediction_profile"]
    assert answers["kind"] == "numeric"  # P(failure) of a binary classifier
    assert 0.0 <= answers["edges"][0] <= answers["edges"][-1] <= 1.0
    assert sum(answers["shares"]) == pytest.approx(1.0, abs=1e-4)
    answer = client.post("/v1/models/press-failure@staging/predict", json={"rows": [ROW]})
    assert answer.status_code == 200
    assert answer.json()["version"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"template": "no_such_template"}, "template"),
        ({"params": {"n_estimators": -1}}, "params.n_estimators"),
        ({"params": {"colour": "red"}}, "params.colour"),
        (  # a rule across parameters names one of them
            {"template": "remaining_useful_life", "params": {"time_column": "unit"}},
            "params.time_column",
        ),
        ({"target": "no_such_column"}, "target"),
        ({"features": ["torque_nm", "nope"]}, "features"),
        ({"dataset": "no-such-dataset"}, None),
        ({"alias": "Not Valid"}, "alias"),
    ],
)
def test_bad_training_requests_fail_before_any_job(
    client: TestClient,
    body: dict,
    field: str | None,  # type: ignore[type-arg]
) -> None:
    _upload_machine_conditions(client, n=300)
    request = {
        "template": "failure_prediction",
        "dataset": "press-shop",
        "target": "machine_failure",
        **body,
    }
    r = client.post("/v1/models/press-failure/train", json=request)
    assert 400 <= r.status_code < 500, r.text
    if field is not None:
        assert r.json()["field"] == field
    assert client.get("/v1/jobs").json()["total"] == 0


def test_a_job_that_fails_says_why_and_registers_nothing(client: TestClient) -> None:
    _upload_machine_conditions(client, n=300)
    r = client.post(
        "/v1/models/press-failure/train",
        json={
            "template": "failure_prediction",
            "dataset": "press-shop",
            "target": "air_temperature_k",
        },
    )
    job = _wait(client, r.json()["id"])
    assert job["status"] == "failed"
    assert job["message"]
    assert client.get("/v1/models/press-failure").status_code == 404


def test_cancel_a_running_job(client: TestClient) -> None:
    _upload_machine_conditions(client, n=20_000)
    r = client.post(
        "/v1/models/slow/train",
        json={
            "template": "failure_prediction",
            "dataset": "press-shop",
            "target": "machine_failure",
            "params": {"n_estimators": 3000, "learning_rate": 0.01},
        },
    )
    job_id = r.json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v1/jobs/{job_id}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    job = _wait(client, job_id, seconds=30)
    assert job["status"] == "cancelled"
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 409
    assert client.get("/v1/models/slow").status_code == 404


def test_jobs_of_a_dead_server_do_not_stay_running(app: FastAPI) -> None:
    db = app.state.services.registry.db
    tenant = app.state.services.keys.default_tenant()
    with db.writer() as session, session.begin():
        job = JobRepository(session).add(
            tenant_id=tenant.id, kind="train", request={}, created_by="test"
        )
        row = session.get(JobRow, job.id)
        row.status = "running"
        row.heartbeat_at = utcnow() - timedelta(minutes=5)
    assert app.state.services.jobs.fail_stale() == 1
    with db.session() as session:
        assert JobRepository(session).get(tenant.id, job.id).status == "failed"


def test_other_tenants_jobs_are_not_found(client: TestClient) -> None:
    _upload_machine_conditions(client, n=300)
    r = client.post(
        "/v1/models/press-failure/train",
        json={
            "template": "failure_prediction",
            "dataset": "press-shop",
            "target": "machine_failure",
        },
    )
    job_id = r.json()["id"]
    other = client.post("/v1/tenants", json={"name": "plant-b"}).json()["admin_key"]
    headers = {"Authorization": f"Bearer {other}"}
    assert client.get(f"/v1/jobs/{job_id}", headers=headers).status_code == 404
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=headers).status_code == 404
    assert client.get("/v1/jobs", headers=headers).json()["total"] == 0
    _wait(client, job_id)


def test_batch_prediction_of_a_dataset_version(client: TestClient, app: FastAPI) -> None:
    import pyarrow.parquet as pq

    from tests.factories import failure_model, register

    register(app, "machine-failure", failure_model())
    _upload_machine_conditions(client, n=700)
    r = client.post("/v1/models/machine-failure/batch", json={"dataset": "press-shop"})
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["rows"] == 700
    assert job["result"]["version"] == 1
    results = client.get(f"/v1/jobs/{job['id']}/results")
    assert results.status_code == 200
    table = pq.read_table(io.BytesIO(results.content))
    assert table.num_rows == 700
    assert set(table.column_names) == {"prediction", "p_0", "p_1"}
    online = client.post("/v1/models/machine-failure/predict", json={"rows": [ROW]}).json()
    assert online["classes"] == ["0", "1"]


def test_batch_prediction_of_an_anomaly_model_flags_each_row(
    client: TestClient, app: FastAPI
) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from maas.ml.templates.anomaly import AnomalyDetection
    from tests.factories import register

    frame = synthetic.machine_conditions(n=700, seed=1)
    sensors = ["air_temperature_k", "process_temperature_k", "torque_nm"]
    trained = AnomalyDetection(contamination=0.05).fit(frame[sensors]).to_trained_model()
    register(app, "press-watch", trained)
    _upload_machine_conditions(client, n=700)
    r = client.post("/v1/models/press-watch/batch", json={"dataset": "press-shop"})
    job = _wait(client, r.json()["id"])
    assert job["status"] == "succeeded", job
    table = pq.read_table(io.BytesIO(client.get(f"/v1/jobs/{job['id']}/results").content))
    assert set(table.column_names) == {"prediction", "anomaly"}
    scores = table.column("prediction").to_numpy()
    flags = table.column("anomaly").to_numpy(zero_copy_only=False)
    assert flags.dtype == bool
    assert (flags == (scores >= 1.0)).all()
    assert 0 < flags.sum() < len(flags)
    assert np.isfinite(scores).all()


def test_batch_prediction_refuses_a_dataset_without_the_inputs(
    client: TestClient, app: FastAPI
) -> None:
    from tests.factories import register, tool_life_model

    register(app, "tool-life", tool_life_model())
    _upload_machine_conditions(client, n=300)
    r = client.post("/v1/models/tool-life/batch", json={"dataset": "press-shop"})
    assert r.status_code == 422
    assert r.json()["field"] == "dataset"
    assert client.get("/v1/jobs").json()["total"] == 0
    r = client.post("/v1/models/nope/batch", json={"dataset": "press-shop"})
    assert r.status_code == 404


def test_results_of_a_training_job_are_refused(client: TestClient) -> None:
    _upload_machine_conditions(client, n=300)
    r = client.post(
        "/v1/models/m/train",
        json={
            "template": "failure_prediction",
            "dataset": "press-shop",
            "target": "machine_failure",
        },
    )
    job = _wait(client, r.json()["id"])
    assert client.get(f"/v1/jobs/{job['id']}/results").status_code == 409


def test_the_datasets_unit_and_time_columns_become_the_templates(client: TestClient) -> None:
    frame = synthetic.run_to_failure(n_units=12, seed=0).rename(
        columns={"unit": "engine", "cycle": "hours"}
    )
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    r = client.post(
        "/v1/datasets/turbofans/versions",
        params={"unit_column": "engine", "time_column": "hours"},
        content=buf.getvalue().encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/models/turbofan-rul/train",
        json={
            "template": "remaining_useful_life",
            "dataset": "turbofans",
            "params": {"n_estimators": 20, "windows": [5]},
            "stability_runs": 1,
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["request"]["params"]["unit_column"] == "engine"
    assert r.json()["request"]["params"]["time_column"] == "hours"
    job = _wait(client, r.json()["id"])
    assert job["status"] == "succeeded", job
