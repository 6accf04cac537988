"""``maas traffic``, ``drift``, ``feedback``, ``monitoring``, ``predictions`` and
``live-metrics`` over an ``httpx.MockTransport`` fake server with one model being watched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from maas.cli._remote import CliState
from maas.cli.app import create_cli
from maas.client import Client

URL = "http://maas.test"
KEY = "maas_cli-key"
NOW = "2024-05-01T10:00:00Z"
LATER = "2024-05-01T10:01:00Z"
MODEL = "pump-fail"

DRIFT = {
    "model": MODEL,
    "version": 3,
    "state": "alert",
    "checked_at": NOW,
    "window": {"rows": 400, "since": NOW},
    "thresholds": {"psi_warning": 0.1, "psi_alert": 0.25},
    "reference": "training_profile",
    "message": None,
    "features": [
        {
            "name": "type",
            "kind": "categorical",
            "psi": 0.004,
            "js": 0.001,
            "state": "ok",
            "rows": 400,
        },
        {
            "name": "torque_nm",
            "kind": "numeric",
            "psi": 1.92,
            "ks": 0.61,
            "state": "alert",
            "rows": 400,
        },
        {
            "name": "air_temperature_k",
            "kind": "numeric",
            "psi": 0.17,
            "ks": 0.2,
            "state": "warning",
            "rows": 400,
        },
    ],
    "prediction": {"psi": 0.41, "ks": 0.3, "state": "alert", "rows": 400, "reference": "training"},
    "history": [],
    "retraining": {"job": "job-7"},
}
NO_DATA = {
    **DRIFT,
    "state": "no_data",
    "version": None,
    "checked_at": None,
    "window": {"rows": 0, "since": None},
    "reference": None,
    "message": "No drift check of model 'pump-fail' has run yet.",
    "features": [],
    "prediction": None,
    "retraining": None,
}
POLICY_OFF = {
    "enabled": False,
    "metric": None,
    "dataset": None,
    "dataset_version": None,
    "alias": "production",
    "min_improvement": 0.0,
}
MONITORING = {
    "model": MODEL,
    "psi_warning": 0.1,
    "psi_alert": 0.25,
    "sample_rate": 0.1,
    "window_hours": 24.0,
    "min_rows": 100,
    "webhook_url": None,
    "webhook_secret": None,
    "webhook_secret_set": False,
    "retrain_on_alert": POLICY_OFF,
    "state": "ok",
    "recent_deliveries": [
        {
            "id": "d1",
            "event": "drift.state_changed",
            "url": "https://mes.example/hooks",
            "outcome": "delivered",
            "http_status": 204,
            "attempts": 1,
            "error": "",
            "at": NOW,
        }
    ],
}
TRAFFIC = {
    "model": MODEL,
    "points": [
        {"t": NOW, "requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None},
        {"t": LATER, "requests": 153, "errors": 3, "p50_ms": 2.41, "p99_ms": 9.87},
    ],
}
LOG = {
    "model": MODEL,
    "items": [
        {
            "prediction_id": "19ab-0",
            "model": MODEL,
            "version": 3,
            "at": NOW,
            "latency_ms": 3.0,
            "request_id": "req-1",
            "inputs": {"torque_nm": 41.9},
            "output": {"prediction": "0", "probabilities": {"0": 0.99, "1": 0.01}},
            "actual": "1",
            "actual_at": LATER,
        }
    ],
}
LIVE = {
    "model": MODEL,
    "bucket": "day",
    "since": NOW,
    "versions": [
        {
            "version": 3,
            "task": "classification",
            "overall": {"count": 50, "accuracy": 0.98, "positive_class": "1", "f1": 0.667},
            "points": [],
        }
    ],
}


class MonitoringServer:
    """Answers the monitoring routes of one model; anything else is a 404 problem."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.settings = dict(MONITORING)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = (request.method, request.url.path)
        base = f"/v1/models/{MODEL}"
        if route == ("GET", f"{base}/drift"):
            return httpx.Response(200, json=NO_DATA)
        if route == ("POST", f"{base}/drift/check"):
            return httpx.Response(200, json=DRIFT)
        if route == ("GET", f"{base}/monitoring"):
            return httpx.Response(200, json=self.settings)
        if route == ("PUT", f"{base}/monitoring"):
            body = orjson.loads(request.content)
            given = {k: MONITORING[k] if v is None else v for k, v in body.items()}
            self.settings = {**self.settings, **given, "webhook_secret": None}
            if body.get("webhook_url"):
                self.settings |= {"webhook_secret": "whsec_new", "webhook_secret_set": True}
            return httpx.Response(200, json=self.settings)
        if route == ("GET", f"{base}/traffic"):
            return httpx.Response(200, json=TRAFFIC)
        if route == ("GET", f"{base}@production/predictions"):
            if request.url.params.get("format") == "parquet":
                return httpx.Response(200, content=b"PAR1-fake-PAR1")
            return httpx.Response(200, json=LOG)
        if route == ("GET", f"{base}/live-metrics"):
            return httpx.Response(200, json=LIVE)
        if route == ("POST", "/v1/feedback"):
            body = orjson.loads(request.content)
            return httpx.Response(200, json={"accepted": len(body.get("items", [body]))})
        return httpx.Response(
            404,
            json={"code": "model_not_found", "detail": "Model 'x' not found.", "status": 404},
            headers={"content-type": "application/problem+json"},
        )

    def client(self, url: str, api_key: str | None) -> Client:
        return Client(url, api_key, transport=httpx.MockTransport(self))

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]


@pytest.fixture
def server() -> MonitoringServer:
    return MonitoringServer()


@pytest.fixture
def run(server: MonitoringServer) -> Callable[..., Any]:
    runner = CliRunner()
    cli = create_cli()

    def invoke(*args: str) -> Any:
        env = {"MAAS_URL": URL, "MAAS_API_KEY": KEY, "COLUMNS": "200"}
        return runner.invoke(cli, list(args), env=env, obj=CliState(client_factory=server.client))

    return invoke


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def test_drift_shows_the_last_check(run, server):
    out = ok(run("drift", MODEL)).stdout
    assert "no data" in out
    assert "No drift check of model 'pump-fail' has run yet." in out
    assert server.sent("POST", f"/v1/models/{MODEL}/drift/check") == []


def test_drift_check_prints_the_state_and_each_input_largest_psi_first(run, server):
    out = ok(run("drift", MODEL, "--check", "--version", "3")).stdout
    (check,) = server.sent("POST", f"/v1/models/{MODEL}/drift/check")
    assert check.url.params["version"] == "3"
    assert "alert: inputs have shifted clearly" in out
    assert "job job-7" in out
    assert "alert (PSI 0.410 against training)" in out
    rows = [line for line in out.splitlines() if "numeric" in line or "categorical" in line]
    assert [r.split()[1] for r in rows] == ["torque_nm", "air_temperature_k", "type"]
    assert "1.920" in rows[0]
    assert "0.004" in rows[2]
    assert "warning" in rows[1]


def test_drift_json_and_version_without_check(run, server):
    read = orjson.loads(ok(run("drift", MODEL, "--check", "--json")).stdout)
    assert read["state"] == "alert"
    assert read["features"][1]["psi"] == 1.92
    refused = run("drift", MODEL, "--version", "3")
    assert refused.exit_code == 2
    assert "--version needs --check" in refused.output
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("actual", "sent"), [("1", 1), ("0.25", 0.25), ("worn", "worn"), ("true", "true")]
)
def test_feedback_sends_one_outcome_a_number_when_it_is_one(run, server, actual, sent):
    out = ok(run("feedback", "19ab-0", actual)).stdout
    assert "Recorded 1 outcome." in out
    (request,) = server.sent("POST", "/v1/feedback")
    assert orjson.loads(request.content) == {"prediction_id": "19ab-0", "actual": sent}


def test_feedback_sends_a_csv_file_as_one_batch(run, server, tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("prediction_id,actual\n19ab-0,1\n19ab-1,0\n19ab-2,ok\n")
    out = ok(run("feedback", "--file", str(path))).stdout
    assert "Recorded 3 outcomes." in out
    (request,) = server.sent("POST", "/v1/feedback")
    assert orjson.loads(request.content) == {
        "items": [
            {"prediction_id": "19ab-0", "actual": 1},
            {"prediction_id": "19ab-1", "actual": 0},
            {"prediction_id": "19ab-2", "actual": "ok"},
        ]
    }


def test_feedback_needs_an_outcome_or_a_file(run, server, tmp_path):
    assert run("feedback").exit_code == 2
    assert run("feedback", "19ab-0").exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("id,outcome\n19ab-0,1\n")
    refused = run("feedback", "--file", str(bad))
    assert refused.exit_code == 2
    assert "prediction_id and actual" in refused.output
    assert server.requests == []


def test_monitoring_shows_the_settings_and_deliveries(run, server):
    out = ok(run("monitoring", MODEL)).stdout
    assert "0.1 / 0.25" in out
    assert "10% of predictions" in out
    assert "retraining" in out
    assert "off" in out
    assert "delivered" in out
    assert "204" in out
    assert server.sent("PUT", f"/v1/models/{MODEL}/monitoring") == []


def test_monitoring_sets_thresholds_webhook_and_retraining(run, server):
    out = ok(
        run(
            "monitoring",
            MODEL,
            "--psi-warning",
            "0.15",
            "--reset",
            "sample_rate",
            "--webhook-url",
            "https://mes.example/hooks",
            "--retrain-metric",
            "f1",
            "--retrain-min-improvement",
            "0.01",
        )
    ).stdout
    (put,) = server.sent("PUT", f"/v1/models/{MODEL}/monitoring")
    assert orjson.loads(put.content) == {
        "psi_warning": 0.15,
        "sample_rate": None,
        "webhook_url": "https://mes.example/hooks",
        "retrain_on_alert": {
            **POLICY_OFF,
            "enabled": True,
            "metric": "f1",
            "min_improvement": 0.01,
        },
    }
    assert "webhook secret (shown once, keep it): whsec_new" in out
    assert "promoted to production if f1 improves by more than 0.01" in out


def test_monitoring_removes_the_webhook_and_turns_retraining_off(run, server):
    server.settings["retrain_on_alert"] = {**POLICY_OFF, "enabled": True, "metric": "f1"}
    ok(run("monitoring", MODEL, "--no-webhook", "--no-retrain"))
    (put,) = server.sent("PUT", f"/v1/models/{MODEL}/monitoring")
    assert orjson.loads(put.content) == {
        "webhook_url": None,
        "retrain_on_alert": {**POLICY_OFF, "metric": "f1"},
    }


@pytest.mark.parametrize(
    "args",
    [
        ("--webhook-url", "https://x.example", "--no-webhook"),
        ("--no-retrain", "--retrain-metric", "f1"),
        ("--min-rows", "50", "--reset", "min_rows"),
    ],
)
def test_monitoring_refuses_contradictory_options(run, server, args):
    assert run("monitoring", MODEL, *args).exit_code == 2
    assert server.requests == []


def test_traffic_lists_the_minutes_with_requests(run, server):
    out = ok(run("traffic", MODEL, "--minutes", "5")).stdout
    (request,) = server.sent("GET", f"/v1/models/{MODEL}/traffic")
    assert request.url.params["minutes"] == "5"
    assert "153 requests, 3 errors in the last 5 min" in out
    assert "9.87" in out
    assert "2024-05-01 10:00Z" not in out  # a minute without requests
    assert "2024-05-01 10:00Z" in ok(run("traffic", MODEL, "--all")).stdout


def test_predictions_prints_the_log_or_writes_parquet(run, server, tmp_path):
    out = ok(run("predictions", f"{MODEL}@production", "--limit", "5")).stdout
    assert "19ab-0" in out
    assert "logged" in out
    target = tmp_path / "log.parquet"
    written = ok(run("predictions", f"{MODEL}@production", "-o", str(target))).stdout
    assert target.read_bytes() == b"PAR1-fake-PAR1"
    assert "14 bytes" in written
    parquet = server.requests[-1]
    assert parquet.url.params["format"] == "parquet"


def test_live_metrics_prints_each_version(run, server):
    out = ok(run("live-metrics", MODEL, "--bucket", "day", "--days", "3")).stdout
    (request,) = server.sent("GET", f"/v1/models/{MODEL}/live-metrics")
    assert dict(request.url.params) == {"bucket": "day", "days": "3"}
    assert "0.98" in out
    assert "0.667" in out
    assert "(positive class 1)" in out
    assert "positive_class" not in out


def test_an_unknown_model_is_an_error_with_exit_status_1(run):
    result = run("drift", "nope")
    assert result.exit_code == 1
    assert "error: Model 'x' not found." in result.stderr


def test_a_malformed_answer_is_an_error_not_a_crash():
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"model": MODEL})

    result = CliRunner().invoke(
        create_cli(),
        ["monitoring", MODEL],
        env={"MAAS_URL": URL, "MAAS_API_KEY": KEY},
        obj=CliState(
            client_factory=lambda u, k: Client(u, k, transport=httpx.MockTransport(broken))
        ),
    )
    assert result.exit_code == 1
    assert "is not a valid MonitoringRead" in result.stderr
