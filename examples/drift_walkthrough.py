"""The drift walk-through of docs/monitoring.md, end to end on this machine.

It starts ``python -m maas serve`` on 127.0.0.1 (a free port, a temporary data folder), uploads
generated machine-condition readings, trains a failure-prediction model through the SDK,
promotes it, and sets its monitoring policy: drift thresholds, a webhook to a small receiver
on 127.0.0.1 that prints (and verifies) what it gets, and retraining on alert. Then it streams
normal readings (the drift check says ``ok``), appends readings from a drifted machine to the
dataset, streams drifted readings (a worn tool needs more torque, and the hall's cooling is
failing), and checks again: the state goes to ``alert``, the webhook arrives, and the
retraining policy trains a challenger that is compared with the champion on the new rows.

    python examples/drift_walkthrough.py                      # about a minute
    python examples/drift_walkthrough.py --screenshots shots  # + dashboard screenshots
    python examples/drift_walkthrough.py --keep-running       # then explore /ui yourself

Screenshots need Playwright (``pip install -e '.[dev]'``) and Chromium (``apt-get install
chromium``; ``--chromium PATH`` for another build). Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import maas
from maas.ml import synthetic

MODEL = "line-3-failure"
DATASET = "line-3-conditions"
ADMIN_KEY = "maas_walkthrough-admin-key-0000"
FEATURES = [
    "type",
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
]
TARGET = "machine_failure"

TRAIN_ROWS = 3000
"""Readings the first model is trained on."""
NORMAL_ROWS = 1000
"""Normal readings streamed to the model (drawn from the same weeks as the training data)."""
APPENDED_ROWS = 4000
"""Readings of the drifted machine, with their outcomes, appended to the dataset."""
DRIFTED_ROWS = 1200
"""Drifted readings streamed to the model."""
BATCH = 20
"""Rows per prediction request, as a line controller would send them."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def heading(text: str) -> None:
    say()
    say(f"== {text}")


# the data ----------------------------------------------------------------------------------


def _rule_failures(frame: pd.DataFrame) -> pd.Series:
    """The physical failure modes of ``synthetic.machine_conditions`` (heat dissipation,
    power, overstrain), recomputed for readings that were changed after generation."""
    power_w = frame["torque_nm"] * frame["rotational_speed_rpm"] * 2.0 * np.pi / 60.0
    limit = frame["type"].astype(str).map({"L": 11_000, "M": 12_000, "H": 13_000})
    heat = (frame["process_temperature_k"] - frame["air_temperature_k"] < 8.6) & (
        frame["rotational_speed_rpm"] < 1380
    )
    return (
        heat
        | (power_w < 3500)
        | (power_w > 9000)
        | (frame["tool_wear_min"] * frame["torque_nm"] > limit)
    )


def drifted(frame: pd.DataFrame) -> pd.DataFrame:
    """The same machine a few weeks later: its tool is worn, so cutting takes 6 Nm more torque
    (and the spindle turns slower at the same power), and the hall's cooling is failing, so
    the air is 3 K warmer and the process 1.5 K warmer. The outcome is recomputed with the
    same physics; tool-wear and random failures stay as they were."""
    out = frame.copy()
    other = frame[TARGET].astype(bool) & ~_rule_failures(frame)
    torque = frame["torque_nm"] + 6.0
    out["rotational_speed_rpm"] = np.rint(
        frame["rotational_speed_rpm"] * (torque / frame["torque_nm"]) ** -0.368
    ).astype(np.int64)
    out["torque_nm"] = torque.round(1)
    out["air_temperature_k"] = (frame["air_temperature_k"] + 3.0).round(1)
    out["process_temperature_k"] = (frame["process_temperature_k"] + 1.5).round(1)
    out[TARGET] = (_rule_failures(out) | other).astype(np.int64)
    return out


def generate() -> dict[str, pd.DataFrame]:
    """One generated period of readings, shuffled and split: training rows, normal live rows,
    and the base of the drifted ones (so the drift is the change made, not another period)."""
    total = TRAIN_ROWS + NORMAL_ROWS + APPENDED_ROWS + DRIFTED_ROWS
    frame = synthetic.machine_conditions(n=total, seed=0)
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = np.cumsum([TRAIN_ROWS, NORMAL_ROWS, APPENDED_ROWS])
    return {
        "train": frame.iloc[: cut[0]],
        "normal": frame.iloc[cut[0] : cut[1]],
        "appended": drifted(frame.iloc[cut[1] : cut[2]]),
        "drifted": drifted(frame.iloc[cut[2] :]),
    }


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(frame[FEATURES].to_json(orient="records"))
    return records


# the webhook receiver ----------------------------------------------------------------------


class Receiver(http.server.ThreadingHTTPServer):
    """A plant system's end of the webhook: prints each event and checks its signature."""

    secret = ""
    received: list[dict[str, Any]]
    arrived: threading.Event

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.received = []
        self.arrived = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/maas"


class _Hook(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        parts = dict(p.split("=", 1) for p in self.headers.get("maas-signature", "").split(","))
        expected = hmac.new(
            self.server.secret.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256
        ).hexdigest()
        valid = hmac.compare_digest(expected, parts.get("v1", ""))
        event = json.loads(body)
        data = event["data"]
        top = sorted(data["features"], key=lambda f: -(f["psi"] or 0))[:3]
        say(
            f"   [webhook receiver] {self.headers['maas-event']} for {data['model']} "
            f"v{data['version']}: {data['previous_state']} -> {data['state']} "
            f"(max PSI {data['max_psi']:.2f}; signature {'valid' if valid else 'INVALID'})"
        )
        say(
            "   [webhook receiver] top inputs: "
            + ", ".join(f"{f['name']} {f['psi']:.2f}" for f in top)
        )
        if data.get("retraining"):
            say(f"   [webhook receiver] retraining: {data['retraining']}")
        self.send_response(204)
        self.end_headers()
        self.server.received.append(event)
        self.server.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Quiet: the handler prints what matters."""


# the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env.update(
        MAAS_ADMIN_KEY=ADMIN_KEY,
        MAAS_MONITORING_SAMPLE_RATE="1",  # log every prediction's inputs
        MAAS_MONITORING_FLUSH_SECONDS="0.5",  # write the log and traffic twice a second
        MAAS_DRIFT_CHECK_SECONDS="0",  # the walk-through checks by hand
        MAAS_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on 127.0.0.1
        MAAS_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "maas", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--no-examples"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"maas serve exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            time.sleep(0.25)
            continue
        with maas.Client(url, ADMIN_KEY) as client:
            try:
                client.info()
                return process, url
            except (maas.MaasError, OSError):
                time.sleep(0.25)
    process.kill()
    raise SystemExit(f"maas serve did not start:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# printing ----------------------------------------------------------------------------------


def show_drift(drift: Any) -> None:
    window = drift.window
    say(
        f"   drift of {drift.model} v{drift.version}: {drift.state.upper()}  "
        f"({window.rows} logged inputs compared with the {drift.reference})"
    )
    if drift.message:
        say(f"   {drift.message}")
    for f in sorted(drift.features, key=lambda f: -(f.psi or 0)):
        extra = (
            f"KS {f.ks:.2f}" if f.ks is not None else f"JS {f.js:.3f}" if f.js is not None else ""
        )
        say(f"     {f.name:<24} PSI {f.psi:7.3f}  {extra:<9}  {f.state}")
    if drift.prediction is not None:
        p = drift.prediction
        say(f"     {'(the predictions)':<24} PSI {p.psi:7.3f}  KS {p.ks or 0:.2f}    {p.state}")
    if drift.retraining:
        say(f"   retraining: {drift.retraining}")


def stream(client: maas.Client, frame: pd.DataFrame) -> tuple[list[str], float]:
    """Predict ``frame`` in small requests; returns the prediction ids and the failure rate."""
    ids: list[str] = []
    failures = 0
    rows = rows_of(frame)
    for start in range(0, len(rows), BATCH):
        answer = client.predict(MODEL, rows=rows[start : start + BATCH])
        ids.extend(i or "" for i in answer.prediction_ids or [])
        failures += sum(p == "1" for p in answer.predictions)
    return ids, failures / len(rows)


def cli(url: str, *args: str) -> None:
    """Run a ``maas`` command against the server and print what it prints."""
    say(f"   $ maas {' '.join(args)}")
    env = {**os.environ, "MAAS_URL": url, "MAAS_API_KEY": ADMIN_KEY, "COLUMNS": "100"}
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "maas", *args], capture_output=True, text=True, env=env, check=False
    )
    for line in (done.stdout + done.stderr).rstrip().splitlines():
        say(f"   {line}")


# the walk-through --------------------------------------------------------------------------


def walk(url: str, receiver: Receiver, data: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Steps 1 to 8; returns what the screenshots need."""
    with maas.Client(url, ADMIN_KEY, timeout=60) as client:
        return _walk(client, receiver, data)


def _walk(client: maas.Client, receiver: Receiver, data: dict[str, pd.DataFrame]) -> dict[str, Any]:
    nan = float("nan")
    heading(f"1. Upload {TRAIN_ROWS} machine-condition readings as dataset {DATASET!r}")
    uploaded = client.upload_dataset(
        DATASET, data["train"].to_csv(index=False).encode(), format="csv"
    )
    say(
        f"   {DATASET} v{uploaded.version}: {uploaded.rows} rows, {uploaded.column_count} columns, "
        f"{int(data['train'][TARGET].sum())} failures"
    )

    heading(f"2. Train {MODEL!r} with the failure_prediction template and promote it")
    started = time.monotonic()
    job = client.train(
        MODEL,
        template="failure_prediction",
        dataset=DATASET,
        target=TARGET,
        features=FEATURES,
        stability_runs=2,
        description="Line 3, trained on the first weeks of readings",
    )
    job = client.wait_for_job(job.id, poll_seconds=0.5, timeout_seconds=600)
    if job.status.value != "succeeded":
        raise SystemExit(f"training failed: {job.message}\n{job.log}")
    champion = int((job.result or {})["version"])
    report = client.get_version(MODEL, champion).report or {}
    held = report.get("held_out", {})
    say(
        f"   job {job.id} succeeded in {time.monotonic() - started:.0f} s: version {champion}, "
        f"held-out F1 {held.get('f1', nan):.3f}, ROC AUC {held.get('roc_auc', nan):.3f}"
    )
    client.set_alias(MODEL, "production", champion)
    say(f"   production -> v{champion}")

    heading("3. Set the monitoring policy")
    settings = client.set_monitoring(
        MODEL,
        psi_warning=0.1,
        psi_alert=0.25,
        sample_rate=1.0,
        min_rows=100,
        webhook_url=receiver.url,
        retrain_on_alert={"enabled": True, "metric": "f1", "alias": "production"},
    )
    receiver.secret = settings.webhook_secret or ""
    say(
        f"   PSI warning {settings.psi_warning}, alert {settings.psi_alert}; inputs of "
        f"{settings.sample_rate:.0%} of predictions logged; window {settings.window_hours:g} h, "
        f"at least {settings.min_rows} rows"
    )
    say(f"   webhook {settings.webhook_url} (secret {receiver.secret[:10]}…, shown once)")
    say(f"   retrain on alert: {settings.retrain_on_alert.model_dump(exclude_none=True)}")

    heading(f"4. Normal operation: stream {NORMAL_ROWS} readings, {BATCH} per request")
    _, rate = stream(client, data["normal"])
    say(f"   {NORMAL_ROWS // BATCH} requests answered; {rate:.1%} predicted to fail")
    first = client.check_drift(MODEL)
    show_drift(first)

    heading(f"5. New data: append {APPENDED_ROWS} readings of the drifted machine, with outcomes")
    appended = client.append_dataset(
        DATASET, data["appended"].to_csv(index=False).encode(), format="csv"
    )
    say(
        f"   {DATASET} v{appended.version}: {appended.rows} rows "
        f"({int(data['appended'][TARGET].sum())} failures among the new ones)"
    )

    heading(f"6. The tool wears and the cooling fails: stream {DRIFTED_ROWS} drifted readings")
    ids, rate = stream(client, data["drifted"])
    say(f"   {DRIFTED_ROWS // BATCH} requests answered; {rate:.1%} predicted to fail")
    actual = [str(v) for v in data["drifted"][TARGET]]
    sent = client.send_feedback(items=dict(zip(ids, actual, strict=True)))
    live = client.live_metrics(MODEL, version=champion)
    overall = live.versions[0].overall if live.versions else {}
    say(
        f"   feedback: {sent.accepted} actual outcomes sent; live on these readings: "
        f"accuracy {overall.get('accuracy', nan):.3f}, F1 {overall.get('f1', nan):.3f} "
        f"(held-out F1 at training: {held.get('f1', nan):.3f}); "
        f"{int(data['drifted'][TARGET].sum())} of {DRIFTED_ROWS} failed"
    )

    heading("7. Check drift again")
    receiver.arrived.clear()
    second = client.check_drift(MODEL)
    show_drift(second)
    if not receiver.arrived.wait(15):
        say("   (no webhook arrived within 15 s)")
    deadline = time.monotonic() + 5  # the server records a delivery once it has its answer
    while not (deliveries := client.get_monitoring(MODEL).recent_deliveries):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for d in deliveries[:1]:
        say(
            f"   delivery recorded by the server: {d.event} {d.outcome}, "
            f"HTTP {d.http_status}, {d.attempts} attempt(s)"
        )

    heading("8. The retraining the alert started")
    result: dict[str, Any] = {"champion": champion, "first": first, "second": second}
    job_id = (second.retraining or {}).get("job")
    if not job_id:
        say(f"   no retraining job was started: {second.retraining}")
        return result
    started = time.monotonic()
    job = client.wait_for_job(job_id, poll_seconds=0.5, timeout_seconds=900)
    say(
        f"   job {job.id} ({job.kind}) {job.status.value} "
        f"in {time.monotonic() - started:.0f} s: {job.message}"
    )
    if job.status.value != "succeeded":
        say(job.log)
        return result
    outcome = job.result or {}
    challenger = client.get_version(MODEL, int(outcome["version"]))
    comparison = (challenger.report or {}).get("comparison", {})
    holdout = comparison.get("holdout", {})
    say(
        f"   challenger v{challenger.version} trained on {challenger.source_dataset} "
        f"({holdout.get('fit_rows')} rows; {holdout.get('rows')} new rows held out, "
        f"new data only: {holdout.get('new_data_only')})"
    )
    say(
        f"   both scored on the same held-out rows "
        f"({comparison.get('metric')}, {comparison.get('direction')} is better):"
    )
    for metric in ("f1", "recall", "precision", "pr_auc", "roc_auc", "accuracy"):
        c = comparison.get("champion", {}).get("metrics", {}).get(metric)
        n = comparison.get("challenger", {}).get("metrics", {}).get(metric)
        if c is not None and n is not None:
            say(
                f"     {metric:<10} champion v{champion} {c:.4f}   "
                f"challenger v{challenger.version} {n:.4f}"
            )
    say(
        f"   {'PROMOTED' if comparison.get('promoted') else 'NOT PROMOTED'}: "
        f"{comparison.get('reason')}"
    )
    aliases = {a.alias: a.version for a in client.list_aliases(MODEL)}
    say(f"   production -> v{aliases.get('production')}")
    result["challenger"] = challenger.version
    return result


def screenshots(url: str, folder: Path, result: dict[str, Any], chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    heading(f"Screenshots of the dashboard in {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    pages = [
        ("monitoring-model", f"#/models/{MODEL}", "#versions-table tbody tr", None),
        ("monitoring-drift", f"#/drift/{MODEL}", "#drift .tiles", "#drift figure canvas"),
        ("monitoring-traffic", f"#/traffic/{MODEL}", "figure canvas", None),
    ]
    if result.get("challenger"):
        pages.append(
            (
                "monitoring-challenger",
                f"#/models/{MODEL}/versions/{result['challenger']}",
                "#metrics-table tbody tr",
                "#comparison",
            )
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB")
        page = context.new_page()
        page.goto(f"{url}/ui/")
        page.fill("#api-key", ADMIN_KEY)
        page.click("form.signin button[type=submit]")
        page.wait_for_selector("#nav a")
        for name, hash_, ready, also in pages:
            page.evaluate("(h) => { location.hash = h; }", hash_)
            page.wait_for_selector(ready, timeout=15_000)
            if also:
                try:
                    page.wait_for_selector(also, timeout=5_000)
                except Exception:  # noqa: BLE001 - a screenshot without it still shows the page
                    say(f"   ({name}: {also} not shown)")
            page.wait_for_timeout(600)  # let the charts draw their first frame
            path = folder / f"{name}.png"
            box = page.locator(also).bounding_box() if also == "#comparison" else None
            if box is not None:  # the report is long: down to the comparison only
                clip = {"x": 0, "y": 0, "width": 1200, "height": box["y"] + box["height"] + 16}
                page.screenshot(path=str(path), clip=clip, full_page=True)
            else:
                page.screenshot(path=str(path), full_page=True)
            say(f"   {path} ({path.stat().st_size // 1024} KB)")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screenshots", type=Path, help="Save dashboard screenshots here.")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument(
        "--keep-running", action="store_true", help="Leave the server up until Ctrl-C."
    )
    parser.add_argument(
        "--folder",
        type=Path,
        help="Keep the server's data and log here (default: a temporary one).",
    )
    args = parser.parse_args()
    data = generate()
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="maas-drift-") as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        process, url = start_server(folder / "data", folder / "server.log")
        say(f"maas is serving at {url} (data in {folder}); webhook receiver at {receiver.url}")
        try:
            result = walk(url, receiver, data)
            heading("The same from the command line")
            cli(url, "drift", MODEL)
            cli(url, "monitoring", MODEL)
            if args.screenshots:
                screenshots(url, args.screenshots, result, args.chromium)
            if args.keep_running:
                say(f"\nDashboard: {url}/ui  (API key {ADMIN_KEY}); Ctrl-C stops the server.")
                try:
                    process.wait()
                except KeyboardInterrupt:
                    pass
        finally:
            stop_server(process)
            receiver.shutdown()


if __name__ == "__main__":
    main()
