"""API keys: shown once, stored hashed, revocable at once, expiring; tenants never meet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.store.tables import ApiKeyRow
from tests.conftest import ADMIN_KEY
from tests.factories import register


def test_key_is_shown_once_and_stored_hashed(client: TestClient, app: FastAPI) -> None:
    r = client.post("/v1/keys", json={"name": "mes-line-3", "role": "consumer"})
    assert r.status_code == 201
    secret = r.json()["key"]
    assert secret.startswith("maas_")
    assert len(secret) >= 40
    listed = client.get("/v1/keys").json()
    assert all("key" not in k for k in listed)
    assert {k["name"] for k in listed} == {"admin", "mes-line-3"}
    with app.state.services.registry.db.session() as s:
        stored = [row.secret_hash for row in s.scalars(select(ApiKeyRow))]
    assert secret not in stored
    assert ADMIN_KEY not in stored


def test_revoked_key_stops_working_at_once(client: TestClient, app: FastAPI) -> None:
    created = client.post("/v1/keys", json={"name": "temp", "role": "viewer"}).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/v1/models", headers=headers).status_code == 200
    assert client.delete(f"/v1/keys/{created['id']}").status_code == 204
    r = client.get("/v1/models", headers=headers)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def test_revocation_reaches_a_second_process_sharing_the_database(
    client: TestClient, app: FastAPI
) -> None:
    from maas.services.keys import KeyService

    other = KeyService(app.state.services.registry.db, cache_seconds=0.0)
    created = client.post("/v1/keys", json={"name": "temp", "role": "viewer"}).json()
    assert other.authenticate(created["key"]).key_name == "temp"
    client.delete(f"/v1/keys/{created['id']}")
    r = None
    try:
        other.authenticate(created["key"])
    except Exception as exc:  # noqa: BLE001
        r = exc
    assert type(r).__name__ == "AuthenticationError"


def test_expired_key_is_refused(client: TestClient, app: FastAPI) -> None:
    tenant = app.state.services.keys.default_tenant()
    admin = Principal("t", "t", Role.ADMIN, tenant.id, tenant.name)
    created = app.state.services.keys.create_key(
        admin, name="short", role=Role.VIEWER, expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    with app.state.services.registry.db.writer() as s, s.begin():
        s.get(ApiKeyRow, created.id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    app.state.services.keys._cache.clear()
    r = client.get("/v1/models", headers={"Authorization": f"Bearer {created.key}"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


def test_key_expiry_in_the_past_is_refused(client: TestClient) -> None:
    r = client.post("/v1/keys", json={"name": "x", "expires_at": "2001-01-01T00:00:00Z"})
    assert r.status_code == 422
    assert r.json()["field"] == "expires_at"


def test_unknown_role_is_422_naming_the_field(client: TestClient) -> None:
    r = client.post("/v1/keys", json={"name": "x", "role": "root"})
    assert r.status_code == 422
    assert r.json()["field"] == "role"


def test_revoke_unknown_key_is_404(client: TestClient) -> None:
    r = client.delete("/v1/keys/not-a-key")
    assert r.status_code == 404
    assert r.json()["code"] == "key_not_found"


def test_only_admins_manage_keys(client: TestClient) -> None:
    dev = client.post("/v1/keys", json={"name": "dev", "role": "developer"}).json()["key"]
    r = client.post("/v1/keys", json={"name": "x"}, headers={"Authorization": f"Bearer {dev}"})
    assert r.status_code == 403


def _default_tenant(app: FastAPI) -> tuple[str, str]:
    tenant = app.state.services.keys.default_tenant()
    return tenant.id, tenant.name


def test_another_tenant_sees_nothing_of_ours(client: TestClient, app: FastAPI) -> None:
    register(app, "secret-model")
    admin = Principal("t", "t", Role.ADMIN, *_default_tenant(app))
    plant_b = app.state.services.keys.onboard_tenant(admin, "plant-b")
    headers = {"Authorization": f"Bearer {plant_b.admin_key}"}
    assert client.get("/v1/models", headers=headers).json()["total"] == 0
    for path in [
        "/v1/models/secret-model",
        "/v1/models/secret-model/versions",
        "/v1/models/secret-model/versions/1",
        "/v1/models/secret-model/aliases",
        "/v2/models/secret-model",
        "/v2/models/secret-model/ready",
    ]:
        assert client.get(path, headers=headers).status_code == 404, path
    r = client.post("/v1/models/secret-model/predict", json={"rows": [{}]}, headers=headers)
    assert r.status_code == 404
    assert client.get("/v1/keys", headers=headers).json()[0]["tenant"] == "plant-b"
    own_keys = {k["id"] for k in client.get("/v1/keys").json()}
    assert client.delete(f"/v1/keys/{next(iter(own_keys))}", headers=headers).status_code == 404
    # the same name in another tenant is another model
    assert (
        client.post("/v1/models", json={"name": "secret-model"}, headers=headers).status_code == 201
    )
