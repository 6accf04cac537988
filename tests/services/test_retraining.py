"""Retraining through the API: a challenger on newer data, compared with the champion on the
same held-out rows, promoted only when the named metric improves."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.ml import synthetic
from tests.factories import register
from tests.services.test_training_jobs import _wait


def _csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.fixture
def champion(client: TestClient) -> dict:  # type: ignore[type-arg]
    """press-failure version 1 at production, trained on press-shop@1; press-shop@2 appends
    600 newer rows."""
    r = client.post(
        "/v1/datasets/press-shop/versions",
        content=_csv(synthetic.machine_conditions(n=900, seed=1)),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/models/press-failure/train",
        json={
            "template": "failure_prediction",
            "dataset": "press-shop",
            "target": "machine_failure",
            "params": {"n_estimators": 30},
            "stability_runs": 1,
            "alias": "production",
        },
    )
    assert _wait(client, r.json()["id"])["status"] == "succeeded"
    r = client.post(
        "/v1/datasets/press-shop/append",
        content=_csv(synthetic.machine_conditions(n=600, seed=2)),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    return client.get("/v1/models/press-failure/versions/1").json()


def test_retrain_compares_on_the_new_rows_and_promotes_only_a_better_challenger(
    client: TestClient,
    champion: dict,  # type: ignore[type-arg]
) -> None:
    r = client.post("/v1/models/press-failure/retrain", json={"metric": "roc_auc"})
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"], seconds=120)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["champion_version"] == 1
    assert result["version"] == 2
    version = client.get("/v1/models/press-failure/versions/2").json()
    assert version["source_dataset"] == "press-shop@2"
    assert version["template"] == champion["template"]
    assert version["params"]["n_estimators"] == 30  # the champion's parameters
    comparison = version["report"]["comparison"]
    assert comparison["metric"] == "roc_auc"
    assert comparison["champion"]["version"] == 1
    # Half the 600 appended rows are held out (neither model was fitted on them); the
    # challenger learnt from the old rows and the other half.
    assert comparison["holdout"] == {
        "kind": "rows",
        "rows": 300,
        "fit_rows": 1200,
        "new_data_only": True,
    }
    champion_auc = comparison["champion"]["metrics"]["roc_auc"]
    challenger_auc = comparison["challenger"]["metrics"]["roc_auc"]
    better = challenger_auc > champion_auc
    assert result["promoted"] is better is comparison["promoted"]
    assert comparison["improvement"] == pytest.approx(challenger_auc - champion_auc)
    production = client.get("/v1/models/press-failure").json()["aliases"]["production"]
    assert production == (2 if better else 1)


def test_retrain_keeps_the_champion_when_the_gain_is_too_small(
    client: TestClient,
    champion: dict,  # type: ignore[type-arg]
) -> None:
    r = client.post(
        "/v1/models/press-failure/retrain",
        json={"metric": "f1", "min_improvement": 1.0, "description": "weekly retrain"},
    )
    job = _wait(client, r.json()["id"], seconds=120)
    assert job["status"] == "succeeded", job
    assert job["result"]["promoted"] is False
    assert "not improved" in job["result"]["reason"]
    assert client.get("/v1/models/press-failure").json()["aliases"]["production"] == 1
    kept = client.get("/v1/models/press-failure/versions/2").json()
    assert kept["description"] == "weekly retrain"
    assert kept["report"]["comparison"]["promoted"] is False


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"metric": "rmse"}, 422, "metric"),
        ({"metric": "f1", "alias": "staging"}, 404, None),
        ({"metric": "f1", "dataset": "no-such-dataset"}, 404, None),
        ({"metric": "f1", "dataset_version": 9}, 404, None),
        ({"metric": "f1", "colour": "red"}, 422, None),
    ],
)
def test_bad_retraining_requests_fail_before_any_job(
    client: TestClient,
    champion: dict,  # type: ignore[type-arg]
    body: dict,  # type: ignore[type-arg]
    status: int,
    field: str | None,
) -> None:
    jobs_before = client.get("/v1/jobs").json()["total"]
    r = client.post("/v1/models/press-failure/retrain", json=body)
    assert r.status_code == status, r.text
    if field is not None:
        assert r.json()["field"] == field
    assert client.get("/v1/jobs").json()["total"] == jobs_before


def test_a_model_without_dataset_lineage_cannot_be_retrained(
    app: FastAPI, client: TestClient
) -> None:
    register(app, "uploaded-failure")  # registered directly: no training job, no dataset
    r = client.post("/v1/models/uploaded-failure/retrain", json={"metric": "f1"})
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "alias"
    assert "POST /v1/models/{name}/train" in r.json()["detail"]
    assert client.get("/v1/jobs").json()["total"] == 0
