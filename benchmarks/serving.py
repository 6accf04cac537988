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
import json
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from child_process import BenchmarkError, Served, free_port
from serving_load import Item, LoadGenerator, http_post, item
from serving_model import (
    MODEL,
    Model,
    arrow_stream,
    in_process,
    json_columns,
    json_rows,
    register_locally,
    train_model,
)
from serving_processes import (
    call,
    cpu_seconds,
    echo_server,
    maas_server,
    metric,
    mlflow_post,
    mlflow_save,
    mlflow_server,
    mlflow_version,
    model_calls,
    models_loaded,
    rss_mib,
    serve_supports_workers,
    wait_until,
)
from serving_report import (
    Report,
    describe_machine,
    latency,
    requests,
    rows,
    summary,
    target,
    update_doc,
)

ARROW_TYPE = "application/vnd.apache.arrow.stream"
MIB = 1024 * 1024
PREDICT = f"/v1/models/{MODEL}/predict"
SETTLE_S = 3.0
"""Idle seconds before the settled memory sample (the server flushes its log every 2 s)."""

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
        # the counters are per process, and /metrics is answered by one worker: one only
        counts = model_calls if self.workers == 1 else lambda _port: None
        for c in (1, 8, 32):
            before = counts(self.port)
            served, floor = self.best(self.spec(items, c), self.spec(echo_items, c, echo_port))
            after = counts(self.port)
            s = fig["single"][f"c{c}"] = summary(served)
            r.add(f"maas c{c}", requests(s), *target(c == 1, "p99 <= 2 ms", s["p99_ms"] <= 2))
            self.check(f"maas c{c}", s)
            if before is not None and after is not None and after[0] > before[0]:
                batch = s["mean_batch"] = (after[1] - before[1]) / (after[0] - before[0])
                r.add(f"maas c{c}: requests per model call", f"{batch:.2f}")
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
        memory to the system within that time). With it, the prediction-log rows the server
        has not written so far (its log sheds rows past a bound rather than slow predictions
        down): by then the log of the phase has been flushed."""
        self.fig.setdefault("rss_after_mib", {})[phase] = rss_mib(self.maas.pid)
        time.sleep(SETTLE_S)
        self.fig.setdefault("rss_settled_mib", {})[phase] = rss_mib(self.maas.pid)
        if self.workers > 1:  # /metrics would give one worker's count only
            return
        dropped = metric(self.port, "maas_prediction_log_dropped_rows_total")
        if dropped is not None:
            self.fig.setdefault("log_rows_dropped", {})[phase] = dropped

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
        for phase, dropped in self.fig.get("log_rows_dropped", {}).items():
            name = phase.replace("_", " ")
            self.report.add(f"prediction-log rows not written, by the end of {name}",
                            f"{dropped:,.0f}")  # fmt: skip

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
