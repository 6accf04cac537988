"""Monitoring services: the prediction log, traffic, feedback, live metrics, drift, scheduled
checks, webhooks and the retraining trigger — driven by calling ``observe`` directly."""

from __future__ import annotations

import http.server
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from fastapi import FastAPI

from maas.api.app import create_app
from maas.domain.principal import Principal
from maas.domain.webhooks import verify_signature
from maas.errors import (
    InvalidInputError,
    InvalidParameterError,
    ModelNotFoundError,
    PredictionNotFoundError,
)
from maas.ml import synthetic
from maas.ml.prediction import Prediction
from maas.ml.report import training_profile
from maas.runtimes.encoding import columns_to_matrix
from maas.schemas.models import VersionRead
from maas.schemas.monitoring import FeedbackItem, MonitoringUpdate, RetrainPolicy
from maas.services.drift import DriftService
from maas.services.monitoring import MonitoringService
from maas.services.prediction_log import PredictionLog
from maas.services.webhooks import WebhookEvent, WebhookSender
from maas.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register, system_principal, tool_life_model

# fixtures -----------------------------------------------------------------------------------


def monitoring_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "examples": False,
        "admin_key": ADMIN_KEY,
        "monitoring_sample_rate": 1.0,
        "monitoring_flush_seconds": 3600.0,  # the tests flush by hand
        "drift_check_seconds": 0,
        "drift_min_rows": 50,
        "drift_reference_rows": 200,
        "webhook_allow_private": True,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def mon_app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(monitoring_settings(tmp_path))
    yield app
    app.state.services.close()


def monitoring(app: FastAPI) -> MonitoringService:
    return app.state.services.monitoring  # type: ignore[no-any-return]


def machine_frame(n: int, seed: int) -> pd.DataFrame:
    return synthetic.machine_conditions(n=n, seed=seed)


def training_sample(n: int, seed: int) -> pd.DataFrame:
    """Rows like the training data's (the generator's temperatures wander between seeds)."""
    return machine_frame(2_000, 0).sample(n, random_state=seed, replace=True)


def register_profiled(app: FastAPI, name: str = "machine-failure") -> VersionRead:
    """A classifier version whose report carries its training profile, as trained ones do."""
    trained = failure_model()
    frame = machine_frame(2_000, 0)
    who = system_principal(app)
    registry = app.state.services.registry
    version = registry.register_version(
        who,
        name,
        artifact=trained.artifact,
        format=trained.format,
        signature=trained.signature,
        metrics=trained.metrics,
        template=trained.template,
        report={"training_profile": training_profile(frame, trained.signature.input_names)},
    )
    registry.set_alias(who, name, "production", version.version)
    return version  # type: ignore[no-any-return]


def observe_frame(
    app: FastAPI,
    version: VersionRead,
    frame: pd.DataFrame,
    *,
    tenant_id: str | None = None,
    latency: float = 0.002,
) -> list[str | None] | None:
    columns = {n: frame[n].tolist() for n in version.signature.input_names}
    x = columns_to_matrix(columns, version.signature)
    prediction = app.state.services.serving.predictor(version).predict(x)
    tenant = tenant_id or system_principal(app).tenant_id
    return monitoring(app).observe(tenant, version, x, prediction, latency, "req-test")


def other_tenant(app: FastAPI) -> Principal:
    keys = app.state.services.keys
    created = keys.onboard_tenant(system_principal(app), "plant-two")
    return keys.authenticate(created.admin_key)  # type: ignore[no-any-return]


# the log ------------------------------------------------------------------------------------


def test_observe_logs_every_output_and_a_sample_of_inputs(tmp_path: Path) -> None:
    app = create_app(monitoring_settings(tmp_path, monitoring_sample_rate=0.2))
    try:
        version = register(app, "machine-failure", failure_model())
        monitoring(app).log._np_random = np.random.default_rng(0)
        ids = observe_frame(app, version, machine_frame(1_000, 1))
        assert ids is not None
        assert len(ids) == 1_000
        assert len(set(ids)) == 1_000
        assert monitoring(app).flush() == 1_000
        page = monitoring(app).predictions(system_principal(app), "machine-failure", limit=5_000)
        assert len(page.items) == 1_000
        sampled = [i for i in page.items if i.inputs is not None]
        assert 150 < len(sampled) < 250
        first = next(i for i in page.items if i.prediction_id == ids[0])
        assert first.output is not None
        assert first.output["prediction"] in ("0", "1")
        assert set(first.output["probabilities"]) == {"0", "1"}
        assert first.request_id == "req-test"
        assert sampled[0].inputs is not None
        assert sampled[0].inputs["type"] in ("L", "M", "H")
    finally:
        app.state.services.close()


def test_observe_only_samples_when_outputs_are_not_logged(tmp_path: Path) -> None:
    app = create_app(
        monitoring_settings(tmp_path, monitoring_sample_rate=0.5, monitoring_log_outputs=False)
    )
    try:
        version = register(app, "machine-failure", failure_model())
        ids = observe_frame(app, version, machine_frame(200, 1))
        assert ids is not None
        assert len(ids) == 200
        logged = [i for i in ids if i is not None]
        assert 50 < len(logged) < 150
        assert monitoring(app).flush() == len(logged)
    finally:
        app.state.services.close()


def test_observe_never_blocks_when_the_buffer_is_full(tmp_path: Path) -> None:
    app = create_app(monitoring_settings(tmp_path, monitoring_buffer_rows=150))
    try:
        version = register(app, "machine-failure", failure_model())
        monitoring(app).log.close()  # no background flusher: the test flushes
        assert observe_frame(app, version, machine_frame(100, 1)) is not None
        assert observe_frame(app, version, machine_frame(100, 2)) is None  # does not fit
        assert monitoring(app).log.dropped == 100
        assert monitoring(app).flush() == 100
        assert observe_frame(app, version, machine_frame(100, 3)) is not None  # room again
    finally:
        app.state.services.close()


def test_observe_past_half_the_buffer_logs_the_sampled_rows_only(tmp_path: Path) -> None:
    app = create_app(
        monitoring_settings(tmp_path, monitoring_sample_rate=0.2, monitoring_buffer_rows=1_000)
    )
    try:
        version = register(app, "machine-failure", failure_model())
        log = monitoring(app).log
        log.close()  # no background flusher: the test flushes
        log._np_random = np.random.default_rng(0)
        full = observe_frame(app, version, machine_frame(400, 1))
        assert full is not None
        assert None not in full  # under half full: every output
        part = observe_frame(app, version, machine_frame(400, 2))
        assert part is not None
        assert len(part) == 400
        sampled = [i for i in part if i is not None]
        assert 40 < len(sampled) < 120  # 20 % of 400
        assert log.dropped == 400 - len(sampled)
        exposed = f"maas_prediction_log_dropped_rows_total {float(400 - len(sampled))}"
        assert exposed in app.state.metrics.render().decode()
        assert log.pending_rows() == 400 + len(sampled)
        assert monitoring(app).flush() == 400 + len(sampled)
        page = monitoring(app).predictions(system_principal(app), "machine-failure", limit=5_000)
        degraded = [i for i in page.items if i.prediction_id in set(sampled)]
        assert len(degraded) == len(sampled)
        assert all(i.inputs is not None and i.output is not None for i in degraded)
        index = int(sampled[0].rsplit("-", 1)[1])
        row = machine_frame(400, 2).iloc[index]
        first = next(i for i in degraded if i.prediction_id == sampled[0])
        assert first.inputs is not None
        assert first.inputs["type"] == row["type"]  # the row's own inputs and output
        assert first.output is not None
        assert first.output["prediction"] in ("0", "1")
    finally:
        app.state.services.close()


def test_observe_per_unit_models_log_inputs_apart(mon_app: FastAPI) -> None:
    version = register(mon_app, "machine-failure", failure_model())
    x = np.zeros((5, len(version.signature.inputs)), dtype=np.float32)
    grouped = Prediction(
        predictions=np.array(["0", "1"]),
        probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]),
        keys=[{"unit": "a"}, {"unit": "b"}],
    )
    tenant = system_principal(mon_app).tenant_id
    ids = monitoring(mon_app).observe(tenant, version, x, grouped, 0.01)
    assert ids is not None
    assert len(ids) == 2
    assert monitoring(mon_app).flush() == 7  # 2 predictions + 5 sampled input rows
    page = monitoring(mon_app).predictions(system_principal(mon_app), "machine-failure")
    outputs = [i for i in page.items if i.output is not None]
    assert sorted(o.output["key"]["unit"] for o in outputs) == ["a", "b"]  # type: ignore[index]
    assert all(o.inputs is None for o in outputs)


def test_log_rows_read_back_as_written_on_each_database(
    tmp_path: Path, database_url: str | None
) -> None:
    """The log is written below the ORM (prepared JSON text, driver-level statements of many
    rows: 245 rows are statements of 100, 100, 32, 8, 4 and 1 on SQLite): what is read back
    must be what was observed, on SQLite and on PostgreSQL."""
    app = create_app(monitoring_settings(tmp_path, database_url=database_url))
    try:
        version = register(app, "machine-failure", failure_model())
        frame = machine_frame(240, 1)
        ids = observe_frame(app, version, frame)
        assert ids is not None
        tenant = system_principal(app).tenant_id
        x = np.zeros((3, len(version.signature.inputs)), dtype=np.float32)
        odd = Prediction(
            predictions=np.array([0.5, np.nan]),
            quantiles={"0.1": np.array([0.1234567891, np.inf])},
            keys=[{"unit": "a"}, {"unit": 'b"\\'}],
        )
        odd_ids = monitoring(app).observe(tenant, version, x, odd, 0.0123456, "req-odd")
        assert odd_ids is not None
        assert monitoring(app).flush() == 240 + 2 + 3
        who = system_principal(app)
        page = monitoring(app).predictions(who, "machine-failure", limit=1_000)
        assert len(page.items) == 240 + 2 + 3
        by_id = {i.prediction_id: i for i in page.items}
        assert set(ids) <= set(by_id)
        first = by_id[ids[0]]  # type: ignore[index]
        row = frame.iloc[0]
        assert first.inputs is not None
        assert first.inputs["type"] == row["type"]
        assert first.inputs["torque_nm"] == pytest.approx(row["torque_nm"], rel=1e-6)
        assert first.output is not None
        assert sum(first.output["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert first.at.tzinfo is not None
        assert abs((first.at - datetime.now(UTC)).total_seconds()) < 60
        a, b = by_id[odd_ids[0]], by_id[odd_ids[1]]  # type: ignore[index]
        assert a.output == {"prediction": 0.5, "quantiles": {"0.1": 0.123457}, "key": {"unit": "a"}}
        assert b.output == {"prediction": None, "quantiles": {"0.1": None}, "key": {"unit": 'b"\\'}}
        assert a.request_id == "req-odd"
        assert a.latency_ms == pytest.approx(12.346)
        sampled = [i for i in page.items if i.output is None]
        assert len(sampled) == 3
        assert all(i.inputs is not None for i in sampled)
        items = [FeedbackItem(prediction_id=ids[0] or "", actual="1")]
        assert monitoring(app).feedback(who, items).accepted == 1
        again = monitoring(app).predictions(who, "machine-failure", limit=1_000)
        assert next(i for i in again.items if i.prediction_id == ids[0]).actual == "1"
    finally:
        app.state.services.close()


def test_log_export_is_parquet_and_scoped_to_a_version(mon_app: FastAPI) -> None:
    v1 = register(mon_app, "machine-failure", failure_model())
    v2 = register(mon_app, "machine-failure", failure_model())
    observe_frame(mon_app, v1, machine_frame(10, 1))
    observe_frame(mon_app, v2, machine_frame(20, 2))
    monitoring(mon_app).flush()
    who = system_principal(mon_app)
    data = monitoring(mon_app).predictions_parquet(who, "machine-failure@2", limit=100)
    frame = pd.read_parquet(pd.io.common.BytesIO(data))
    assert len(frame) == 20
    assert set(frame["version"]) == {2}
    assert {"prediction_id", "prediction", "p_1", "input.torque_nm", "actual"} <= set(frame)
    everything = monitoring(mon_app).predictions(who, "machine-failure", limit=100)
    assert len(everything.items) == 30


def test_retention_keeps_at_most_n_rows_and_d_days(tmp_path: Path) -> None:
    app = create_app(monitoring_settings(tmp_path, monitoring_retention_rows=25))
    try:
        version = register(app, "machine-failure", failure_model())
        plog = monitoring(app).log
        observe_frame(app, version, machine_frame(30, 1))
        plog.flush()
        newest = observe_frame(app, version, machine_frame(10, 2))
        plog.flush()
        assert plog.prune() == 15
        page = monitoring(app).predictions(system_principal(app), "machine-failure", limit=100)
        assert len(page.items) <= 25
        assert {i.prediction_id for i in page.items} >= set(newest or [])
        plog.clock = lambda: datetime.now(UTC) + timedelta(days=31)
        assert plog.prune() == len(page.items)
    finally:
        app.state.services.close()


# traffic ------------------------------------------------------------------------------------


def test_traffic_adds_up_processes_with_latency_percentiles(mon_app: FastAPI) -> None:
    version = register(mon_app, "machine-failure", failure_model())
    tenant = system_principal(mon_app).tenant_id
    db = mon_app.state.services.registry.db
    other = PredictionLog(db)  # a second server process on the same database
    x = np.zeros((1, len(version.signature.inputs)), dtype=np.float32)
    pred = Prediction(predictions=np.array(["0"]))
    for i in range(100):
        monitoring(mon_app).observe(tenant, version, x, pred, (i + 1) / 1000)  # 1..100 ms
    for _ in range(50):
        other.observe(tenant, version, x, pred, 0.005)
    for _ in range(3):
        monitoring(mon_app).observe_error(tenant, "machine-failure")
    monitoring(mon_app).flush()
    other.flush()
    monitoring(mon_app).flush()  # nothing new: still counted once
    traffic = monitoring(mon_app).traffic(system_principal(mon_app), "machine-failure", minutes=5)
    assert len(traffic.points) == 5
    assert [p.requests for p in traffic.points[:-1]] == [0, 0, 0, 0]
    last = traffic.points[-1]
    assert (last.requests, last.errors) == (153, 3)
    # 150 latencies: 100 spread over 1..100 ms, 50 at 5 ms → p50 ≈ 25 ms, p99 ≈ 99 ms
    assert last.p50_ms == pytest.approx(25, rel=0.15)
    assert last.p99_ms == pytest.approx(98, rel=0.15)
    assert traffic.points[0].p50_ms is None


def test_traffic_of_another_tenants_model_is_not_found(mon_app: FastAPI) -> None:
    register(mon_app, "machine-failure", failure_model())
    with pytest.raises(ModelNotFoundError):
        monitoring(mon_app).traffic(other_tenant(mon_app), "machine-failure")


# feedback and live metrics ------------------------------------------------------------------


def test_feedback_unknown_id_names_it(mon_app: FastAPI) -> None:
    version = register(mon_app, "machine-failure", failure_model())
    ids = observe_frame(mon_app, version, machine_frame(3, 1))
    assert ids is not None
    items = [
        FeedbackItem(prediction_id=ids[0], actual="1"),
        FeedbackItem(prediction_id="nope-0", actual="1"),
    ]
    with pytest.raises(PredictionNotFoundError, match="nope-0") as caught:
        monitoring(mon_app).feedback(system_principal(mon_app), items)
    assert caught.value.field == "items[1].prediction_id"
    page = monitoring(mon_app).predictions(system_principal(mon_app), "machine-failure")
    assert all(i.actual is None for i in page.items)  # all or nothing


def test_feedback_works_before_the_flush_and_checks_the_type(mon_app: FastAPI) -> None:
    version = register(mon_app, "machine-failure", failure_model())
    ids = observe_frame(mon_app, version, machine_frame(3, 1))
    assert ids is not None
    assert ids[0] is not None
    who = system_principal(mon_app)
    # still in the buffer: found after an on-demand flush
    assert (
        monitoring(mon_app).feedback(who, [FeedbackItem(prediction_id=ids[0], actual=1)]).accepted
        == 1
    )
    with pytest.raises(InvalidInputError, match="one of its classes") as caught:
        monitoring(mon_app).feedback(
            who, [FeedbackItem(prediction_id=ids[1], actual="broken")], batch=False
        )
    assert caught.value.field == "actual"
    page = monitoring(mon_app).predictions(who, "machine-failure")
    assert next(i for i in page.items if i.prediction_id == ids[0]).actual == "1"


def test_feedback_waits_for_a_flush_under_way(mon_app: FastAPI, tmp_path: Path) -> None:
    """The flusher takes rows off the buffer before it writes them: feedback sent meanwhile
    must wait for that write, not answer 404 (seen in examples/drift_walkthrough.py)."""
    import sqlite3

    version = register(mon_app, "machine-failure", failure_model())
    ids = observe_frame(mon_app, version, machine_frame(20, 1))
    assert ids is not None
    plog = monitoring(mon_app).log
    blocker = sqlite3.connect(tmp_path / "data" / "maas.db", check_same_thread=False)
    blocker.isolation_level = None
    blocker.execute("BEGIN IMMEDIATE")  # hold the write lock: the flush stalls mid-way
    flusher = threading.Thread(target=plog.flush)
    flusher.start()
    deadline = time.monotonic() + 5
    while plog.pending_rows() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert plog.pending_rows() == 0  # taken off the buffer, not written yet
    release = threading.Timer(0.3, lambda: (blocker.execute("ROLLBACK"), blocker.close()))
    release.start()
    try:
        items = [FeedbackItem(prediction_id=i or "", actual="0") for i in ids]
        assert monitoring(mon_app).feedback(system_principal(mon_app), items).accepted == 20
    finally:
        release.join()
        flusher.join()


def test_feedback_of_another_tenant_is_not_found(mon_app: FastAPI) -> None:
    version = register(mon_app, "machine-failure", failure_model())
    ids = observe_frame(mon_app, version, machine_frame(1, 1))
    assert ids is not None
    assert ids[0] is not None
    with pytest.raises(PredictionNotFoundError):
        monitoring(mon_app).feedback(
            other_tenant(mon_app), [FeedbackItem(prediction_id=ids[0], actual="1")]
        )


def test_live_metrics_regression_rmse_and_classifier_accuracy(mon_app: FastAPI) -> None:
    who = system_principal(mon_app)
    reg = register(mon_app, "tool-life", tool_life_model())
    frame = synthetic.tool_life(n=40, seed=3)
    ids = observe_frame(mon_app, reg, frame)
    assert ids is not None
    monitoring(mon_app).flush()
    page = monitoring(mon_app).predictions(who, "tool-life", limit=100)
    predicted = {i.prediction_id: i.output["prediction"] for i in page.items}  # type: ignore[index]
    items = [FeedbackItem(prediction_id=i, actual=predicted[i] + 2.0) for i in ids if i]
    monitoring(mon_app).feedback(who, items)
    metrics = monitoring(mon_app).live_metrics(who, "tool-life", bucket="day")
    (v,) = metrics.versions
    assert v.task == "regression"
    assert v.overall["count"] == 40
    assert v.overall["rmse"] == pytest.approx(2.0, abs=1e-4)
    assert v.overall["bias"] == pytest.approx(-2.0, abs=1e-4)
    assert len(v.points) == 1

    clf = register(mon_app, "machine-failure", failure_model())
    ids = observe_frame(mon_app, clf, machine_frame(10, 4))
    assert ids is not None
    monitoring(mon_app).feedback(who, [FeedbackItem(prediction_id=i, actual="0") for i in ids if i])
    (c,) = monitoring(mon_app).live_metrics(who, "machine-failure").versions
    assert c.overall["count"] == 10
    assert 0 <= c.overall["accuracy"] <= 1
    assert "f1" in c.overall


# drift --------------------------------------------------------------------------------------


def test_drift_without_traffic_says_no_data(mon_app: FastAPI) -> None:
    register_profiled(mon_app)
    read = monitoring(mon_app).check_drift(system_principal(mon_app), "machine-failure")
    assert read.state == "no_data"
    assert read.message is not None
    assert "needs at least 50" in read.message
    assert read.window.rows == 0


def test_drift_ok_then_alert_on_a_shift(mon_app: FastAPI) -> None:
    version = register_profiled(mon_app)
    who = system_principal(mon_app)
    observe_frame(mon_app, version, training_sample(600, 7))
    read = monitoring(mon_app).check_drift(who, "machine-failure")
    assert read.reference == "training_profile"
    assert read.state == "ok", (read.features, read.prediction)
    assert read.window.rows == 600
    assert {f.name for f in read.features} == set(version.signature.input_names)
    assert read.prediction is not None
    assert read.prediction.reference == "first_logged"

    shifted = training_sample(400, 8)
    shifted["torque_nm"] += 20
    observe_frame(mon_app, version, shifted)
    read = monitoring(mon_app).check_drift(who, "machine-failure")
    torque = next(f for f in read.features if f.name == "torque_nm")
    assert torque.state == "alert"
    assert read.state == "alert"
    assert [h.state for h in read.history] == ["ok", "alert"]
    assert read.history[-1].features["torque_nm"] == torque.psi
    latest = monitoring(mon_app).drift_state(who, "machine-failure")
    assert latest.state == "alert"
    assert len(latest.history) == 2


def test_drift_of_an_uploaded_version_uses_its_first_logged_inputs(mon_app: FastAPI) -> None:
    version = register(mon_app, "machine-failure", failure_model())  # no report, no profile
    who = system_principal(mon_app)
    observe_frame(mon_app, version, training_sample(150, 1))
    read = monitoring(mon_app).check_drift(who, "machine-failure")
    assert read.state == "no_data"
    assert read.reference == "first_logged"
    assert read.message is not None
    assert "first 200 logged inputs" in read.message
    assert "150 are logged so far" in read.message
    observe_frame(mon_app, version, training_sample(50, 2))
    time.sleep(0.01)
    observe_frame(mon_app, version, training_sample(600, 3))
    read = monitoring(mon_app).check_drift(who, "machine-failure")
    # a sample of 200 as the reference is noisier than a training profile: no alert, though
    assert read.state in ("ok", "warning"), (read.features, read.prediction)
    assert max(f.psi or 0 for f in read.features) < 0.25
    assert read.window.rows == 600
    assert {f.ks is not None for f in read.features if f.kind == "numeric"} == {True}
    assert read.prediction is not None
    assert read.prediction.reference == "first_logged"
    shifted = training_sample(300, 4)
    shifted["torque_nm"] += 20
    observe_frame(mon_app, version, shifted)
    read = monitoring(mon_app).check_drift(who, "machine-failure")
    assert next(f for f in read.features if f.name == "torque_nm").state == "alert"


def test_drift_thresholds_are_set_per_model(mon_app: FastAPI) -> None:
    register_profiled(mon_app)
    who = system_principal(mon_app)
    with pytest.raises(InvalidParameterError) as caught:
        monitoring(mon_app).update_settings(
            who, "machine-failure", MonitoringUpdate(psi_warning=0.5)
        )
    assert caught.value.field == "psi_warning"
    read = monitoring(mon_app).update_settings(
        who, "machine-failure", MonitoringUpdate(psi_warning=0.001, psi_alert=0.002, min_rows=10)
    )
    assert (read.psi_warning, read.psi_alert, read.min_rows) == (0.001, 0.002, 10)
    observe_frame(
        mon_app,
        monitoring(mon_app).registry.get_version(who, "machine-failure", 1),
        machine_frame(100, 9),
    )
    drift = monitoring(mon_app).check_drift(who, "machine-failure")
    assert drift.thresholds == {"psi_warning": 0.001, "psi_alert": 0.002}
    assert drift.state == "alert"


# webhooks and retraining --------------------------------------------------------------------


class Receiver:
    """A local HTTP receiver on 127.0.0.1 that answers with the given statuses in turn."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/maas"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_state_changes_send_signed_webhooks(mon_app: FastAPI, receiver: Receiver) -> None:
    version = register_profiled(mon_app)
    who = system_principal(mon_app)
    settings = monitoring(mon_app).update_settings(
        who, "machine-failure", MonitoringUpdate(webhook_url=receiver.url)
    )
    secret = settings.webhook_secret
    assert secret is not None
    assert secret.startswith("whsec_")
    assert monitoring(mon_app).settings(who, "machine-failure").webhook_secret is None
    observe_frame(mon_app, version, training_sample(600, 7))
    assert monitoring(mon_app).check_drift(who, "machine-failure").state == "ok"  # nothing to say
    shifted = training_sample(300, 8)
    shifted["torque_nm"] += 20
    observe_frame(mon_app, version, shifted)
    monitoring(mon_app).check_drift(who, "machine-failure")  # → alert
    monitoring(mon_app).check_drift(who, "machine-failure")  # still alert: no second event
    assert monitoring(mon_app).webhooks.wait_idle(10)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert verify_signature(secret, body, headers["maas-signature"])
    assert not verify_signature("whsec_wrong", body, headers["maas-signature"])
    event = orjson.loads(body)
    assert event["event"] == "drift.state_changed" == headers["maas-event"]
    assert event["data"]["state"] == "alert"
    assert event["data"]["previous_state"] == "ok"
    assert event["data"]["model"] == "machine-failure"
    deliveries = monitoring(mon_app).settings(who, "machine-failure").recent_deliveries
    assert [(d.outcome, d.http_status, d.attempts) for d in deliveries] == [("delivered", 204, 1)]


def test_webhook_retries_then_gives_up_and_records_it(mon_app: FastAPI) -> None:
    receiver = Receiver([500, 503, 500, 500])
    try:
        db = mon_app.state.services.registry.db
        sender = WebhookSender(db, allow_private=True, backoff=0.01, attempts=3)
        version = register(mon_app, "machine-failure", failure_model())
        model_id = 1
        event = WebhookEvent(
            model_id, receiver.url, "whsec_x", "drift.state_changed", {"v": version.version}
        )
        outcome = sender.deliver(event)
        assert (outcome.outcome, outcome.http_status, outcome.attempts) == ("failed", 500, 3)
        receiver.statuses = [503]
        outcome = sender.deliver(event)
        assert (outcome.outcome, outcome.attempts) == ("delivered", 2)
        gone = sender.deliver(WebhookEvent(model_id, "http://127.0.0.1:9/x", "s", "e", {}))
        assert gone.outcome == "failed"
        assert "ConnectError" in gone.error
    finally:
        receiver.close()


def test_webhook_to_a_private_address_is_refused(mon_app: FastAPI) -> None:
    db = mon_app.state.services.registry.db
    sender = WebhookSender(db, allow_private=False, resolver=lambda host: ["10.1.2.3"])
    outcome = sender.deliver(WebhookEvent(1, "https://hooks.example/x", "s", "e", {}))
    assert outcome.outcome == "refused"
    assert "non-public" in outcome.error
    sender = WebhookSender(db, allow_private=False, resolver=lambda host: ["169.254.169.254"])
    assert (
        sender.deliver(WebhookEvent(1, "https://metadata.example/", "s", "e", {})).outcome
        == "refused"
    )
    monitoring(mon_app).allow_private_webhooks = False
    register(mon_app, "machine-failure", failure_model())
    for url in (
        "http://127.0.0.1:8000/x",
        "http://localhost/x",
        "ftp://example.com/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ):
        with pytest.raises(InvalidParameterError):
            monitoring(mon_app).update_settings(
                system_principal(mon_app), "machine-failure", MonitoringUpdate(webhook_url=url)
            )


def test_alert_triggers_retraining_once(mon_app: FastAPI) -> None:
    calls: list[tuple[Principal, str, RetrainPolicy]] = []

    def retrain(principal: Principal, model: str, policy: RetrainPolicy) -> str:
        calls.append((principal, model, policy))
        return "job-123"

    monitoring(mon_app).drift.retrain = retrain
    version = register_profiled(mon_app)
    who = system_principal(mon_app)
    with pytest.raises(InvalidParameterError, match="metric"):
        monitoring(mon_app).update_settings(
            who, "machine-failure", MonitoringUpdate(retrain_on_alert=RetrainPolicy(enabled=True))
        )
    monitoring(mon_app).update_settings(
        who,
        "machine-failure",
        MonitoringUpdate(
            retrain_on_alert=RetrainPolicy(enabled=True, metric="f1", dataset="press")
        ),
    )
    shifted = training_sample(300, 8)
    shifted["torque_nm"] += 20
    observe_frame(mon_app, version, shifted)
    first = monitoring(mon_app).check_drift(who, "machine-failure")
    second = monitoring(mon_app).check_drift(who, "machine-failure")
    assert first.state == second.state == "alert"
    assert first.retraining == {"job": "job-123"}
    assert second.retraining is None
    (principal, model, policy) = calls[0]
    assert len(calls) == 1
    assert model == "machine-failure"
    assert (policy.metric, policy.dataset, policy.alias) == ("f1", "press", "production")
    assert principal.tenant_id == who.tenant_id
    assert principal.key_name == "drift-monitor"


def test_scheduled_checks_run_once_per_model_across_processes(mon_app: FastAPI) -> None:
    version = register_profiled(mon_app)
    observe_frame(mon_app, version, training_sample(600, 7))
    mon = monitoring(mon_app)
    db = mon.db
    other_log = PredictionLog(db, rng=random.Random(1))
    other = DriftService(db, mon.registry, other_log, mon.webhooks, defaults=mon.drift.defaults)
    mon.drift.interval = other.interval = 300
    assert mon.drift.run_scheduled() + other.run_scheduled() == 1
    assert mon.drift.run_scheduled() == 0  # leased for this interval
    read = mon.drift_state(system_principal(mon_app), "machine-failure")
    assert read.state == "ok"
    assert len(read.history) == 1


def test_deleting_a_model_deletes_its_monitoring(mon_app: FastAPI) -> None:
    version = register_profiled(mon_app)
    who = system_principal(mon_app)
    observe_frame(mon_app, version, machine_frame(100, 1))
    monitoring(mon_app).check_drift(who, "machine-failure")
    mon_app.state.services.registry.delete_model(who, "machine-failure")
    register_profiled(mon_app)
    assert monitoring(mon_app).predictions(who, "machine-failure").items == []
    assert monitoring(mon_app).drift_state(who, "machine-failure").history == []


def test_monitoring_tables_match_their_migration(mon_app: FastAPI) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from maas.store.tables import Base

    ours = {
        "prediction_log",
        "traffic_minutes",
        "model_monitoring",
        "drift_checks",
        "webhook_deliveries",
        "monitoring_leases",
    }
    with monitoring(mon_app).db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if any(t in repr(d) for t in ours)] == []


def test_observe_timing_is_printed(mon_app: FastAPI, capsys: pytest.CaptureFixture[str]) -> None:
    """Not an assertion on speed: prints what one observe() costs here, for the record."""
    version = register(mon_app, "machine-failure", failure_model())
    tenant = system_principal(mon_app).tenant_id
    x1 = columns_to_matrix(
        {n: machine_frame(1, 1)[n].tolist() for n in version.signature.input_names},
        version.signature,
    )
    pred = mon_app.state.services.serving.predictor(version).predict(x1)
    plog = monitoring(mon_app).log
    plog.max_buffered_rows = 10**7
    for rate in (0.1, 1.0):
        plog.sample_rate = rate
        started = time.perf_counter()
        for _ in range(5_000):
            plog.observe(tenant, version, x1, pred, 0.001)
        per_call = (time.perf_counter() - started) / 5_000
        with capsys.disabled():
            print(f"\nobserve() of one row, sample rate {rate}: {per_call * 1e6:.1f} µs")  # noqa: T201
    assert plog.pending_rows() == 10_000


def test_the_flusher_hands_memory_back_after_a_big_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import maas.services.prediction_log as prediction_log

    released: list[float] = []
    monkeypatch.setattr(prediction_log, "release_free_heap", lambda: released.append(1) or True)
    app = create_app(
        monitoring_settings(tmp_path, monitoring_sample_rate=0.0, monitoring_flush_seconds=0.05)
    )
    try:
        version = register(app, "machine-failure", failure_model())
        observe_frame(app, version, machine_frame(50, 1))  # small: nothing to hand back
        time.sleep(0.3)
        assert released == []
        observe_frame(app, version, machine_frame(10_000, 2))
        deadline = time.monotonic() + 10
        while not released and time.monotonic() < deadline:
            time.sleep(0.02)
        assert released
    finally:
        app.state.services.close()


def test_the_flusher_writes_as_soon_as_a_quarter_of_the_buffer_is_used(tmp_path: Path) -> None:
    """A steady stream must not pile up between two ticks of the timer until requests lose
    their log rows: at a quarter of the bound the flusher writes at once."""
    app = create_app(
        monitoring_settings(tmp_path, monitoring_buffer_rows=400, monitoring_flush_seconds=3600.0)
    )
    try:
        version = register(app, "machine-failure", failure_model())
        log = monitoring(app).log
        observe_frame(app, version, machine_frame(50, 1))  # an eighth: waits for the timer
        time.sleep(0.3)
        assert log.pending_rows() == 50
        observe_frame(app, version, machine_frame(60, 2))  # past a quarter
        deadline = time.monotonic() + 10
        while log.pending_rows() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.pending_rows() == 0
        for seed in range(3, 7):  # 4 × 60 rows, each written before the buffer fills
            observe_frame(app, version, machine_frame(60, seed))
            deadline = time.monotonic() + 10
            while log.pending_rows() >= 100 and time.monotonic() < deadline:
                time.sleep(0.02)
        assert log.dropped == 0
        log.flush()
        page = monitoring(app).predictions(system_principal(app), "machine-failure", limit=5_000)
        assert len(page.items) == 50 + 60 + 240
    finally:
        app.state.services.close()
