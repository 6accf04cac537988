"""A real ``maas serve`` process on loopback with trained models, and headless Chromium.

The server is the installed command in a child process (as an operator starts it), on a free
port and a temporary data folder. Before it starts, the folder gets the example models and one
version whose report carries every plot the dashboard draws (the reference for the plot
contracts); once it runs, a model is trained through the API like a user would.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from maas.api.app import create_app
from maas.ml import synthetic
from maas.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.factories import system_principal, tool_life_model

REFERENCE_MODEL = "plots-reference"
TRAINED_MODEL = "machine-failure"
DATASET = "line-3-conditions"
ARTIFACTS = Path(os.environ.get("MAAS_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"


def chromium_path() -> str | None:
    """Debian's chromium (never a browser Playwright would download)."""
    configured = os.environ.get("MAAS_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@dataclass
class Dashboard:
    """The running server, its keys, and what the fixture made on it."""

    url: str
    admin: str
    viewer: str
    consumer: str
    doomed: str
    doomed_id: str
    trained_version: int
    trained: dict[str, Any]
    reference: dict[str, Any]
    process: subprocess.Popen[bytes]
    log: Path
    routes: set[str] = field(default_factory=set)
    traffic_seen: bool = False
    """Whether the predictions the fixture made show in ``/traffic``."""

    def api(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key or self.admin}"},
            timeout=60,
        )

    def has_route(self, template: str) -> bool:
        return template in self.routes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _curve(n: int, bend: float) -> tuple[list[float], list[float]]:
    xs = np.linspace(0.0, 1.0, n)
    return xs.round(4).tolist(), (1.0 - (1.0 - xs) ** bend).round(4).tolist()


def reference_report() -> dict[str, Any]:
    """A report in the exact shapes of the plot contracts, one plot of each kind."""
    rng = np.random.default_rng(7)
    fpr, tpr = _curve(60, 6.0)
    recall = np.linspace(0.0, 1.0, 60)
    precision = np.clip(1.0 - 0.75 * recall**3, 0.0, 1.0)
    truth = rng.uniform(5, 240, 300)
    predicted = truth + rng.normal(0, 12, truth.size)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    hours = [(start + timedelta(hours=i)).isoformat().replace("+00:00", "Z") for i in range(72)]
    level = [100 + 25 * math.sin(i / 24 * 2 * math.pi) for i in range(72)]
    history = [round(v + rng.normal(0, 4), 2) if i < 48 else None for i, v in enumerate(level)]
    actual = [round(v + rng.normal(0, 4), 2) if i >= 48 else None for i, v in enumerate(level)]
    median = [round(v, 2) if i >= 48 else None for i, v in enumerate(level)]
    spread = [(i - 47) * 0.8 + 6 for i in range(72)]  # the band widens with the horizon
    lower = [round(level[i] - spread[i], 2) if i >= 48 else None for i in range(72)]
    upper = [round(level[i] + spread[i], 2) if i >= 48 else None for i in range(72)]
    edges = np.linspace(0.0, 2.0, 21)
    counts = (900 * np.exp(-((edges[:-1] - 0.45) ** 2) / 0.05)).astype(int) + 3
    anomalous = (counts * np.clip(edges[:-1] - 0.9, 0, 1)).astype(int)
    labels = ["none", "heat", "power", "wear"]
    matrix = [[940, 4, 3, 6], [5, 31, 1, 2], [2, 1, 27, 0], [9, 0, 1, 44]]
    return {
        "held_out": {"accuracy": 0.968, "roc_auc": 0.962, "pr_auc": 0.81, "f1": 0.74, "mae": 9.6},
        "baseline": {"baseline_accuracy": 0.881, "baseline_pr_auc": 0.12, "baseline_mae": 48.2},
        "stability": {
            "accuracy": {"mean": 0.965, "std": 0.004, "runs": 3},
            "roc_auc": {"mean": 0.958, "std": 0.006, "runs": 3},
            "f1": {"mean": 0.73, "std": 0.02, "runs": 3},
        },
        "feature_importance": {
            "tool_wear_min": 0.34,
            "torque_nm": 0.27,
            "rotational_speed_rpm": 0.19,
            "process_temperature_k": 0.11,
            "air_temperature_k": 0.06,
            "type": 0.03,
        },
        "plots": {
            "roc": {"fpr": fpr, "tpr": tpr, "auc": 0.962, "positive": "1"},
            "pr": {
                "recall": recall[::-1].round(4).tolist(),
                "precision": precision[::-1].round(4).tolist(),
                "average_precision": 0.81,
                "positive": "1",
            },
            "confusion": {"labels": labels, "matrix": matrix},
            "predicted_vs_true": {
                "true": truth.round(2).tolist(),
                "predicted": predicted.round(2).tolist(),
            },
            "forecast": {
                "series": "line-3",
                "t": hours,
                "history": history,
                "actual": actual,
                "median": median,
                "lower": lower,
                "upper": upper,
                "lower_level": 0.1,
                "upper_level": 0.9,
            },
            "scores": {
                "bins": edges.round(3).tolist(),
                "counts": counts.tolist(),
                "threshold": 1.0,
                "counts_anomalous": anomalous.tolist(),
            },
        },
        "training_profile": {"rows": 1000, "columns": {}},
        "comparison": {
            "metric": "f1",
            "direction": "higher",
            "min_improvement": 0.0,
            "champion": {"version": 1, "dataset": "line-3@1", "metrics": {"f1": 0.35, "mae": 9.1}},
            "challenger": {"dataset": "line-3@2", "metrics": {"f1": 0.74, "mae": 9.6}},
            "improvement": 0.39,
            "promoted": True,
            "reason": "challenger f1 0.74 vs champion 0.35 (higher is better): improved by 0.39",
            "holdout": {"kind": "rows", "rows": 400, "fit_rows": 600, "new_data_only": True},
        },
        "train_seconds": 3.2,
        "rows": 1000,
    }


def _prepare(data: Path) -> None:
    """The example models and the reference version, written before the server starts."""
    settings = Settings(data_dir=data, examples=True, admin_key=ADMIN_KEY, job_workers=0)
    app = create_app(settings)
    try:
        trained = tool_life_model()
        principal = system_principal(app)
        registry = app.state.services.registry
        registry.register_version(
            principal,
            REFERENCE_MODEL,
            artifact=trained.artifact,
            format=trained.format,
            signature=trained.signature,
            params=trained.params,
            metrics=trained.metrics,
            template=trained.template,
            source_dataset="synthetic:reference",
            report=reference_report(),
            description="Test fixture: a report with one plot of every kind the dashboard draws.",
        )
    finally:
        app.state.services.close()


def _start(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env.update(
        MAAS_ADMIN_KEY=ADMIN_KEY,
        MAAS_LOG_LEVEL="WARNING",
        MAAS_JOB_WORKERS="2",
        MAAS_AUDIT_FLUSH_SECONDS="1",
        MAAS_MONITORING_FLUSH_SECONDS="0.5",
        MAAS_MONITORING_SAMPLE_RATE="1",
    )
    command = [sys.executable, "-m", "maas", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"maas serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"maas serve did not become ready:\n{log.read_text()[-3000:]}")


def _wait_for_job(client: httpx.Client, job_id: str, timeout: float = 150) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def _traffic_shows(client: httpx.Client, model: str, *, requests: int) -> bool:
    """Whether the traffic route counts the requests made (counts reach the database every
    MAAS_MONITORING_FLUSH_SECONDS)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        points = client.get(f"/v1/models/{model}/traffic?minutes=5").json()["points"]
        if sum(p["requests"] for p in points) >= requests:
            return True
        time.sleep(0.25)
    return False


def _populate(url: str) -> dict[str, Any]:
    """Keys, a dataset, a model trained through the API, alias moves and some traffic."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
    with admin:
        keys = {
            role: admin.post("/v1/keys", json={"name": f"ui-{role}", "role": role}).json()
            for role in ("viewer", "consumer")
        }
        doomed = admin.post("/v1/keys", json={"name": "ui-doomed", "role": "viewer"}).json()
        frame = synthetic.machine_conditions(n=3_000, seed=1)
        upload = admin.post(
            f"/v1/datasets/{DATASET}/versions",
            content=frame.to_csv(index=False).encode(),
            headers={"content-type": "text/csv"},
        )
        assert upload.status_code == 201, upload.text
        job = admin.post(
            f"/v1/models/{TRAINED_MODEL}/train",
            json={
                "template": "failure_prediction",
                "dataset": DATASET,
                "target": "machine_failure",
                "params": {"n_estimators": 60},
                "stability_runs": 2,
                "alias": "staging",
                "description": "Retrained on line 3's readings.",
            },
        )
        assert job.status_code == 202, job.text
        finished = _wait_for_job(admin, job.json()["id"])
        assert finished["status"] == "succeeded", finished["log"]
        version = int(finished["result"]["version"])
        moved = admin.put(
            f"/v1/models/{TRAINED_MODEL}/aliases/production", json={"version": version}
        )
        assert moved.status_code == 200, moved.text
        # 120 rows in 10 requests: enough logged inputs for a drift check, and some traffic.
        rows = json.loads(frame.drop(columns="machine_failure").head(120).to_json(orient="records"))
        predict = f"/v1/models/{TRAINED_MODEL}/predict"
        for i in range(0, 120, 12):
            assert admin.post(predict, json={"rows": rows[i : i + 12]}).status_code == 200
        bad = admin.post(predict, json={"rows": [{"type": "X"}]})
        assert bad.status_code == 422
        trained = admin.get(f"/v1/models/{TRAINED_MODEL}/versions/{version}").json()
        routes = set(httpx.get(f"{url}/openapi.json").json()["paths"])
        traffic_seen = "/v1/models/{name}/traffic" in routes and _traffic_shows(
            admin, TRAINED_MODEL, requests=10
        )
        if "/v1/models/{name}/drift/check" in routes:
            check = admin.post(f"/v1/models/{TRAINED_MODEL}/drift/check")
            assert check.status_code == 200, check.text
    return {
        "viewer": keys["viewer"]["key"],
        "consumer": keys["consumer"]["key"],
        "doomed": doomed["key"],
        "doomed_id": doomed["id"],
        "trained_version": version,
        "trained": trained,
        "routes": routes,
        "traffic_seen": traffic_seen,
    }


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One real server for the browser tests (about 30 s to prepare on a CI machine)."""
    root = tmp_path_factory.mktemp("dashboard")
    data = root / "data"
    _prepare(data)
    process, url = _start(data, root / "server.log")
    try:
        made = _populate(url)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
            reference = c.get(f"/v1/models/{REFERENCE_MODEL}/versions/1").json()
        yield Dashboard(
            url=url,
            admin=ADMIN_KEY,
            viewer=made["viewer"],
            consumer=made["consumer"],
            doomed=made["doomed"],
            doomed_id=made["doomed_id"],
            trained_version=made["trained_version"],
            trained=made["trained"],
            reference=reference,
            process=process,
            log=root / "server.log",
            routes=made["routes"],
            traffic_seen=made["traffic_seen"],
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests leave their screenshots (MAAS_TEST_ARTIFACTS to move them)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
