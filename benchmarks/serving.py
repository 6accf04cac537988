"""Benchmark online serving: throughput, latency, cold start and memory of ``maas serve``.

Usage::

    python benchmarks/serving.py [--quick] [--duration S] [--warmup S] [--workers N]
        [--compare-mlflow [--mlflow-python PATH]] [--wrk-check] [--server-env MAAS_X=V]...
        [--json FILE] [--update-doc docs/performance.md] [--keep-data]
    python benchmarks/serving.py --soak [SECONDS]     # only the soak: mixed load, RSS over time
    python benchmarks/serving.py --from-json FILE [--update-doc PATH]   # re-render a saved run

See docs/performance.md for what each figure means and the last figures measured.

What it does, in one run on this machine (server and load generator share its cores):

1. trains a 200-tree LightGBM binary classifier on generated AI4I-like data
   (``maas.ml.synthetic.machine_conditions``) in-process, and writes it as a LightGBM envelope;
2. starts ``maas serve`` on a fresh data folder (the first start trains the example models) and
   times process start → first prediction; stops it; registers the benchmark model in that folder
   through the server's own services (the HTTP upload route takes ONNX only) with alias
   ``production``; starts the server again and times process start → first prediction of it;
3. drives it with a closed-loop load generator running in its own process (asyncio protocol over
   raw keep-alive HTTP/1.1, pre-encoded requests; uvloop when installed): a fixed number of
   connections each sending its next request as soon as the answer is in, a warm-up that is not
   counted, then a fixed measuring window (or a fixed number of requests for big batches);
   every request's latency is recorded for p50/p99;
4. measures single rows at concurrency 1, 8 and 32, explanations at concurrency 1, 1,000-row
   JSON batches (``rows`` and ``columns``), a 100,000-row batch as an Arrow IPC stream (and as
   JSON ``columns`` for reference), and a mixed run with ~10 % malformed, mismatched and
   oversized requests;
5. the same single-row load against a bare FastAPI echo route on the same uvicorn settings (the
   framework floor), and ``booster.predict`` in-process on the same model (the ceiling);
6. with ``--compare-mlflow``, the same model saved with ``mlflow.lightgbm`` and served by
   ``mlflow models serve --env-manager local``, under the same load, side by side (MLflow is
   best installed in a virtualenv of its own, named with ``--mlflow-python``);
7. with ``--soak``, after the start-up figures, only the mixed load at concurrency 8 for that
   long, with the server's resident memory sampled (every 30 s on long runs) and its slope.

Every figure is printed with its target and PASS/FAIL where the serving issue sets one;
``--json`` writes them all. No figure here is asserted in the unit tests.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL = "bench-failure"
FEATURES = [
    "type",
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
]
TREES = 200
ARROW_TYPE = "application/vnd.apache.arrow.stream"
MIB = 1024 * 1024
PREDICT = f"/v1/models/{MODEL}/predict"
SETTLE_S = 3.0
"""Idle seconds before the settled memory sample (the server flushes its log every 2 s)."""

# --- the load generator (runs in its own process) ----------------------------------------

Item = tuple[str, bytes, bool]
"""One request to send: its kind (``good``, ``malformed``...), its bytes on the wire, and whether
it asks the server to close the connection after answering."""


def item(kind: str, data: bytes) -> Item:
    return kind, data, b"\r\nConnection: close\r\n" in data.partition(b"\r\n\r\n")[0]


def http_post(
    port: int,
    path: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    api_key: str | None = None,
    declared_length: int | None = None,
    close: bool = False,
    accept: str | None = None,
) -> bytes:
    """A whole HTTP/1.1 POST, ready to write to a socket. ``declared_length`` announces a body
    that is not sent (an oversized request refused from its headers alone)."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body) if declared_length is None else declared_length}",
    ]
    if api_key:
        head.append(f"Authorization: Bearer {api_key}")
    if close:
        head.append("Connection: close")
    if accept:
        head.append(f"Accept: {accept}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection of a closed loop: send, read the whole answer, send again."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1
        self.chunked = False
        self.keep_alive = True
        self.status = 0
        self.kind = ""
        self.sent_ns = 0
        self.busy = False
        self.closing = False
        self.closes = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.run.issue(self)

    def send(self, item: Item) -> None:
        assert self.transport is not None
        self.kind, data, self.closes = item
        self.buffer.clear()
        self.need = -1
        self.busy = True
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.need < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            self.status = int(head[9:12])
            self.keep_alive = b"\r\nconnection: close" not in head
            start = head.find(b"\r\ncontent-length:")
            self.chunked = start < 0 and b"\r\ntransfer-encoding: chunked" in head
            if start >= 0:
                stop = head.find(b"\r\n", start + 2)
                self.need = end + 4 + int(head[start + 17 : stop if stop > 0 else None])
            else:
                self.need = end + 4
        if self.chunked:
            if not buffer.endswith(b"\r\n0\r\n\r\n"):
                return
        elif len(buffer) < self.need:
            return
        self.busy = False
        self.run.done(self, time.perf_counter_ns())

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.lost(self, exc)


class _Run:
    """The state of one bounded, closed-loop run."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: dict[str, Any]) -> None:
        self.loop = loop
        self.port: int = spec["port"]
        self.items: list[Item] = spec["items"]
        self.concurrency: int = spec["concurrency"]
        self.requests: int | None = spec.get("requests")
        self.warmup_requests: int = spec.get("warmup_requests", 0)
        now = time.perf_counter_ns()
        self.warmup_end = now + int(spec["warmup"] * 1e9)
        self.stop_at = self.warmup_end + int(spec["duration"] * 1e9)
        self.window_start: int | None = None if self.requests else self.warmup_end
        self.last_done = 0
        self.cursor = random.Random(0).randrange(len(self.items))
        self.completed = 0
        self.measured_issued = 0
        self.latencies: dict[str, list[int]] = {}
        self.statuses: dict[str, Counter[int]] = {}
        self.errors: Counter[str] = Counter()
        self.reconnects = 0
        self.open = 0
        self.finished = loop.create_future()

    # pacing --------------------------------------------------------------------------------

    def _stopping(self, now: int) -> bool:
        if self.requests:
            return self.measured_issued >= self.requests or now >= self.stop_at
        return now >= self.stop_at

    def issue(self, conn: _Connection) -> None:
        now = time.perf_counter_ns()
        if self._stopping(now):
            self._close(conn)
            return
        if self.requests and self.window_start is not None:
            self.measured_issued += 1
        item = self.items[self.cursor % len(self.items)]
        self.cursor += 1
        conn.send(item)

    def done(self, conn: _Connection, now: int) -> None:
        self.completed += 1
        if self.requests:
            measured = self.window_start is not None and conn.sent_ns >= self.window_start
            if self.window_start is None and (
                now >= self.warmup_end and self.completed >= self.warmup_requests
            ):
                self.window_start = now
        else:
            measured = self.warmup_end <= now < self.stop_at
        if measured:
            self.latencies.setdefault(conn.kind, []).append(now - conn.sent_ns)
            self.statuses.setdefault(conn.kind, Counter())[conn.status] += 1
            self.last_done = now
        if conn.keep_alive and not conn.closes:
            self.issue(conn)
        else:
            self._close(conn)
            if not self._stopping(now):
                self.reconnects += 1
                self.connect()

    def lost(self, conn: _Connection, exc: Exception | None) -> None:
        self.open -= 1
        now = time.perf_counter_ns()
        if conn.busy:  # the server closed (or reset) the connection before answering
            self.errors[f"closed before the answer ({type(exc).__name__ if exc else 'EOF'})"] += 1
        if not conn.closing and not self._stopping(now):  # closed by the server: replace it
            self.connect()
        if self.open == 0 and self._stopping(now):
            if not self.finished.done():
                self.finished.set_result(None)

    def _close(self, conn: _Connection) -> None:
        conn.busy = False
        conn.closing = True
        if conn.transport is not None:
            conn.transport.close()

    def connect(self) -> None:
        self.open += 1
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        for _attempt in range(100):
            try:
                await self.loop.create_connection(lambda: _Connection(self), "127.0.0.1", self.port)
                return
            except OSError as exc:
                self.errors[f"connect failed ({type(exc).__name__})"] += 1
                await asyncio.sleep(0.01)
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)

    # result --------------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        end = self.last_done if self.requests else self.stop_at
        start = self.window_start or end
        seconds = max((end - start) / 1e9, 1e-9)
        kinds = {}
        for kind, values in self.latencies.items():
            values.sort()
            kinds[kind] = {
                "count": len(values),
                "per_second": len(values) / seconds,
                "p50_ms": _percentile(values, 0.50) / 1e6,
                "p90_ms": _percentile(values, 0.90) / 1e6,
                "p99_ms": _percentile(values, 0.99) / 1e6,
                "max_ms": values[-1] / 1e6,
                "mean_ms": sum(values) / len(values) / 1e6,
                "statuses": {str(k): v for k, v in sorted(self.statuses[kind].items())},
            }
        return {
            "seconds": seconds,
            "concurrency": self.concurrency,
            "kinds": kinds,
            "errors": dict(self.errors),
            "reconnects": self.reconnects,
        }


def _percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = _Run(loop, spec)
    for _ in range(run.concurrency):
        run.connect()
    hard_stop = spec["warmup"] + spec["duration"] + spec.get("grace", 60.0)
    try:
        await asyncio.wait_for(asyncio.shield(run.finished), hard_stop)
    except TimeoutError:
        run.errors["timed out (run aborted)"] += 1
    return run.result()


def _loadgen_main(pipe: Any) -> None:
    """The load generator's process: one run per spec received, its result sent back."""
    try:
        import uvloop  # the same event loop as the server, when it is there

        new_loop = uvloop.new_event_loop
    except ImportError:
        new_loop = asyncio.new_event_loop
    while True:
        spec = pipe.recv()
        if spec is None:
            return
        loop = new_loop()
        try:
            pipe.send(loop.run_until_complete(_drive(spec)))
        finally:
            loop.close()


class LoadGenerator:
    """A load-generator process started once and reused for every run."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_loadgen_main, args=(child,), daemon=True)
        self._process.start()

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        self._pipe.send(spec)
        return dict(self._pipe.recv())

    def close(self) -> None:
        self._pipe.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


# --- processes under test ----------------------------------------------------------------


class BenchmarkError(RuntimeError):
    """The benchmark could not go on (a server did not start...)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A server in a subprocess of its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> Served:
        with self.log_path.open("ab") as log:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BenchmarkError(
                f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever of its own session is left (workers, a child it ran): only ours
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


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


def models_loaded(port: int, at_least: int, timeout: float = 30.0) -> float:
    """Wait (at most ``timeout``) until the server's ``maas_models_loaded`` gauge reaches
    ``at_least`` (models are loaded in the background after the start); return its value."""
    deadline, loaded = time.perf_counter() + timeout, 0.0
    while time.perf_counter() < deadline:
        _, text = call(port, "GET", "/metrics")
        values = [line.split()[-1] for line in text.decode().splitlines()
                  if line.startswith("maas_models_loaded")]  # fmt: skip
        loaded = sum(float(v) for v in values)
        if not values or loaded >= at_least:
            break
        time.sleep(0.1)
    return loaded


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


# --- the model -----------------------------------------------------------------------------


@dataclass
class Model:
    booster: Any
    artifact: bytes
    """The LightGBM envelope the server loads."""
    signature: Any
    frame: Any
    """100,000 generated rows (features only), the source of every request body."""
    matrix: Any
    """``frame`` encoded as the server encodes it (float32; categories as their index)."""


def train_model() -> Model:
    """Train the 200-tree binary classifier on 10,000 generated AI4I-like rows."""
    import lightgbm as lgb
    import numpy as np

    from maas.domain.signature import Signature, Task
    from maas.ml.features import encode_frame, infer_columns
    from maas.ml.synthetic import machine_conditions
    from maas.ml.templates.base import dump_lightgbm_artifact

    data = machine_conditions(n=10_000, seed=0)
    columns = infer_columns(data, FEATURES)
    signature = Signature(inputs=columns, task=Task.CLASSIFICATION, classes=["0", "1"])
    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "seed": 0}
    params |= {"num_threads": os.cpu_count() or 1, "verbose": -1}
    train = lgb.Dataset(encode_frame(data, signature), label=data["machine_failure"])
    booster = lgb.train(params, train, TREES)
    artifact = dump_lightgbm_artifact(
        booster, task="classification", classes=["0", "1"], threshold=None
    )
    frame = machine_conditions(n=100_000, seed=1)[FEATURES]
    matrix = np.ascontiguousarray(encode_frame(frame, signature))
    return Model(booster, artifact, signature, frame, matrix)


def register_locally(data_dir: Path, model: Model) -> int:
    """Register the model in a stopped server's data folder through the server's own services
    (as the example models are) and point ``production`` at it. Returns the version.

    The HTTP upload route takes ONNX files only, so this is the way in for a LightGBM envelope.
    """
    from maas.api.app import build_services
    from maas.domain.principal import Principal
    from maas.domain.roles import Role
    from maas.observability.metrics import Metrics
    from maas.settings import Settings

    settings = Settings(
        data_dir=data_dir, examples=False, job_workers=0, database_url=None, artifact_uri=None,
        master_key=None, master_key_file=None, config_file=None,
    )  # fmt: skip
    services, _ = build_services(settings, Metrics())
    try:
        tenant = services.keys.default_tenant()
        system = Principal("benchmark", "benchmark", Role.ADMIN, tenant.id, tenant.name)
        version = services.registry.register_version(
            system, MODEL, artifact=model.artifact, format="lightgbm",
            signature=model.signature, source_dataset="synthetic:ai4i-like",
            params={"trees": TREES, "num_leaves": 31, "learning_rate": 0.05},
            description="benchmarks/serving.py: 200-tree LightGBM failure model",
        )  # fmt: skip
        services.registry.set_alias(system, MODEL, "production", version.version)
        return version.version
    finally:
        services.close()


def json_rows(frame: Any) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        for record in frame.to_dict("records")
    ]


def json_columns(frame: Any) -> dict[str, list[Any]]:
    return {name: frame[name].astype(object).tolist() for name in frame.columns}


def arrow_stream(frame: Any) -> bytes:
    """``frame`` as an Arrow IPC stream: the category as strings, the numbers as they are."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame.astype({"type": str}), preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def in_process(model: Model, seconds: float, repeat: int) -> dict[str, float]:
    """The ceiling, with the server idle: ``lightgbm.Booster.predict`` on the same booster, one
    float32 row on one thread (as the server runs small batches) in a loop, 1,000 rows on one
    thread and 100,000 rows on every core (as the server); then the same rows through the
    server's own LightGBM runtime, loaded from the same artifact, without HTTP. The best of
    ``repeat`` runs of each."""
    from maas.runtimes.catalog import get_runtime

    booster, x = model.booster, model.matrix
    rows, thousand, big = [x[i : i + 1] for i in range(256)], [x[:1_000]], [x[:100_000]]

    def one_thread(matrix: Any) -> Any:
        return booster.predict(matrix, num_threads=1)

    predictor = get_runtime("lightgbm").load(model.artifact, model.signature)
    return {
        "single_row_calls_per_s": _rate(one_thread, rows, seconds, repeat),
        "rows_per_s_1k": 1_000 * _rate(one_thread, thousand, seconds, repeat),
        "rows_per_s_100k": 100_000 * _rate(booster.predict, big, seconds, repeat),
        "runtime_single_row_calls_per_s": _rate(predictor.predict, rows, seconds, repeat),
        "runtime_rows_per_s_100k": 100_000 * _rate(predictor.predict, big, seconds, repeat),
    }


def _rate(call: Any, inputs: list[Any], seconds: float, repeat: int) -> float:
    """Calls a second of ``call`` over ``inputs`` in turn: the best of ``repeat`` runs of at
    least ``seconds`` and three calls each, after one call of each input."""
    for one in inputs:
        call(one)
    best = 0.0
    for _ in range(repeat):
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or calls < 3:
            for one in inputs:
                call(one)
            calls += len(inputs)
        best = max(best, calls / (time.perf_counter() - started))
    return best


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
    argv = [python, __file__, "--mlflow-save", str(text), str(example), str(saved)]
    subprocess.run(argv, check=True, env=env, cwd=work)
    cli = Path(python).parent / "mlflow"
    argv = [str(cli)] if cli.exists() else [python, "-m", "mlflow"]
    argv += ["models", "serve", "-m", str(saved), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    return Served("mlflow models serve", argv, env, work / "mlflow.log")


def mlflow_post(port: int, matrix: Any) -> Item:
    body = {"dataframe_split": {"columns": FEATURES, "data": matrix.astype("float64").tolist()}}
    return item("good", http_post(port, "/invocations", json.dumps(body).encode()))


# --- the report ---------------------------------------------------------------------------------


@dataclass
class Line:
    section: str
    figure: str
    value: str
    target: str = ""
    verdict: str = ""

    def text(self) -> str:
        return f"  {self.figure:<44} {self.value:>44}  {self.target:<16} {self.verdict}".rstrip()


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    current: str = ""

    def section(self, name: str, detail: str = "") -> None:
        self.current = name
        print(f"\n== {name}" + (f": {detail}" if detail else ""), flush=True)

    def add(self, figure: str, value: str, target: str = "", passed: bool | None = None) -> None:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        self.lines.append(Line(self.current, figure, value, target, verdict))
        print(self.lines[-1].text(), flush=True)

    def text(self) -> str:
        out, last = [], None
        for line in self.lines:
            if line.section != last:
                out.append(f"\n== {line.section}")
                last = line.section
            out.append(line.text())
        return "\n".join(out)

    def markdown(self) -> str:
        out = ["| | figure | value | target | |", "|---|---|---|---|---|"]
        last = None
        for x in self.lines:
            section, last = ("" if x.section == last else f"**{x.section}**"), x.section
            out.append(f"| {section} | {x.figure} | {x.value} | {x.target} | {x.verdict} |")
        return "\n".join(out)

    def failed(self) -> list[str]:
        return [f"{x.section}: {x.figure}" for x in self.lines if x.verdict == "FAIL"]

    def to_json(self) -> dict[str, Any]:
        table = [dict(x.__dict__) for x in self.lines]
        return {"meta": self.meta, "figures": self.figures, "table": table,
                "failed": self.failed()}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls([Line(**x) for x in data["table"]], data["figures"], data["meta"])


def update_doc(path: Path, report: Report) -> None:
    """Put the table between the markers of ``path`` (``figures``, or ``soak`` for a soak run),
    or write the table alone."""
    name = "soak" if report.meta.get("soak") else "figures"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    meta = report.meta
    table = (
        f"{start}\n\nRun of {meta.get('date', '?')} on {meta.get('cpus', '?')} cpus "
        f"({meta.get('cpu', '?')}), load average {meta.get('load_average', '?')} at its start, "
        f"{meta.get('seconds', '?')} s:\n\n```\n{meta.get('command', '?')}\n```\n\n"
        f"{report.markdown()}\n\n{_soak_samples(report.figures)}{end}"
    )
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        before, _, rest = text.partition(start)
        text = before + table + rest.partition(end)[2]
    else:
        text = table + "\n"
    path.write_text(text, encoding="utf-8")


def _soak_samples(figures: dict[str, Any]) -> str:
    """The soak's samples as a table (empty for other runs)."""
    intervals = figures.get("soak", {}).get("intervals", [])
    if not intervals:
        return ""
    out = ["| t (s) | RSS (MiB) | good req/s | good p99 (ms) | bad not 4xx | errors |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    out += [f"| {x['t']:.0f} | {x['rss_mib']:.1f} | {x['good_per_s']:,.0f} | "
            f"{x['good_p99_ms']:.1f} | {x['bad_not_4xx']} | {x['errors']} |"
            for x in intervals]  # fmt: skip
    return "\n".join(out) + "\n\n"


def summary(result: dict[str, Any], kind: str = "good", rows: int = 1) -> dict[str, Any]:
    """The figures of the requests of ``kind`` in a run, with rows/s and failures counted.

    Raises:
        BenchmarkError: no request of that kind was measured.
    """
    found = result["kinds"].get(kind)
    if not found:
        raise BenchmarkError(f"no {kind} request was measured: {result}")
    failed = sum(n for status, n in found["statuses"].items() if status != "200")
    failed += sum(result["errors"].values())
    return found | {"rows_per_s": rows * found["per_second"], "failed": failed,
                    "errors": result["errors"]}  # fmt: skip


def latency(k: dict[str, Any]) -> str:
    return f"p50 {k['p50_ms']:.2f} ms, p99 {k['p99_ms']:.2f} ms"


def requests(k: dict[str, Any]) -> str:
    return f"{k['per_second']:,.0f} req/s, {latency(k)}"


def rows(k: dict[str, Any]) -> str:
    return f"{k['rows_per_s']:,.0f} rows/s, p50 {k['p50_ms']:.1f} ms"


def target(condition: bool, text: str, passed: bool) -> tuple[str, bool] | tuple[()]:
    """``(text, passed)`` where a target applies, nothing elsewhere (for ``Report.add``)."""
    return (text, passed) if condition else ()


# --- the benchmark ---------------------------------------------------------------------------


class Bench:
    """Everything one run needs: the model, a work folder, the load generator, the report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="maas-serving-bench-"))
        self.api_key = "maas_" + secrets.token_urlsafe(32)
        self.report = Report()
        self.fig = self.report.figures
        self.servers: list[Served] = []
        quick = args.quick
        self.warmup = args.warmup if args.warmup is not None else (0.5 if quick else 2.0)
        self.duration = args.duration if args.duration is not None else (1.5 if quick else 10.0)
        self.repeat = args.repeat if args.repeat is not None else (1 if quick else 3)
        self.batch_requests = 20 if quick else 100
        self.big_batch_requests = 1 if quick else 5
        self.workers = args.workers
        self.model: Model
        self.port = 0
        self.maas: Served
        self.loadgen = LoadGenerator()

    def close(self) -> None:
        for served in self.servers:
            served.stop()
        self.loadgen.close()
        if self.args.keep_data:
            print(f"\ndata folder and server logs kept in {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def serve(self, served: Served) -> Served:
        self.servers.append(served)
        return served.start()

    def single_items(self, port: int, path: str, *, explain: bool = False) -> list[Item]:
        """64 requests of one row each (distinct rows)."""
        extra = {"explain": True} if explain else {}
        return [
            item("good", http_post(port, path, json.dumps({"rows": [row]} | extra).encode(),
                                   api_key=self.api_key))
            for row in json_rows(self.model.frame.iloc[:64])
        ]  # fmt: skip

    def post(self, body: Any, **options: Any) -> Item:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return item("good", http_post(self.port, PREDICT, data, api_key=self.api_key, **options))

    def spec(self, items: list[Item], concurrency: int, port: int = 0, **extra: Any) -> dict:
        """A closed-loop run: ``concurrency`` connections, warm-up, then the measured window."""
        return {"port": port or self.port, "items": items, "concurrency": concurrency,
                "warmup": self.warmup, "duration": self.duration} | extra  # fmt: skip

    def batch_spec(self, items: list[Item], count: int, port: int = 0) -> dict[str, Any]:
        """``count`` requests one after the other (after two that are not counted)."""
        return self.spec(items, 1, port, requests=count, warmup=0.0, warmup_requests=2,
                         duration=600.0)  # fmt: skip

    def best(self, *specs: dict[str, Any]) -> list[dict[str, Any]]:
        """Run the specs in turn, ``--repeat`` times over, and keep each one's best run (the
        most requests a second): interference from other processes only ever slows a run."""
        best: list[dict[str, Any] | None] = [None] * len(specs)
        for _ in range(self.repeat):
            for i, spec in enumerate(specs):
                result = self.loadgen.run(spec)
                result["rate"] = (
                    sum(k["count"] for k in result["kinds"].values()) / result["seconds"]
                )
                if best[i] is None or result["rate"] > best[i]["rate"]:  # type: ignore[index]
                    best[i] = result
        return [x for x in best if x is not None]

    def load(self, items: list[Item], concurrency: int, port: int = 0, **extra: Any) -> dict:
        return self.best(self.spec(items, concurrency, port, **extra))[0]

    def batch(self, items: list[Item], count: int, port: int = 0) -> dict[str, Any]:
        return self.best(self.batch_spec(items, count, port))[0]

    def check(self, name: str, k: dict[str, Any]) -> dict[str, Any]:
        """Add a FAIL line when a measured request was not answered 200."""
        if k["failed"]:
            self.report.add(f"{name}: answers other than 200",
                            f"{k['statuses']} {k['errors']}", "none", False)  # fmt: skip
        return k

    # phases ----------------------------------------------------------------------------------

    def start_maas(self) -> None:
        """Fresh start (examples trained), stop, register the model, start again; time both."""
        r, fig = self.report, self.fig
        if self.workers > 1 and not serve_supports_workers():
            print("  maas serve has no --workers option here: 1 worker", flush=True)
            self.workers = 1
        fig["workers"] = self.workers
        r.section("cold start", "process start → first prediction; memory")
        data, log, extra = self.work / "data", self.work / "maas.log", self.args.server_env
        row = json.dumps({"rows": json_rows(self.model.frame.iloc[:1])}).encode()
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        port = free_port()
        first = self.serve(maas_server(data, port, self.api_key, self.workers, extra, log))
        path = PREDICT.replace(MODEL, "machine-failure")
        fig["cold_start_fresh_s"] = wait_until(first, port, "POST", path, row, headers)
        fig["cold_start_fresh_cpu_s"] = cpu_seconds(first.pid)
        fig["rss_fresh_mib"] = rss_mib(first.pid)
        r.add(
            "fresh data folder (trains the examples)",
            f"{fig['cold_start_fresh_s']:.2f} s ({fig['cold_start_fresh_cpu_s']:.2f} s CPU)",
        )
        r.add("RSS after the fresh start", f"{fig['rss_fresh_mib']:.0f} MiB")
        first.stop()
        fig["model_version"] = register_locally(data, self.model)
        self.port = free_port()
        self.maas = self.serve(maas_server(data, self.port, self.api_key, self.workers, extra, log))
        fig["cold_start_s"] = warm = wait_until(self.maas, self.port, "POST", PREDICT, row, headers)
        fig["cold_start_cpu_s"] = cpu = cpu_seconds(self.maas.pid)
        r.add("initialised data folder", f"{warm:.2f} s ({cpu:.2f} s CPU)", "<= 2 s", warm <= 2.0)
        fig["models_loaded"] = models_loaded(self.port, at_least=3)  # 2 examples + this one
        fig["rss_started_mib"] = rss = rss_mib(self.maas.pid)
        r.add("RSS, examples + benchmark model loaded", f"{rss:.0f} MiB", "<= 250 MiB", rss <= 250)

    def single_rows(self) -> None:
        r, fig = self.report, self.fig
        r.section("single rows", "JSON rows, closed loop at concurrency c")
        echo_port = free_port()
        argv = [sys.executable, __file__, "--echo-server", str(echo_port)]
        argv += ["--workers", str(self.workers)]
        echo = self.serve(Served("echo server", argv, dict(os.environ), self.work / "echo.log"))
        wait_until(echo, echo_port, "GET", "/ping")
        items = self.single_items(self.port, PREDICT)
        echo_items = self.single_items(echo_port, "/echo")
        fig["single"], fig["echo"] = {}, {}
        for c in (1, 8, 32):
            served, floor = self.best(self.spec(items, c), self.spec(echo_items, c, echo_port))
            s = fig["single"][f"c{c}"] = summary(served)
            r.add(f"maas c{c}", requests(s), *target(c == 1, "p99 <= 2 ms", s["p99_ms"] <= 2))
            self.check(f"maas c{c}", s)
            e = fig["echo"][f"c{c}"] = summary(floor)
            r.add(f"echo c{c} (framework floor)", requests(e))
            self.check(f"echo c{c}", e)
            ratio = s["ratio_to_echo"] = s["per_second"] / e["per_second"]
            r.add(f"maas / echo c{c}", f"{ratio:.0%}", *target(c == 8, ">= 40 %", ratio >= 0.4))
        if self.args.wrk_check:
            self.wrk_check(echo_port, echo_items)
        echo.stop()
        x = fig["explain_c1"] = summary(
            self.load(self.single_items(self.port, PREDICT, explain=True), 1)
        )
        r.add("maas c1, explain: true", requests(x), "p99 <= 5 ms", x["p99_ms"] <= 5)
        self.check("maas c1 explain", x)

    def wrk_check(self, port: int, items: list[Item]) -> None:
        """The echo load with wrk and with this generator in turn (the best of ``--repeat``
        each): is the generator the limit? wrk has no warm-up: it runs for warm-up + window."""
        if shutil.which("wrk") is None:
            self.report.add("echo by wrk (generator check)", "wrk is not installed")
            return
        script = self.work / "post.lua"
        body = items[0][1].partition(b"\r\n\r\n")[2].decode()
        script.write_text(f'wrk.method = "POST"\nwrk.body = [[{body}]]\n'
                          'wrk.headers["Content-Type"] = "application/json"\n')  # fmt: skip
        seconds = max(1, round(self.warmup + self.duration))
        for c in (1, 8):
            ours, theirs = 0.0, 0.0
            for _ in range(self.repeat):
                result = self.loadgen.run(self.spec(items, c, port))
                ours = max(ours, result["kinds"]["good"]["per_second"])
                out = subprocess.run(
                    ["wrk", "-t1", f"-c{c}", f"-d{seconds}s", "-s", str(script),
                     f"http://127.0.0.1:{port}/echo"], capture_output=True, text=True, check=False,
                ).stdout  # fmt: skip
                rate = [x.split()[1] for x in out.splitlines() if x.startswith("Requests/sec")]
                theirs = max(theirs, float(rate[0]) if rate else 0.0)
            self.fig.setdefault("generator_check", {})[f"c{c}"] = {"ours": ours, "wrk": theirs}
            self.report.add(f"echo c{c}: this generator / wrk",
                            f"{ours:,.0f} / {theirs:,.0f} req/s")  # fmt: skip

    def ceiling(self) -> None:
        r, fig = self.report, self.fig
        r.section("in-process", "the same model without HTTP, server idle")
        inp = fig["in_process"] = in_process(
            self.model, 0.5 if self.args.quick else 2.0, self.repeat
        )
        r.add("single-row calls (1 thread)", f"{inp['single_row_calls_per_s']:,.0f} calls/s")
        r.add("1,000-row batches (1 thread)", f"{inp['rows_per_s_1k']:,.0f} rows/s")
        r.add("100,000-row batch (all cores)", f"{inp['rows_per_s_100k']:,.0f} rows/s")
        share = fig["single"]["c8"]["per_second"] / inp["single_row_calls_per_s"]
        r.add("served c8 req/s / in-process calls/s", f"{share:.1%}")
        r.add("maas runtime, no HTTP: single rows",
              f"{inp['runtime_single_row_calls_per_s']:,.0f} calls/s")  # fmt: skip
        r.add("maas runtime, no HTTP: 100,000 rows",
              f"{inp['runtime_rows_per_s_100k']:,.0f} rows/s")  # fmt: skip

    def batches(self) -> None:
        r, fig = self.report, self.fig
        r.section("batches", "one request at a time")
        frame = self.model.frame
        fig["batch_1k"] = {}
        for layout, encode in (("rows", json_rows), ("columns", json_columns)):
            items = [self.post({layout: encode(frame.iloc[i * 1000 : (i + 1) * 1000])})
                     for i in range(8)]  # fmt: skip
            k = fig["batch_1k"][layout] = summary(self.batch(items, self.batch_requests), rows=1000)
            r.add(f"1,000 rows, JSON {layout}", rows(k))
            self.check(f"1,000 rows, {layout}", k)
        ceiling = fig["in_process"]["rows_per_s_100k"]
        big = frame.iloc[:100_000]
        arrow = self.post(arrow_stream(big), content_type=ARROW_TYPE, accept=ARROW_TYPE)
        status, answer = call(self.port, "POST", PREDICT, arrow[1].partition(b"\r\n\r\n")[2],
                              {"Authorization": f"Bearer {self.api_key}", "Accept": ARROW_TYPE,
                               "Content-Type": ARROW_TYPE}, timeout=300)  # fmt: skip
        if status == 200:
            k = summary(self.batch([arrow], self.big_batch_requests), rows=100_000)
            share = k["over_in_process"] = k["rows_per_s"] / ceiling
            fig["batch_100k_arrow"] = k
            r.add("100,000 rows, Arrow in and out", rows(k))
            r.add("Arrow / in-process rows/s", f"{share:.0%}", ">= 60 %", share >= 0.6)
            self.check("100,000 rows, Arrow", k)
        else:
            fig["batch_100k_arrow"] = {"status": status, "answer": answer[:300].decode("latin-1")}
            r.add("100,000 rows, Arrow in and out",
                  f"not supported by this server (HTTP {status})", ">= 60 %", False)  # fmt: skip
        columns = self.post({"columns": json_columns(big)})
        k = summary(self.batch([columns], self.big_batch_requests), rows=100_000)
        share = k["over_in_process"] = k["rows_per_s"] / ceiling
        fig["batch_100k_json_columns"] = k
        r.add("100,000 rows, JSON columns (reference)", rows(k))
        r.add("JSON columns / in-process rows/s", f"{share:.0%}")
        self.check("100,000 rows, JSON columns", k)

    def mixed_items(self) -> list[Item]:
        """100 requests in a fixed shuffle: 90 good single rows, 4 malformed JSON, 3 schema
        mismatches, 3 bodies declared larger than the server's limit (headers sent, then the
        connection closed after the answer, as a client would do on a 413)."""
        good = self.single_items(self.port, PREDICT)
        row = json_rows(self.model.frame.iloc[:1])[0] | {"torque_nm": "forty"}
        limit = int(self.args.server_env.get("MAAS_MAX_BODY_BYTES", 32 * MIB))
        items = [good[i % len(good)] for i in range(90)]
        items += [item("malformed", self.post(b'{"rows": [{"type": "L", "air_temp')[1])] * 4
        items += [item("mismatch", self.post({"rows": [row]})[1])] * 3
        items += [item("oversized", self.post(b"", declared_length=limit + 1, close=True)[1])] * 3
        random.Random(1).shuffle(items)
        return items

    def bad_input(self) -> None:
        """The mix, beside a clean run and a run of only the bad requests (in turn): rejecting
        may cost the good requests the server time the rejections take, and no more."""
        r, fig = self.report, self.fig
        r.section("bad input", "c8, 10 % malformed, mismatched or oversized")
        items = self.mixed_items()
        good, mixed, bad = self.best(
            self.spec([x for x in items if x[0] == "good"], 8),
            self.spec(items, 8),
            self.spec([x for x in items if x[0] != "good"], 8),
        )
        fig["bad_input"] = {"clean": good, "mixed": mixed, "bad_only": bad}
        kinds = mixed["kinds"]
        for kind, k in kinds.items():
            answers = ", ".join(f"{n}× {s}" for s, n in k["statuses"].items())
            r.add(f"mixed, {kind}: answers; latency", f"{answers}; {latency(k)}")
        bad_4xx = all(s.startswith("4") for k, v in kinds.items() if k != "good"
                      for s in v["statuses"])  # fmt: skip
        ok = bad_4xx and set(kinds["good"]["statuses"]) == {"200"} and not mixed["errors"]
        r.add("bad answered 4xx, good 200, no errors", "yes" if ok else f"no {mixed['errors']}",
              "all", ok)  # fmt: skip
        clean = summary(good)
        rejections = sum(k["per_second"] for k in bad["kinds"].values())
        r.add("clean run (the same good requests)", requests(clean))
        r.add("only the bad requests", f"{rejections:,.0f} req/s, "
              f"{1000 / rejections:.2f} ms of server time each")  # fmt: skip
        rejecting = sum(k["per_second"] for n, k in kinds.items() if n != "good") / rejections
        allowed = clean["per_second"] * (1 - rejecting)
        g = summary(mixed)
        share = fig["bad_input"]["good_over_allowed"] = g["per_second"] / allowed
        r.add("mixed, good requests", requests(g))
        r.add("good req/s / (clean less time rejecting)",
              f"{share:.0%} ({g['per_second']:,.0f} / {allowed:,.0f})", ">= 90 %",
              share >= 0.9)  # fmt: skip

    def sample_memory(self, phase: str) -> None:
        """The server's RSS as a phase ends (the high-water mark of its work), and once it has
        idled for ``SETTLE_S`` seconds (what it keeps: its background flush returns freed
        memory to the system within that time)."""
        self.fig.setdefault("rss_after_mib", {})[phase] = rss_mib(self.maas.pid)
        time.sleep(SETTLE_S)
        self.fig.setdefault("rss_settled_mib", {})[phase] = rss_mib(self.maas.pid)

    def memory_after(self) -> None:
        self.report.section("memory", f"after each phase above: at its end, {SETTLE_S:.0f} s later")
        settled = self.fig.get("rss_settled_mib", {})
        for phase, rss in self.fig["rss_after_mib"].items():
            name = phase.replace("_", " ")
            self.report.add(f"RSS at the end of {name}", f"{rss:.0f} MiB")
            if phase in settled:
                kept = settled[phase]
                self.report.add(f"RSS {SETTLE_S:.0f} s after {name}", f"{kept:.0f} MiB",
                                "<= 250 MiB", kept <= 250)  # fmt: skip

    def mlflow(self) -> None:
        r, fig, python = self.report, self.fig, self.args.mlflow_python
        r.section("MLflow", "the same model, load generator and run")
        version = mlflow_version(python)
        if version is None:
            print(f"  MLflow (with lightgbm) is not installed for {python}. Install it apart:\n"
                  "    python -m venv /tmp/mlflow-venv && "
                  "/tmp/mlflow-venv/bin/pip install mlflow lightgbm\n"
                  "  and pass --mlflow-python /tmp/mlflow-venv/bin/python", flush=True)  # fmt: skip
            fig["mlflow"] = {"skipped": "mlflow not installed"}
            return
        port, work = free_port(), self.work / "mlflow"
        work.mkdir()
        served = self.serve(mlflow_server(python, self.model, work, port, self.workers))
        m = fig["mlflow"] = {"version": version}
        m["start_s"] = wait_until(served, port, "GET", "/ping", timeout=300)
        r.add("MLflow version; start to /ping", f"{version}; {m['start_s']:.1f} s")
        x = self.model.matrix
        items = [mlflow_post(port, x[i : i + 1]) for i in range(64)]
        for c in (1, 8):
            k = m[f"c{c}"] = summary(self.load(items, c, port))
            ratio = k["maas_over_mlflow"] = fig["single"][f"c{c}"]["per_second"] / k["per_second"]
            r.add(f"MLflow c{c}", requests(k))
            r.add(f"maas / MLflow req/s c{c}", f"{ratio:.1f}×",
                  *target(c == 8, ">= 20×", ratio >= 20))  # fmt: skip
            self.check(f"MLflow c{c}", k)
        items = [mlflow_post(port, x[i * 1000 : (i + 1) * 1000]) for i in range(8)]
        k = m["batch_1k"] = summary(self.batch(items, self.batch_requests // 4, port), rows=1000)
        ours = max(v["rows_per_s"] for v in fig["batch_1k"].values())
        ratio = k["maas_over_mlflow"] = ours / k["rows_per_s"]
        r.add("MLflow 1,000 rows, JSON", rows(k))
        r.add("maas (faster layout) / MLflow rows/s", f"{ratio:.1f}×", ">= 4×", ratio >= 4)
        self.check("MLflow 1,000 rows", k)
        served.stop()

    def soak(self, seconds: float) -> None:
        r, fig = self.report, self.fig
        r.section("soak", f"{seconds:.0f} s of the mixed load at c8 (10 % bad requests)")
        interval = 30.0 if seconds >= 300 else max(2.0, seconds / 10)
        items, intervals = self.mixed_items(), []
        print(f"  {'t (s)':>7} {'RSS MiB':>8} {'good req/s':>11} {'good p99 ms':>12} "
              f"{'bad not 4xx':>12} {'errors':>7}", flush=True)  # fmt: skip
        samples = [(0.0, rss_mib(self.maas.pid))]
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            span = min(interval, seconds - elapsed)
            result = self.loadgen.run(self.spec(items, 8, warmup=0.0, duration=span))
            t, rss = time.perf_counter() - started, rss_mib(self.maas.pid)
            samples.append((t, rss))
            g = result["kinds"].get("good", {"per_second": 0.0, "p99_ms": math.nan})
            bad = sum(n for k, v in result["kinds"].items() if k != "good"
                      for s, n in v["statuses"].items() if not s.startswith("4"))  # fmt: skip
            errors = sum(result["errors"].values())
            intervals.append(
                {
                    "t": t,
                    "rss_mib": rss,
                    "good_per_s": g["per_second"],
                    "good_p99_ms": g["p99_ms"],
                    "bad_not_4xx": bad,
                    "errors": errors,
                }
            )
            print(f"  {t:7.0f} {rss:8.1f} {g['per_second']:11,.0f} {g['p99_ms']:12.2f} "
                  f"{bad:12d} {errors:7d}", flush=True)  # fmt: skip
        # The first two thirds hold the start-up transients (caches filling, the first scheduled
        # drift check at MAAS_DRIFT_CHECK_SECONDS); growth that goes on shows in the last third.
        slope = _slope([s for s in samples if s[0] >= 2 * seconds / 3] or samples) * 60
        steps = zip(samples, samples[1:], strict=False)
        rise, at = max((later[1] - earlier[1], later[0]) for earlier, later in steps)
        fig["soak"] = {"seconds": seconds, "samples": samples, "intervals": intervals,
                       "rss_slope_mib_per_min": slope}  # fmt: skip
        r.add("RSS start → end", f"{samples[0][1]:.0f} → {samples[-1][1]:.0f} MiB")
        r.add("largest rise between two samples", f"{rise:+.1f} MiB, by {at:.0f} s")
        r.add("RSS slope over the last third", f"{slope:+.2f} MiB/min", "<= 0.5", slope <= 0.5)
        first, last = intervals[0]["good_per_s"], intervals[-1]["good_per_s"]
        r.add("good req/s, first → last interval", f"{first:,.0f} → {last:,.0f}")
        bad = sum(i["bad_not_4xx"] + i["errors"] for i in intervals)
        r.add("bad requests not 4xx + connection errors", str(bad), "0", bad == 0)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than two points)."""
    if len(points) < 2:
        return 0.0
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    var = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / var if var else 0.0


def describe_machine() -> dict[str, Any]:
    import importlib.metadata as md

    cpu = next(
        (x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
         if x.startswith("model name")), platform.processor() or "?",
    ) if Path("/proc/cpuinfo").exists() else platform.processor() or "?"  # fmt: skip
    versions = {}
    for dist in ("maas", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "lightgbm",
                 "numpy", "orjson", "pyarrow"):  # fmt: skip
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions,
            "load_average": round(os.getloadavg()[0], 2)}  # fmt: skip


def _server_env(values: list[str]) -> dict[str, str]:
    env = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key.startswith("MAAS_"):
            raise SystemExit(f"--server-env takes MAAS_NAME=VALUE, got {value!r}")
        env[key] = setting
    return env


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or a helper mode); print the table; write JSON when asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="short runs: a smoke check in about a minute")
    add("--duration", type=float, help="seconds measured per run (default 10)")
    add("--warmup", type=float, help="seconds of warm-up per run, not counted (default 2)")
    add("--repeat", type=int, help="runs of each measurement, the best kept (default 3)")
    add("--workers", type=int, default=1, help="maas serve --workers N, when it has it")
    add("--json", type=Path, help="write every figure here")
    add("--update-doc", type=Path, help="put the table between the figures markers of this file")
    add("--compare-mlflow", action="store_true", help="also serve it with `mlflow models serve`")
    add("--mlflow-python", default=sys.executable, help="a Python with mlflow and lightgbm")
    add("--soak", type=float, nargs="?", const=600.0, metavar="SECONDS",
        help="only the soak: mixed load at c8, RSS sampled (default 600 s)")  # fmt: skip
    add("--server-env", action="append", default=[], metavar="MAAS_X=VALUE",
        help="a setting for the maas server (repeatable)")  # fmt: skip
    add("--keep-data", action="store_true", help="keep the data folder and the server logs")
    add("--wrk-check", action="store_true", help="also load the echo route with wrk, if installed")
    add("--from-json", type=Path, help="print (and --update-doc) a saved run instead")
    add("--echo-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    add("--mlflow-save", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_server is not None:
        echo_server(args.echo_server, args.workers)
    elif args.mlflow_save is not None:
        mlflow_save(*args.mlflow_save)
    elif args.from_json is not None:
        report = Report.from_json(json.loads(args.from_json.read_text()))
        print(report.text())
        if args.update_doc:
            update_doc(args.update_doc, report)
    else:
        args.server_env = _server_env(args.server_env)
        return run(args)
    return 0


def run(args: argparse.Namespace) -> int:
    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)  # stop the servers on kill as on Ctrl-C
    bench = Bench(args)
    report = bench.report
    report.meta = describe_machine() | {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/serving.py " + " ".join(sys.argv[1:]),
        "warmup_s": bench.warmup, "duration_s": bench.duration, "repeat": bench.repeat,
        "soak": args.soak is not None,
        "server_env": args.server_env,
    }  # fmt: skip
    meta = report.meta
    print(f"{meta['cpus']} cpus ({meta['cpu']}), Python {meta['python']}, load average "
          f"{meta['load_average']}; each run: {bench.warmup:g} s warm-up, {bench.duration:g} s "
          f"measured, best of {bench.repeat}", flush=True)  # fmt: skip
    if meta["load_average"] > 0.5:
        print("  note: other processes are using the cores: figures will be lower", flush=True)
    started, code = time.perf_counter(), 0
    try:
        print("training the 200-tree LightGBM model ...", flush=True)
        bench.model = train_model()
        bench.start_maas()
        if args.soak is not None:
            bench.soak(args.soak)
        else:
            for phase in (bench.single_rows, bench.ceiling, bench.batches, bench.bad_input):
                phase()
                if phase != bench.ceiling:  # the server idles through the ceiling
                    bench.sample_memory(phase.__name__)
            bench.memory_after()
            if args.compare_mlflow:
                bench.mlflow()
    except BenchmarkError as exc:  # still show and save what was measured before
        print(f"\nBENCHMARK FAILED: {exc}", flush=True)
        meta["error"], code = str(exc), 2
    finally:
        bench.close()
    meta["seconds"] = round(time.perf_counter() - started, 1)
    print("\n\n# summary\n" + report.text(), flush=True)
    failed = report.failed()
    print(f"\n{len(failed)} target(s) missed" + (": " + "; ".join(failed) if failed else ""))
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if args.update_doc:
        update_doc(args.update_doc, report)
    return code


if __name__ == "__main__":
    sys.exit(main())
