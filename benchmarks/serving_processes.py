"""The processes ``benchmarks/serving.py`` measures: ``maas serve``, the bare FastAPI echo route
(the framework floor) and ``mlflow models serve``; starting, polling, and reading their memory.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from child_process import BenchmarkError, Served
from serving_load import Item, http_post, item
from serving_model import FEATURES, Model

# --- processes under test ----------------------------------------------------------------


def call(
    port: int, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None, timeout: float = 30.0,
) -> tuple[int, bytes]:  # fmt: skip
    """One plain request on a fresh connection (control calls, not load)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(
    served: Served, port: int, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None, timeout: float = 180.0,
) -> float:  # fmt: skip
    """Poll (every 5 ms) until ``path`` answers 200; return seconds since the process started.

    Raises:
        BenchmarkError: the process exited, or did not answer in time.
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        served.check_alive()
        try:
            status, _ = call(port, method, path, body, headers, timeout=10.0)
        except OSError:
            status = 0
        if status == 200:
            return time.perf_counter() - served.started
        time.sleep(0.005)
    raise BenchmarkError(f"{served.name} did not answer {path} in {timeout:.0f} s")


def metric(port: int, name: str) -> float | None:
    """The sum of the samples of metric ``name`` on the server's ``/metrics``; ``None`` if it
    has no such metric (with ``--workers N``, the metrics of the worker that answered)."""
    _, text = call(port, "GET", "/metrics")
    values = [float(line.split()[-1]) for line in text.decode().splitlines()
              if line.startswith((f"{name} ", f"{name}{{"))]  # fmt: skip
    return sum(values) if values else None


def models_loaded(port: int, at_least: int, timeout: float = 30.0) -> float:
    """Wait (at most ``timeout``) until the server's ``maas_models_loaded`` gauge reaches
    ``at_least`` (models are loaded in the background after the start); return its value."""
    deadline, loaded = time.perf_counter() + timeout, 0.0
    while time.perf_counter() < deadline:
        value = metric(port, "maas_models_loaded")
        loaded = value or 0.0
        if value is None or loaded >= at_least:
            break
        time.sleep(0.1)
    return loaded


def model_calls(port: int) -> tuple[float, float] | None:
    """The server's counts of online-prediction model calls and of the requests they
    answered (``None`` for a server without them); their ratio is the mean micro-batch."""
    calls = metric(port, "maas_prediction_batches_total")
    answered = metric(port, "maas_prediction_batched_requests_total")
    return None if calls is None or answered is None else (calls, answered)


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (VmRSS summed), in MiB."""
    total_kib = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total_kib += sum(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:"))
    return total_kib / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and all its descendants."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def maas_server(
    data_dir: Path, port: int, api_key: str, workers: int, extra_env: dict[str, str], log: Path
) -> Served:
    # Nothing of the caller's MAAS_* configuration (database, S3, config file) may leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env |= {
        "MAAS_DATA_DIR": str(data_dir),
        "MAAS_HOST": "127.0.0.1",
        "MAAS_PORT": str(port),
        "MAAS_ADMIN_KEY": api_key,
        "MAAS_RATE_LIMIT_PER_SECOND": "0",  # off: the benchmark must not be throttled
    } | extra_env
    argv = [sys.executable, "-m", "maas", "serve"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return Served("maas serve", argv, env, log)


def serve_supports_workers() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "maas", "serve", "--help"], capture_output=True, text=True,
        check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    return "--workers" in out.stdout


# --- the framework floor and MLflow --------------------------------------------------------


def echo_app() -> Any:
    """A bare FastAPI app whose one POST route answers the body it got."""
    from fastapi import FastAPI, Request, Response

    app = FastAPI()

    async def echo(request):  # type: ignore[no-untyped-def]
        return Response(await request.body(), media_type="application/json")

    async def ping():  # type: ignore[no-untyped-def]
        return Response(b"{}", media_type="application/json")

    # This module's annotations are strings (PEP 563) FastAPI cannot resolve in a local scope.
    echo.__annotations__ = {"request": Request, "return": Response}
    ping.__annotations__ = {"return": Response}
    app.post("/echo")(echo)
    app.get("/ping")(ping)
    return app


def echo_server(port: int, workers: int) -> None:
    """Serve ``echo_app`` on uvicorn with the settings ``maas serve`` uses (default loop and
    HTTP implementation, no access log), in ``workers`` processes."""
    import uvicorn

    here = Path(__file__).resolve()
    uvicorn.run(
        f"{here.stem}:echo_app", factory=True, app_dir=str(here.parent), workers=workers,
        host="127.0.0.1", port=port, log_config=None, access_log=False,
        timeout_graceful_shutdown=10,
    )  # fmt: skip


def mlflow_save(model_text: Path, example_json: Path, out_dir: Path) -> None:
    """Run under ``--mlflow-python``: save the booster with ``mlflow.lightgbm``, with a signature
    inferred from a few rows, as a user logging the model would."""
    import lightgbm as lgb
    import mlflow.lightgbm
    import pandas as pd
    from mlflow.models import infer_signature

    booster = lgb.Booster(model_file=str(model_text))
    example = pd.DataFrame(json.loads(example_json.read_text()))
    signature = infer_signature(example, booster.predict(example))
    mlflow.lightgbm.save_model(booster, str(out_dir), signature=signature)


def mlflow_version(python: str) -> str | None:
    """The MLflow version under ``python``, or None when MLflow or LightGBM is missing there."""
    out = subprocess.run(
        [python, "-c", "import mlflow, lightgbm; print(mlflow.__version__)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip() if out.returncode == 0 else None


def mlflow_server(python: str, model: Model, work: Path, port: int, workers: int) -> Served:
    import pandas as pd

    text, example, saved = work / "booster.txt", work / "example.json", work / "mlflow-model"
    model.booster.save_model(str(text))
    frame = pd.DataFrame(model.matrix[:50], columns=FEATURES).astype("float64")
    example.write_text(frame.to_json(orient="columns"))
    # `mlflow models serve` runs `uvicorn` from PATH: the one of the MLflow environment.
    path = os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": (work / "mlruns").as_uri()}
    script = Path(__file__).with_name("serving.py")  # its --mlflow-save runs mlflow_save there
    argv = [python, str(script), "--mlflow-save", str(text), str(example), str(saved)]
    subprocess.run(argv, check=True, env=env, cwd=work)
    cli = Path(python).parent / "mlflow"
    argv = [str(cli)] if cli.exists() else [python, "-m", "mlflow"]
    argv += ["models", "serve", "-m", str(saved), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    return Served("mlflow models serve", argv, env, work / "mlflow.log")


def mlflow_post(port: int, matrix: Any) -> Item:
    body = {"dataframe_split": {"columns": FEATURES, "data": matrix.astype("float64").tolist()}}
    return item("good", http_post(port, "/invocations", json.dumps(body).encode()))
