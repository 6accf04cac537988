"""Registry routes on SQLite and PostgreSQL: models, versions, aliases, and their errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.api.app import create_app
from maas.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.factories import register, tool_life_model


@pytest.fixture
def reg_app(tmp_path: Path, database_url: str | None) -> Iterator[FastAPI]:
    settings = Settings(
        data_dir=tmp_path / "data", examples=False, admin_key=ADMIN_KEY, database_url=database_url
    )
    application = create_app(settings)
    yield application
    application.state.services.close()


@pytest.fixture
def reg(reg_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(reg_app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        yield c


def test_models_create_list_get_update_delete(reg: TestClient) -> None:
    r = reg.post("/v1/models", json={"name": "press-7", "description": "hydraulic press"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "press-7"
    assert r.json()["latest_version"] is None
    reg.post("/v1/models", json={"name": "lathe-2", "tags": {"line": "A"}})
    page = reg.get("/v1/models").json()
    assert [m["name"] for m in page["items"]] == ["lathe-2", "press-7"]
    assert page["total"] == 2
    assert reg.get("/v1/models", params={"q": "press"}).json()["total"] == 1
    r = reg.patch("/v1/models/press-7", json={"tags": {"line": "B"}})
    assert r.json()["tags"] == {"line": "B"}
    assert r.json()["description"] == "hydraulic press"
    assert reg.delete("/v1/models/press-7").status_code == 204
    r = reg.get("/v1/models/press-7")
    assert r.status_code == 404
    assert r.json()["code"] == "model_not_found"
    assert "press-7" in r.json()["detail"]


def test_models_search_text_is_never_sql(reg: TestClient) -> None:
    reg.post("/v1/models", json={"name": "a-model"})
    for q in ["' OR 1=1 --", "%", "_", "\\", "a%' UNION SELECT * FROM api_keys --"]:
        r = reg.get("/v1/models", params={"q": q})
        assert r.status_code == 200
        assert r.json()["total"] == 0, q


def test_create_model_twice_conflicts(reg: TestClient) -> None:
    assert reg.post("/v1/models", json={"name": "m1"}).status_code == 201
    r = reg.post("/v1/models", json={"name": "m1"})
    assert r.status_code == 409
    assert r.json()["code"] == "already_exists"


@pytest.mark.parametrize("name", ["../etc", "UPPER", "a/b", "-lead", "x" * 65, "a..b", ""])
def test_create_model_rejects_bad_names(reg: TestClient, name: str) -> None:
    r = reg.post("/v1/models", json={"name": name})
    assert r.status_code == 422
    assert r.json()["field"] == "name"


def test_versions_are_numbered_and_carry_lineage(reg_app: FastAPI, reg: TestClient) -> None:
    v1 = register(reg_app, "tool-life", tool_life_model(), alias=None)
    v2 = register(reg_app, "tool-life", tool_life_model(), alias=None)
    assert (v1.version, v2.version) == (1, 2)
    r = reg.get("/v1/models/tool-life/versions/2").json()
    assert r["format"] == "lightgbm"
    assert len(r["sha256"]) == 64
    assert r["size"] > 0
    assert r["template"] == "tabular_regression"
    assert "rmse" in r["metrics"]
    assert r["signature"]["task"] == "regression"
    assert r["created_by"].startswith("test")
    listed = reg.get("/v1/models/tool-life/versions").json()
    assert [v["version"] for v in listed["items"]] == [1, 2]
    assert reg.get("/v1/models/tool-life").json()["latest_version"] == 2


def test_version_is_immutable_but_description_changes(reg_app: FastAPI, reg: TestClient) -> None:
    register(reg_app, "tool-life", tool_life_model(), alias=None)
    r = reg.patch("/v1/models/tool-life/versions/1", json={"description": "first", "tags": {}})
    assert r.status_code == 200
    assert r.json()["description"] == "first"
    r = reg.patch("/v1/models/tool-life/versions/1", json={"sha256": "0" * 64})
    assert r.status_code == 422
    assert r.json()["field"] == "sha256"


def test_missing_version_and_alias_name_what_is_missing(reg_app: FastAPI, reg: TestClient) -> None:
    register(reg_app, "tool-life", tool_life_model(), alias=None)
    r = reg.get("/v1/models/tool-life/versions/9")
    assert r.status_code == 404
    assert r.json()["code"] == "version_not_found"
    assert "9" in r.json()["detail"]
    r = reg.put("/v1/models/tool-life/aliases/production", json={"version": 9})
    assert r.status_code == 404
    r = reg.post("/v1/models/tool-life/aliases/staging/rollback")
    assert r.status_code == 404
    assert r.json()["code"] == "alias_not_found"


def test_alias_moves_rolls_back_and_keeps_history(reg_app: FastAPI, reg: TestClient) -> None:
    for _ in range(3):
        register(reg_app, "tool-life", tool_life_model(), alias=None)
    assert (
        reg.put("/v1/models/tool-life/aliases/production", json={"version": 1}).status_code == 200
    )
    r = reg.put("/v1/models/tool-life/aliases/production", json={"version": 3})
    assert r.json() == {**r.json(), "version": 3, "previous_version": 1}
    assert reg.get("/v1/models/tool-life").json()["aliases"] == {"production": 3}
    r = reg.post("/v1/models/tool-life/aliases/production/rollback")
    assert r.status_code == 200
    assert r.json()["version"] == 1
    assert reg.get("/v1/models/tool-life/versions/1").json()["aliases"] == ["production"]
    history = reg.get("/v1/models/tool-life/aliases/production/history").json()
    assert [(h["from_version"], h["to_version"]) for h in history] == [(None, 1), (1, 3), (3, 1)]
    assert reg.delete("/v1/models/tool-life/aliases/production").status_code == 204
    assert reg.get("/v1/models/tool-life/aliases").json() == []


def test_rollback_of_an_alias_that_never_moved_conflicts(reg_app: FastAPI, reg: TestClient) -> None:
    register(reg_app, "tool-life", tool_life_model())
    r = reg.post("/v1/models/tool-life/aliases/production/rollback")
    assert r.status_code == 409
    assert r.json()["field"] == "alias"


@pytest.mark.parametrize("alias", ["latest", "1", "Prod", "a" * 41])
def test_set_alias_rejects_reserved_and_malformed(
    reg_app: FastAPI, reg: TestClient, alias: str
) -> None:
    register(reg_app, "tool-life", tool_life_model(), alias=None)
    r = reg.put(f"/v1/models/tool-life/aliases/{alias}", json={"version": 1})
    assert r.status_code == 422


def test_delete_model_removes_its_artifacts(reg_app: FastAPI, reg: TestClient) -> None:
    version = register(reg_app, "tool-life", tool_life_model())
    path = Path(version.artifact_uri.removeprefix("file://"))
    assert path.exists()
    assert reg.delete("/v1/models/tool-life").status_code == 204
    assert not path.exists()
    assert reg.post("/v1/models/tool-life/predict", json={"rows": [{}]}).status_code == 404
