"""``maas train``, ``maas jobs ...`` and ``maas models report`` over an ``httpx.MockTransport``
fake server that plays a training job from submission to its report."""

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
JOB = {
    "id": "job-1",
    "kind": "train",
    "status": "queued",
    "progress": 0.0,
    "message": "",
    "request": {"model": "pump-fail", "template": "failure"},
    "result": None,
    "log": "",
    "created_by": "admin",
    "created_at": NOW,
    "started_at": None,
    "finished_at": None,
}
RUNNING = {**JOB, "status": "running", "progress": 0.4, "message": "stability run 2 of 3"}
SUCCEEDED = {
    **JOB,
    "status": "succeeded",
    "progress": 1.0,
    "message": "done",
    "result": {"model": "pump-fail", "version": 3, "alias": "staging"},
    "finished_at": NOW,
}
FAILED = {
    **JOB,
    "status": "failed",
    "progress": 0.1,
    "message": "Column 'rul' is constant: nothing to learn.",
    "log": "reading the dataset\nfitting failure on 24 rows\n",
}
REPORT = {
    "held_out": {"pr_auc": 0.91, "f1": 0.8, "confusion": {"ok": {"ok": 10}}},
    "baseline": {"baseline_pr_auc": 0.12, "baseline_f1": 0.0},
    "stability": {"pr_auc": {"mean": 0.9, "std": 0.02, "runs": 3}},
    "feature_importance": {"torque": 12.0, "speed": 4.0, "temp": 0.5},
    "rows": 240,
}
VERSION = {
    "model": "pump-fail",
    "version": 3,
    "format": "onnx",
    "artifact_uri": "file:///x",
    "sha256": "0123456789abcdef" * 4,
    "size": 2048,
    "signature": {"inputs": [{"name": "torque"}, {"name": "speed"}]},
    "params": {},
    "metrics": {"pr_auc": 0.91},
    "template": "failure",
    "source_dataset": "press-log@2",
    "report": REPORT,
    "description": "",
    "tags": {},
    "aliases": ["staging"],
    "created_by": "admin",
    "created_at": NOW,
}
MODEL = {
    "name": "pump-fail",
    "description": "",
    "tags": {},
    "aliases": {},
    "latest_version": 3,
    "created_at": NOW,
    "updated_at": NOW,
}


class TrainingServer:
    """Answers the submission with a queued job, then each poll with the next of ``polls``."""

    def __init__(self, *polls: dict[str, Any]) -> None:
        self.polls = list(polls) or [SUCCEEDED]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = (request.method, request.url.path)
        if route == ("POST", "/v1/models/pump-fail/train"):
            return httpx.Response(202, json=JOB)
        if route == ("POST", "/v1/models/pump-fail/retrain"):
            return httpx.Response(202, json={**JOB, "kind": "retrain"})
        if route == ("GET", "/v1/jobs/job-1"):
            return httpx.Response(
                200, json=self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
            )
        if route == ("POST", "/v1/jobs/job-1/cancel"):
            return httpx.Response(200, json={**RUNNING, "status": "cancelled"})
        if route == ("GET", "/v1/jobs"):
            return httpx.Response(200, json={"items": [RUNNING, SUCCEEDED], "total": 2})
        if route == ("GET", "/v1/models/pump-fail"):
            return httpx.Response(200, json=MODEL)
        if route == ("GET", "/v1/models/pump-fail/versions/3"):
            return httpx.Response(200, json=VERSION)
        return httpx.Response(404, json={"code": "not_found", "detail": "no route", "status": 404})

    def client(self, url: str, api_key: str | None) -> Client:
        return Client(url, api_key, transport=httpx.MockTransport(self))

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]


@pytest.fixture
def server() -> TrainingServer:
    return TrainingServer(RUNNING, RUNNING, SUCCEEDED)


@pytest.fixture
def run(server: TrainingServer) -> Callable[..., Any]:
    runner = CliRunner()
    cli = create_cli()

    def invoke(*args: str) -> Any:
        env = {"MAAS_URL": URL, "MAAS_API_KEY": KEY, "COLUMNS": "200"}
        return runner.invoke(cli, list(args), env=env, obj=CliState(client_factory=server.client))

    return invoke


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


TRAIN = ("train", "pump-fail", "--template", "failure", "--dataset", "press-log")


def test_train_submits_follows_the_job_and_shows_the_report(run, server):
    result = ok(
        run(
            *TRAIN,
            "--target",
            "failed_soon",
            "--dataset-version",
            "2",
            "--feature",
            "torque",
            "--feature",
            "speed",
            "--param",
            "rounds=200",
            "--param",
            "learning_rate=0.05",
            "--param",
            "objective=binary",
            "--param",
            "horizons=[10, 20]",
            "--alias",
            "staging",
            "--stability-runs",
            "5",
            "--poll-seconds",
            "0",
        )
    )
    (submitted,) = server.sent("POST", "/v1/models/pump-fail/train")
    assert orjson.loads(submitted.content) == {
        "template": "failure",
        "dataset": "press-log",
        "dataset_version": 2,
        "target": "failed_soon",
        "features": ["torque", "speed"],
        "params": {
            "rounds": 200,
            "learning_rate": 0.05,
            "objective": "binary",
            "horizons": [10, 20],
        },
        "stability_runs": 5,
        "alias": "staging",
        "description": "",
    }
    assert len(server.sent("GET", "/v1/jobs/job-1")) == 3
    out = result.stdout
    assert "Trained pump-fail version 3, staging -> 3." in out
    assert "pr_auc" in out
    assert "0.91" in out
    assert "0.12" in out
    assert "0.9 ± 0.02" in out
    assert "torque" in out
    assert "72.7%" in out
    assert "confusion" not in out  # not a number: only in --json


def test_train_json_prints_the_new_version(run):
    version = orjson.loads(ok(run(*TRAIN, "--poll-seconds", "0", "--json")).stdout)
    assert (version["version"], version["report"]["held_out"]["pr_auc"]) == (3, 0.91)


def test_train_no_wait_only_submits(run, server):
    result = ok(run(*TRAIN, "--no-wait"))
    assert "Submitted job job-1" in result.stdout
    assert "maas jobs wait job-1" in result.stdout
    assert server.sent("GET", "/v1/jobs/job-1") == []


def test_a_failed_training_prints_the_error_and_exits_1(run):
    server = TrainingServer(RUNNING, FAILED)
    runner = CliRunner()
    result = runner.invoke(
        create_cli(),
        [*TRAIN, "--poll-seconds", "0"],
        env={"MAAS_URL": URL, "MAAS_API_KEY": KEY},
        obj=CliState(client_factory=server.client),
    )
    assert result.exit_code == 1
    assert "error: Column 'rul' is constant: nothing to learn." in result.stderr
    assert "fitting failure on 24 rows" in result.stderr
    assert server.sent("GET", "/v1/models/pump-fail/versions/3") == []


def test_train_refuses_a_param_without_a_value(run, server):
    result = run(*TRAIN, "--param", "rounds")
    assert result.exit_code == 1
    assert "error: --param must be KEY=VALUE" in result.stderr
    assert server.requests == []


def test_jobs_list_show_cancel_and_wait(run, server):
    listed = ok(run("jobs", "list", "--status", "running"))
    assert "stability run 2 of 3" in listed.stdout
    (request,) = server.sent("GET", "/v1/jobs")
    assert request.url.params["status"] == "running"
    assert "stability run 2 of 3" in ok(run("jobs", "show", "job-1")).stdout
    assert "Job job-1 is cancelled." in ok(run("jobs", "cancel", "job-1")).stdout
    waited = orjson.loads(ok(run("jobs", "wait", "job-1", "--poll-seconds", "0", "--json")).stdout)
    assert waited["status"] == "succeeded"


def test_jobs_wait_exits_1_when_the_job_failed():
    server = TrainingServer(FAILED)
    result = CliRunner().invoke(
        create_cli(),
        ["jobs", "wait", "job-1", "--poll-seconds", "0"],
        env={"MAAS_URL": URL, "MAAS_API_KEY": KEY, "COLUMNS": "200"},
        obj=CliState(client_factory=server.client),
    )
    assert result.exit_code == 1
    assert "failed" in result.stdout
    assert "error: Column 'rul' is constant" in result.stderr


def test_models_report_shows_the_latest_or_a_given_version(run, server):
    out = ok(run("models", "report", "pump-fail")).stdout
    assert "pump-fail version 3 (failure on press-log@2, 240 rows)" in out
    assert "baseline" in out
    assert "speed" in out
    assert server.sent("GET", "/v1/models/pump-fail")  # the latest version, looked up
    report = orjson.loads(
        ok(run("models", "report", "pump-fail", "--version", "3", "--json")).stdout
    )
    assert report == REPORT


COMPARISON = {
    "metric": "pr_auc",
    "direction": "higher",
    "champion": {"version": 2, "metrics": {"pr_auc": 0.85, "f1": 0.7}},
    "challenger": {"metrics": {"pr_auc": 0.91, "f1": 0.8}},
    "improvement": 0.06,
    "promoted": True,
    "reason": "challenger pr_auc 0.91 vs champion 0.85 (higher is better): improved by 0.06",
    "holdout": {"kind": "rows", "rows": 120, "fit_rows": 480, "new_data_only": True},
}


def test_retrain_submits_follows_and_shows_the_comparison(run, server, monkeypatch):
    retrained = {
        **SUCCEEDED,
        "kind": "retrain",
        "result": {
            "model": "pump-fail",
            "version": 3,
            "champion_version": 2,
            "promoted": True,
            "alias": "production",
        },
    }
    server.polls = [RUNNING, retrained]
    monkeypatch.setitem(VERSION, "report", {**REPORT, "comparison": COMPARISON})
    result = ok(
        run(
            "retrain",
            "pump-fail",
            "--metric",
            "pr_auc",
            "--min-improvement",
            "0.01",
            "--poll-seconds",
            "0",
        )
    )
    (submitted,) = server.sent("POST", "/v1/models/pump-fail/retrain")
    body = orjson.loads(submitted.content)
    assert body["metric"] == "pr_auc"
    assert body["alias"] == "production"
    assert body["min_improvement"] == 0.01
    out = result.stdout
    assert "challenger version 3, promoted: production -> 3" in out
    assert "champion (v2)" in out
    assert "0.85" in out
    assert "120 rows" in out
    assert "Promoted: challenger pr_auc 0.91" in out
