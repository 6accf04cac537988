"""Two processes' worth of services on one database: revocations and alias moves made through
one are seen by the other at once, though its caches would trust old answers for a minute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.api.app import create_app
from maas.settings import Settings
from tests.api.test_predict import ROW
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register


@pytest.fixture
def replicas(tmp_path: Path, database_url: str | None) -> Iterator[tuple[FastAPI, FastAPI]]:
    common = {
        "examples": False,
        "admin_key": ADMIN_KEY,
        "database_url": database_url or f"sqlite:///{tmp_path / 'shared.db'}",
        "artifact_uri": (tmp_path / "artifacts").as_uri(),
        "resolve_cache_seconds": 60.0,
    }
    one = create_app(Settings(data_dir=tmp_path / "one", **common))
    two = create_app(Settings(data_dir=tmp_path / "two", **common))
    yield one, two
    one.state.services.close()
    two.state.services.close()


def test_revocation_reaches_the_other_replica_at_once(replicas: tuple[FastAPI, FastAPI]) -> None:
    one, two = replicas
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(one, headers=auth) as a, TestClient(two) as b:
        created = a.post("/v1/keys", json={"name": "mes", "role": "viewer"}).json()
        mes = {"Authorization": f"Bearer {created['key']}"}
        assert b.get("/v1/models", headers=mes).status_code == 200  # now cached in two
        assert a.delete(f"/v1/keys/{created['id']}").status_code == 204
        _eventually(lambda: b.get("/v1/models", headers=mes).status_code == 401)


def test_alias_move_reaches_the_other_replica_at_once(replicas: tuple[FastAPI, FastAPI]) -> None:
    one, two = replicas
    register(one, "machine-failure", failure_model())
    register(one, "machine-failure", failure_model(), alias=None)
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(one, headers=auth) as a, TestClient(two, headers=auth) as b:
        url = "/v1/models/machine-failure/predict"
        assert b.post(url, json={"rows": [ROW]}).json()["version"] == 1
        a.put("/v1/models/machine-failure/aliases/production", json={"version": 2})
        _eventually(lambda: b.post(url, json={"rows": [ROW]}).json()["version"] == 2)


def _eventually(check, seconds: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    # SQLite's marker file is seen by the very next request; PostgreSQL's NOTIFY takes a
    # network round trip to the listener thread.
    import time

    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the other replica did not see the change"
        time.sleep(0.01)


def test_the_file_feed_sees_another_process_publish(tmp_path: Path) -> None:
    import subprocess
    import sys

    from maas.store.changes import FileChangeFeed

    marker = tmp_path / "maas.db.changes"
    marker.write_text("1733333333000000000")  # the older format (a time as text): converted
    feed = FileChangeFeed(marker)
    assert marker.stat().st_size == 8
    seen = {feed.generation()}
    feed.publish()
    assert feed.generation() not in seen
    seen.add(feed.generation())
    script = (
        "import sys; from pathlib import Path; from maas.store.changes import FileChangeFeed; "
        "FileChangeFeed(Path(sys.argv[1])).publish()"
    )
    subprocess.run([sys.executable, "-c", script, str(marker)], check=True, timeout=60)
    assert feed.generation() not in seen  # read from the shared map: no re-open, no stat
    again = FileChangeFeed(marker)  # a later opener keeps the number, it does not reset it
    assert again.generation() == feed.generation()
