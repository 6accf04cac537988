"""Encryption at rest as the server does it: on by default on the embedded set-up."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from maas.api.app import create_app
from maas.settings import Settings
from tests.api.test_predict import ROW
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register


def _artifact_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def test_embedded_artifacts_are_encrypted_and_tampering_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", examples=False, admin_key=ADMIN_KEY)
    app = create_app(settings)
    key_file = settings.data_dir / "master.key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o077 == 0
    trained = failure_model()
    version = register(app, "machine-failure", trained)
    stored = _artifact_path(version.artifact_uri).read_bytes()
    assert stored.startswith(b"MAASENC1")
    assert b"Tree=0" not in stored
    assert b"tree_sizes" not in stored
    assert trained.artifact not in stored
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(app, headers=auth) as c:
        before = c.post("/v1/models/machine-failure/predict", json={"rows": [ROW]}).json()
        before.pop("prediction_ids")  # new for every request
    app.state.services.close()

    # a restart reads it back with the same key file
    again = create_app(settings)
    with TestClient(again, headers=auth) as c:
        answer = c.post("/v1/models/machine-failure/predict", json={"rows": [ROW]}).json()
        answer.pop("prediction_ids")
        assert answer == before
    again.state.services.close()

    # one flipped byte in the ciphertext: refused at load, nothing else breaks
    path = _artifact_path(version.artifact_uri)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    tampered = create_app(settings)
    with TestClient(tampered, headers=auth) as c:
        r = c.post("/v1/models/machine-failure/predict", json={"rows": [ROW]})
        assert r.status_code == 500
        assert r.json()["code"] == "integrity_error"
        assert c.get("/health/ready").status_code == 200
    tampered.state.services.close()


def test_a_configured_master_key_is_used_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    key = "ab" * 32
    common = {"examples": False, "admin_key": ADMIN_KEY, "data_dir": tmp_path / "data"}
    app = create_app(Settings(master_key=key, **common))
    register(app, "machine-failure", failure_model())
    assert not (tmp_path / "data" / "master.key").exists()
    app.state.services.close()
    wrong = create_app(Settings(master_key="cd" * 32, **common))
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(wrong, headers=auth) as c:
        r = c.post("/v1/models/machine-failure/predict", json={"rows": [ROW]})
        assert r.status_code == 500
        assert r.json()["code"] == "integrity_error"
    wrong.state.services.close()
