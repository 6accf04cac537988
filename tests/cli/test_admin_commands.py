"""Local admin commands on a real data folder: audit verify / export, master key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from maas.api.app import create_app
from maas.cli.app import create_cli
from maas.settings import Settings
from tests.api.test_predict import ROW
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register, system_principal


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("MAAS_DATA_DIR", str(data))
    app = create_app(Settings(data_dir=data, examples=False, admin_key=ADMIN_KEY))
    register(app, "machine-failure", failure_model())
    app.state.services.registry.set_alias(system_principal(app), "machine-failure", "staging", 1)
    app.state.services.close()
    return data


def _sql(data: Path, statement: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{data / 'maas.db'}")
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_audit_verify_passes_then_names_the_edited_record(data_dir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(create_cli(), ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    _sql(data_dir, "UPDATE audit_log SET resource = 'model:other' WHERE seq = 3")
    broken = runner.invoke(create_cli(), ["audit", "verify"])
    assert broken.exit_code == 1
    assert "record 3" in broken.output


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("DELETE FROM audit_log WHERE seq = 2", "record 3"),
        (
            "INSERT INTO audit_log (seq, at, tenant_id, actor, action, resource, outcome, "
            "request_id, details, prev_hash, hash) SELECT 100, at, tenant_id, actor, action, "
            "resource, outcome, request_id, details, prev_hash, hash FROM audit_log WHERE seq = 1",
            "record 100",
        ),
    ],
)
def test_audit_verify_names_deleted_and_inserted_records(
    data_dir: Path, statement: str, named: str
) -> None:
    _sql(data_dir, statement)
    result = CliRunner().invoke(create_cli(), ["audit", "verify"])
    assert result.exit_code == 1
    assert named in result.output


def test_audit_export_is_json_lines(data_dir: Path) -> None:
    import orjson

    result = CliRunner().invoke(create_cli(), ["audit", "export", "--tenant", "default"])
    assert result.exit_code == 0
    lines = [orjson.loads(x) for x in result.output.splitlines()]
    assert {r["action"] for r in lines} >= {"key.create", "version.register", "alias.set"}


def test_rotate_master_key_keeps_models_readable(data_dir: Path, tmp_path: Path) -> None:
    new_key = tmp_path / "new.key"
    new_key.write_text("ef" * 32)
    result = CliRunner().invoke(create_cli(), ["rotate-master-key", "--new-key-file", str(new_key)])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1" in result.output
    from fastapi.testclient import TestClient

    app = create_app(
        Settings(data_dir=data_dir, examples=False, admin_key=ADMIN_KEY, master_key_file=new_key)
    )
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        r = c.post("/v1/models/machine-failure/predict", json={"rows": [ROW]})
        assert r.status_code == 200, r.text
    app.state.services.close()
