"""The audit trail as the API writes it: changes, denials and prediction counts, chained."""

from __future__ import annotations

import io

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.test_predict import ROW
from tests.factories import failure_model, register


def _records(client: TestClient) -> list[dict]:  # type: ignore[type-arg]
    r = client.get("/v1/audit")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in r.text.splitlines()]


def test_changes_denials_and_predictions_are_recorded(client: TestClient, app: FastAPI) -> None:
    register(app, "machine-failure", failure_model())
    client.put("/v1/models/machine-failure/aliases/staging", json={"version": 1})
    viewer = client.post("/v1/keys", json={"name": "v", "role": "viewer"}).json()
    for _ in range(3):
        client.post("/v1/models/machine-failure/predict", json={"rows": [ROW]})
    denied = client.post(
        "/v1/models/machine-failure/predict",
        json={"rows": [ROW]},
        headers={"Authorization": f"Bearer {viewer['key']}"},
    )
    assert denied.status_code == 403
    client.get("/v1/models", headers={"Authorization": "Bearer wrong"})
    client.delete(f"/v1/keys/{viewer['id']}")

    records = _records(client)
    actions = [(r["action"], r["outcome"]) for r in records]
    for expected in [
        ("key.create", "success"),
        ("version.register", "success"),
        ("alias.set", "success"),
        ("predict", "denied"),
        ("key.revoke", "success"),
        ("prediction.count", "success"),
    ]:
        assert expected in actions, expected
    # a request with no valid key belongs to no tenant: it is in the installation's log
    everything = io.StringIO()
    app.state.services.audit.export(everything)
    anonymous = [orjson.loads(x) for x in everything.getvalue().splitlines()]
    unknown = next(r for r in anonymous if r["action"] == "list_models")
    assert (unknown["outcome"], unknown["tenant_id"], unknown["actor"]) == (
        "denied",
        None,
        "anonymous",
    )
    staging = next(r for r in records if r["resource"] == "model:machine-failure#staging")
    assert staging["details"]["version"] == 1
    assert staging["request_id"]
    counted = next(r for r in records if r["action"] == "prediction.count")
    assert counted["details"]["count"] == 3
    denial = next(r for r in records if r["action"] == "predict")
    assert denial["actor"].startswith("v (")
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs)
    assert all(r["prev_hash"] and r["hash"] for r in records)
    assert app.state.services.audit.verify().ok


def test_tampering_is_named_by_verify(client: TestClient, app: FastAPI) -> None:
    register(app, "machine-failure", failure_model())
    client.put("/v1/models/machine-failure/aliases/staging", json={"version": 1})
    audit = app.state.services.audit
    assert audit.verify().ok
    target = next(r for r in _records(client) if r["action"] == "alias.set")
    with app.state.services.registry.db.writer() as s, s.begin():
        s.execute(
            text("UPDATE audit_log SET actor = 'someone else' WHERE seq = :seq"),
            {"seq": target["seq"]},
        )
    result = audit.verify()
    assert not result.ok
    assert result.first_broken_seq == target["seq"]


def test_other_tenants_records_are_not_exported(client: TestClient, app: FastAPI) -> None:
    created = client.post("/v1/tenants", json={"name": "plant-b"}).json()
    register(app, "machine-failure", failure_model())
    records = client.get("/v1/audit", headers={"Authorization": f"Bearer {created['admin_key']}"})
    lines = [orjson.loads(x) for x in records.text.splitlines()]
    assert all(r["resource"] != "model:machine-failure@1" for r in lines)


def test_key_guessing_is_slowed_per_client(client: TestClient, app: FastAPI) -> None:
    codes = [
        client.get("/v1/models", headers={"Authorization": f"Bearer guess-{i}"}).status_code
        for i in range(40)
    ]
    assert codes[0] == 401
    assert 429 in codes
