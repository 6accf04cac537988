"""``maas serve --workers N``: the first-start work once, workers that share the registry, and
exactly one of them running the background jobs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from maas.api.app import bootstrap, create_app
from maas.jobs.leader import JobLeaderLock
from maas.settings import Settings, export_settings, load_settings
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register

ROW = {
    "type": "M",
    "air_temperature_k": 300.1,
    "process_temperature_k": 310.2,
    "rotational_speed_rpm": 1500,
    "torque_nm": 40.5,
    "tool_wear_min": 120,
}


def test_one_process_holds_the_job_lock_until_it_lets_go(tmp_path: Path) -> None:
    first, second = JobLeaderLock(tmp_path / "jobs.lock"), JobLeaderLock(tmp_path / "jobs.lock")
    assert first.acquire()
    assert first.acquire()  # already held: still true
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_export_settings_reaches_the_workers_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MAAS_DATA_DIR", "MAAS_WORKERS", "MAAS_EXAMPLES", "MAAS_PORT"):
        monkeypatch.setenv(name, "")  # so that monkeypatch restores them after the test
    export_settings({"data_dir": tmp_path, "workers": 3, "examples": False, "port": 0})
    loaded = load_settings()
    assert (loaded.data_dir, loaded.workers, loaded.examples, loaded.port) == (
        tmp_path,
        3,
        False,
        0,
    )
    with pytest.raises(ValueError, match="not a setting"):
        export_settings({"nope": 1})


def test_workers_skip_the_first_start_and_elect_one_job_runner(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", examples=False, admin_key=ADMIN_KEY, workers=2)
    startup = bootstrap(settings)
    assert startup.admin_key is None  # it was given, so it is not shown
    apps = [create_app(settings, first_start=False) for _ in range(2)]
    try:
        running = [app.state.services.jobs._thread is not None for app in apps]
        assert sorted(running) == [False, True]
        register(apps[0], "machine-failure", failure_model())
        tenant = apps[1].state.services.keys.default_tenant()
        assert apps[1].state.services.serving.resolve(tenant.id, "machine-failure").version == 1
    finally:
        for app in apps:
            app.state.services.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_serve_with_two_workers_answers_and_runs_jobs_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, examples=False, admin_key=ADMIN_KEY)
    app = create_app(settings)
    register(app, "machine-failure", failure_model())
    app.state.services.close()
    port = _free_port()
    env = {
        **os.environ,
        "MAAS_ADMIN_KEY": ADMIN_KEY,
        "MAAS_LOG_LEVEL": "WARNING",
        "MAAS_JOB_WORKERS": "1",
    }
    command = [sys.executable, "-m", "maas", "serve", "--data-dir", str(data), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--no-examples"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        deadline = time.monotonic() + 120
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.post(
                    f"{url}/v1/models/machine-failure/predict",
                    json={"rows": [ROW]},
                    headers=headers,
                    timeout=10,
                )
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None, "the server did not start"
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == 1
        lock = data / "jobs.lock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not lock.read_text().strip():
            time.sleep(0.2)
        leader = int(lock.read_text())
        workers = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert str(leader) in workers
        assert not JobLeaderLock(lock).acquire()  # held by the leader worker
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
