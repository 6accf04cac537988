"""The SDK over ``httpx.MockTransport``: request shapes, parsing, and the error round trip."""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest

import maas.errors as errors
from maas import AsyncClient, Client
from maas.client import USE_CLIENT_DEFAULT
from maas.domain.roles import Role
from maas.domain.signature import Signature
from maas.schemas.datasets import (
    DatasetPage,
    DatasetPreview,
    DatasetRead,
    DatasetVersionPage,
    DatasetVersionRead,
)
from maas.schemas.jobs import JobPage, JobRead, JobStatus
from maas.schemas.keys import KeyCreated, KeyRead
from maas.schemas.models import (
    AliasEventRead,
    AliasRead,
    ModelPage,
    ModelRead,
    VersionPage,
    VersionRead,
)
from maas.schemas.monitoring import (
    DriftRead,
    FeedbackResult,
    LiveMetricsRead,
    MonitoringRead,
    PredictionLogPage,
    TrafficRead,
)
from maas.schemas.predict import PredictResponse
from maas.schemas.system import ServerInfo
from maas.schemas.tenants import TenantCreated

URL = "http://maas.test"
KEY = "maas_secret-key"
NOW = "2024-05-01T10:00:00Z"
SIGNATURE = {"inputs": [{"name": "torque"}, {"name": "speed"}], "task": "regression"}

MODEL = {
    "name": "pump-rul",
    "description": "remaining life",
    "tags": {"line": "3"},
    "aliases": {"production": 2},
    "latest_version": 2,
    "created_at": NOW,
    "updated_at": NOW,
}
VERSION = {
    "model": "pump-rul",
    "version": 2,
    "format": "onnx",
    "artifact_uri": "file:///data/pump-rul/2",
    "sha256": "ab" * 32,
    "size": 1234,
    "signature": SIGNATURE,
    "params": {},
    "metrics": {"rmse": 1.5},
    "template": None,
    "source_dataset": None,
    "description": "",
    "tags": {},
    "aliases": ["production"],
    "created_by": "admin",
    "created_at": NOW,
}
ALIAS = {
    "model": "pump-rul",
    "alias": "production",
    "version": 2,
    "previous_version": 1,
    "updated_at": NOW,
}
EVENT = {"alias": "production", "from_version": 1, "to_version": 2, "actor": "a", "at": NOW}
TENANT = {"name": "plant-2", "created_at": "2026-11-23T10:00:00Z"}

KEY_READ = {
    "id": "k1",
    "name": "ci",
    "role": "consumer",
    "tenant": "default",
    "prefix": "maas_abc",
    "created_at": NOW,
    "expires_at": None,
    "revoked_at": None,
    "last_used_at": None,
}
INFO = {
    "name": "maas",
    "version": "0.1.0",
    "formats": ["onnx"],
    "templates": [],
    "tenant": "default",
    "role": "admin",
}
PREDICTION = {"model": "pump-rul", "version": 2, "predictions": [1.0, 2.0]}
ARROW = "application/vnd.apache.arrow.stream"
ARROW_INPUT = pa.table({"torque": [41.2, 40.8], "speed": [1500, 1510]})


def _arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


DATASET = {
    "name": "press-log",
    "description": "",
    "latest_version": 2,
    "rows": 10,
    "created_at": NOW,
    "updated_at": NOW,
}
DATASET_VERSION = {
    "dataset": "press-log",
    "version": 2,
    "artifact_uri": "file:///data/t/datasets/press-log/a.parquet",
    "sha256": "cd" * 32,
    "size": 2048,
    "rows": 10,
    "column_count": 2,
    "columns": [
        {"name": "unit", "dtype": "string", "arrow_type": "string", "nullable": False},
        {"name": "torque", "dtype": "float64", "arrow_type": "double", "nullable": True},
    ],
    "profile": {
        "rows": 10,
        "columns": [
            {
                "name": "torque",
                "dtype": "float64",
                "missing": 6,
                "missing_fraction": 0.6,
                "distinct": 4,
                "distinct_exact": True,
                "min": 1.0,
                "max": 4.0,
                "mean": 2.5,
                "std": 1.2,
            }
        ],
        "unit_column": "unit",
        "time_column": None,
    },
    "quality": [
        {
            "check": "mostly_missing",
            "severity": "warning",
            "column": "torque",
            "message": "Column 'torque' is empty in 6 of 10 rows (60 %).",
            "details": {"missing": 6},
        }
    ],
    "source": "append",
    "parent_version": 1,
    "created_by": "admin",
    "created_at": NOW,
}
PREVIEW = {
    "dataset": "press-log",
    "version": 2,
    "columns": ["unit", "torque"],
    "rows": [{"unit": "p1", "torque": 1.5}],
    "total_rows": 10,
}
CSV_BYTES = b"unit,torque\np1,1.5\n"
JOB = {
    "id": "job-1",
    "kind": "train",
    "status": "queued",
    "progress": 0.0,
    "message": "",
    "request": {"model": "pump-rul", "template": "rul"},
    "result": None,
    "log": "",
    "created_by": "admin",
    "created_at": NOW,
    "started_at": None,
    "finished_at": None,
}

TRAFFIC = {
    "model": "pump-rul",
    "points": [{"t": NOW, "requests": 12, "errors": 1, "p50_ms": 2.4, "p99_ms": 9.9}],
}
LOGGED = {
    "prediction_id": "19ab-0",
    "model": "pump-rul",
    "version": 2,
    "at": NOW,
    "latency_ms": 3.0,
    "request_id": "req-1",
    "inputs": {"torque": 41.2, "speed": 1500},
    "output": {"prediction": 120.5},
}
LIVE_METRICS = {
    "model": "pump-rul",
    "bucket": "day",
    "since": NOW,
    "versions": [
        {
            "version": 2,
            "task": "regression",
            "overall": {"count": 3, "rmse": 4.1},
            "points": [{"t": NOW, "metrics": {"count": 3, "rmse": 4.1}}],
        }
    ],
}
DRIFT = {
    "model": "pump-rul",
    "version": 2,
    "state": "alert",
    "checked_at": NOW,
    "window": {"rows": 400, "since": NOW},
    "thresholds": {"psi_warning": 0.1, "psi_alert": 0.25},
    "reference": "training_profile",
    "message": None,
    "features": [
        {"name": "torque", "kind": "numeric", "psi": 1.9, "ks": 0.6, "state": "alert", "rows": 400}
    ],
    "prediction": {"psi": 0.4, "state": "alert", "rows": 400, "reference": "training"},
    "history": [
        {"t": NOW, "version": 2, "state": "alert", "max_psi": 1.9, "features": {"torque": 1.9}}
    ],
    "retraining": {"job": "job-2"},
}
MONITORING = {
    "model": "pump-rul",
    "psi_warning": 0.1,
    "psi_alert": 0.25,
    "sample_rate": 1.0,
    "window_hours": 24.0,
    "min_rows": 100,
    "webhook_url": "https://mes.example/hooks/maas",
    "webhook_secret": "whsec_abc",
    "webhook_secret_set": True,
    "retrain_on_alert": {"enabled": True, "metric": "rmse", "alias": "production"},
    "state": "ok",
    "recent_deliveries": [],
}


class FakeServer:
    """A transport handler that records requests and answers each with one canned response."""

    def __init__(self, status: int = 200, body: Any = None, **kwargs: Any) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = body
        self.kwargs = kwargs

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.body is None:
            return httpx.Response(self.status, **self.kwargs)
        if isinstance(self.body, bytes):
            return httpx.Response(self.status, content=self.body, **self.kwargs)
        return httpx.Response(self.status, json=self.body, **self.kwargs)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def client(self, **kwargs: Any) -> Client:
        return Client(URL, KEY, transport=httpx.MockTransport(self), **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncClient:
        return AsyncClient(URL, KEY, transport=httpx.MockTransport(self), **kwargs)


def problem(cls: type[errors.MaasError], status: int = 400, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:maas:problem:{cls.code}",
        "title": cls.title,
        "status": status,
        "detail": f"{cls.__name__} happened",
        "instance": "req-1",
        "code": cls.code,
        **extra,
    }


# One row per SDK method: the call, the request it must send, and the answer's type.
CASES: list[tuple[str, Callable[[Any], Any], str, str, dict[str, str], Any, int, Any, type]] = [
    ("info", lambda c: c.info(), "GET", "/v1/info", {}, None, 200, INFO, ServerInfo),
    (
        "list_models",
        lambda c: c.list_models(q="pump", offset=10, limit=5),
        "GET",
        "/v1/models",
        {"q": "pump", "offset": "10", "limit": "5"},
        None,
        200,
        {"items": [MODEL], "total": 11, "offset": 10, "limit": 5},
        ModelPage,
    ),
    (
        "get_model",
        lambda c: c.get_model("pump-rul"),
        "GET",
        "/v1/models/pump-rul",
        {},
        None,
        200,
        MODEL,
        ModelRead,
    ),
    (
        "create_model",
        lambda c: c.create_model("pump-rul", description="d", tags={"a": "b"}),
        "POST",
        "/v1/models",
        {},
        {"name": "pump-rul", "description": "d", "tags": {"a": "b"}},
        201,
        MODEL,
        ModelRead,
    ),
    (
        "update_model",
        lambda c: c.update_model("pump-rul", description="new"),
        "PATCH",
        "/v1/models/pump-rul",
        {},
        {"description": "new"},
        200,
        MODEL,
        ModelRead,
    ),
    (
        "delete_model",
        lambda c: c.delete_model("pump-rul"),
        "DELETE",
        "/v1/models/pump-rul",
        {},
        None,
        204,
        None,
        type(None),
    ),
    (
        "list_versions",
        lambda c: c.list_versions("pump-rul"),
        "GET",
        "/v1/models/pump-rul/versions",
        {},
        None,
        200,
        {"items": [VERSION], "total": 1},
        VersionPage,
    ),
    (
        "get_version",
        lambda c: c.get_version("pump-rul", 2),
        "GET",
        "/v1/models/pump-rul/versions/2",
        {},
        None,
        200,
        VERSION,
        VersionRead,
    ),
    (
        "update_version",
        lambda c: c.update_version("pump-rul", 2, tags={"ok": "yes"}),
        "PATCH",
        "/v1/models/pump-rul/versions/2",
        {},
        {"tags": {"ok": "yes"}},
        200,
        VERSION,
        VersionRead,
    ),
    (
        "list_aliases",
        lambda c: c.list_aliases("pump-rul"),
        "GET",
        "/v1/models/pump-rul/aliases",
        {},
        None,
        200,
        [ALIAS],
        list,
    ),
    (
        "set_alias",
        lambda c: c.set_alias("pump-rul", "production", 2),
        "PUT",
        "/v1/models/pump-rul/aliases/production",
        {},
        {"version": 2},
        200,
        ALIAS,
        AliasRead,
    ),
    (
        "delete_alias",
        lambda c: c.delete_alias("pump-rul", "staging"),
        "DELETE",
        "/v1/models/pump-rul/aliases/staging",
        {},
        None,
        204,
        None,
        type(None),
    ),
    (
        "rollback_alias",
        lambda c: c.rollback_alias("pump-rul", "production"),
        "POST",
        "/v1/models/pump-rul/aliases/production/rollback",
        {},
        None,
        200,
        ALIAS,
        AliasRead,
    ),
    (
        "alias_history",
        lambda c: c.alias_history("pump-rul", "production"),
        "GET",
        "/v1/models/pump-rul/aliases/production/history",
        {},
        None,
        200,
        [EVENT],
        list,
    ),
    (
        "predict",
        lambda c: c.predict("pump-rul@staging", rows=[{"torque": 1.5, "speed": None}]),
        "POST",
        "/v1/models/pump-rul@staging/predict",
        {},
        {"explain": False, "rows": [{"torque": 1.5, "speed": None}]},
        200,
        PREDICTION,
        PredictResponse,
    ),
    (
        "predict_columns",
        lambda c: c.predict("pump-rul@3", columns={"torque": [1, 2]}, explain=True),
        "POST",
        "/v1/models/pump-rul@3/predict",
        {},
        {"explain": True, "columns": {"torque": [1, 2]}},
        200,
        PREDICTION,
        PredictResponse,
    ),
    (
        "predict_table",
        lambda c: c.predict_table("pump-rul", ARROW_INPUT, explain=True),
        "POST",
        "/v1/models/pump-rul/predict",
        {"explain": "true"},
        (ARROW, _arrow(ARROW_INPUT)),
        200,
        PREDICTION,
        PredictResponse,
    ),
    (
        "predict_arrow",
        lambda c: c.predict_arrow("pump-rul@3", ARROW_INPUT),
        "POST",
        "/v1/models/pump-rul@3/predict",
        {},
        (ARROW, _arrow(ARROW_INPUT)),
        200,
        _arrow(pa.table({"prediction": [1.0, 2.0]})),
        pa.Table,
    ),
    ("list_keys", lambda c: c.list_keys(), "GET", "/v1/keys", {}, None, 200, [KEY_READ], list),
    (
        "create_key",
        lambda c: c.create_key("ci", role="developer", expires_at=None),
        "POST",
        "/v1/keys",
        {},
        {"name": "ci", "role": "developer", "expires_at": None},
        201,
        {**KEY_READ, "key": "maas_new"},
        KeyCreated,
    ),
    (
        "revoke_key",
        lambda c: c.revoke_key("k1"),
        "DELETE",
        "/v1/keys/k1",
        {},
        None,
        204,
        None,
        type(None),
    ),
    (
        "list_datasets",
        lambda c: c.list_datasets(q="press", limit=5),
        "GET",
        "/v1/datasets",
        {"q": "press", "offset": "0", "limit": "5"},
        None,
        200,
        {"items": [DATASET], "total": 1, "offset": 0, "limit": 5},
        DatasetPage,
    ),
    (
        "get_dataset",
        lambda c: c.get_dataset("press-log"),
        "GET",
        "/v1/datasets/press-log",
        {},
        None,
        200,
        DATASET,
        DatasetRead,
    ),
    (
        "delete_dataset",
        lambda c: c.delete_dataset("press-log"),
        "DELETE",
        "/v1/datasets/press-log",
        {},
        None,
        204,
        None,
        type(None),
    ),
    (
        "list_dataset_versions",
        lambda c: c.list_dataset_versions("press-log"),
        "GET",
        "/v1/datasets/press-log/versions",
        {},
        None,
        200,
        {"items": [DATASET_VERSION], "total": 1},
        DatasetVersionPage,
    ),
    (
        "get_dataset_version",
        lambda c: c.get_dataset_version("press-log", 2),
        "GET",
        "/v1/datasets/press-log/versions/2",
        {},
        None,
        200,
        DATASET_VERSION,
        DatasetVersionRead,
    ),
    (
        "upload_dataset",
        lambda c: c.upload_dataset("press-log", CSV_BYTES, unit_column="unit", description="d"),
        "POST",
        "/v1/datasets/press-log/versions",
        {"unit_column": "unit", "description": "d"},
        CSV_BYTES,
        201,
        DATASET_VERSION,
        DatasetVersionRead,
    ),
    (
        "append_dataset",
        lambda c: c.append_dataset("press-log", CSV_BYTES, format="csv", time_column="t"),
        "POST",
        "/v1/datasets/press-log/append",
        {"time_column": "t"},
        CSV_BYTES,
        201,
        DATASET_VERSION,
        DatasetVersionRead,
    ),
    (
        "preview_dataset",
        lambda c: c.preview_dataset("press-log", 2, limit=3),
        "GET",
        "/v1/datasets/press-log/versions/2/data",
        {"limit": "3"},
        None,
        200,
        PREVIEW,
        DatasetPreview,
    ),
    (
        "train",
        lambda c: c.train(
            "pump-rul",
            template="rul",
            dataset="press-log",
            target="rul",
            features=("torque", "speed"),
            params={"rounds": 50},
            alias="staging",
        ),
        "POST",
        "/v1/models/pump-rul/train",
        {},
        {
            "template": "rul",
            "dataset": "press-log",
            "target": "rul",
            "features": ["torque", "speed"],
            "params": {"rounds": 50},
            "stability_runs": 3,
            "alias": "staging",
            "description": "",
        },
        202,
        JOB,
        JobRead,
    ),
    ("get_job", lambda c: c.get_job("job-1"), "GET", "/v1/jobs/job-1", {}, None, 200, JOB, JobRead),
    (
        "list_jobs",
        lambda c: c.list_jobs(status="running", offset=5, limit=10),
        "GET",
        "/v1/jobs",
        {"status": "running", "offset": "5", "limit": "10"},
        None,
        200,
        {"items": [JOB], "total": 6},
        JobPage,
    ),
    (
        "cancel_job",
        lambda c: c.cancel_job("job-1"),
        "POST",
        "/v1/jobs/job-1/cancel",
        {},
        None,
        200,
        {**JOB, "status": "cancelled"},
        JobRead,
    ),
    (
        "retrain",
        lambda c: c.retrain("pump-rul", metric="rmse", min_improvement=0.5),
        "POST",
        "/v1/models/pump-rul/retrain",
        {},
        {
            "metric": "rmse",
            "alias": "production",
            "min_improvement": 0.5,
            "holdout_fraction": 0.2,
            "seed": 0,
            "stability_runs": 1,
            "description": "",
        },
        202,
        {**JOB, "kind": "retrain"},
        JobRead,
    ),
    (
        "batch_predict",
        lambda c: c.batch_predict("pump-rul@staging", "press-shop", dataset_version=2),
        "POST",
        "/v1/models/pump-rul@staging/batch",
        {},
        {"dataset": "press-shop", "dataset_version": 2},
        202,
        {**JOB, "kind": "batch_predict"},
        JobRead,
    ),
    (
        "job_results",
        lambda c: c.job_results("job-1"),
        "GET",
        "/v1/jobs/job-1/results",
        {},
        None,
        200,
        None,
        bytes,
    ),
    (
        "wait_for_job",
        lambda c: c.wait_for_job("job-1", poll_seconds=0),
        "GET",
        "/v1/jobs/job-1",
        {},
        None,
        200,
        {**JOB, "status": "succeeded", "progress": 1.0, "result": {"version": 3}},
        JobRead,
    ),
    (
        "list_tenants",
        lambda c: c.list_tenants(),
        "GET",
        "/v1/tenants",
        {},
        None,
        200,
        [TENANT],
        list,
    ),
    (
        "create_tenant",
        lambda c: c.create_tenant("plant-2"),
        "POST",
        "/v1/tenants",
        {},
        {"name": "plant-2"},
        201,
        {**TENANT, "admin_key": "maas_new"},
        TenantCreated,
    ),
    (
        "traffic",
        lambda c: c.traffic("pump-rul", minutes=5),
        "GET",
        "/v1/models/pump-rul/traffic",
        {"minutes": "5"},
        None,
        200,
        TRAFFIC,
        TrafficRead,
    ),
    (
        "predictions_log",
        lambda c: c.predictions_log("pump-rul@production", limit=10),
        "GET",
        "/v1/models/pump-rul@production/predictions",
        {"limit": "10"},
        None,
        200,
        {"model": "pump-rul", "items": [LOGGED]},
        PredictionLogPage,
    ),
    (
        "predictions_log_parquet",
        lambda c: c.predictions_log("pump-rul", limit=5, format="parquet"),
        "GET",
        "/v1/models/pump-rul/predictions",
        {"limit": "5", "format": "parquet"},
        None,
        200,
        b"PAR1...PAR1",
        bytes,
    ),
    (
        "send_feedback",
        lambda c: c.send_feedback("19ab-0", 118.0),
        "POST",
        "/v1/feedback",
        {},
        {"prediction_id": "19ab-0", "actual": 118.0},
        200,
        {"accepted": 1},
        FeedbackResult,
    ),
    (
        "send_feedback_items",
        lambda c: c.send_feedback(
            items=[("19ab-0", "1"), {"prediction_id": "19ab-1", "actual": 0}]
        ),
        "POST",
        "/v1/feedback",
        {},
        {
            "items": [
                {"prediction_id": "19ab-0", "actual": "1"},
                {"prediction_id": "19ab-1", "actual": 0},
            ]
        },
        200,
        {"accepted": 2},
        FeedbackResult,
    ),
    (
        "live_metrics",
        lambda c: c.live_metrics("pump-rul", version=2, bucket="day", days=3),
        "GET",
        "/v1/models/pump-rul/live-metrics",
        {"bucket": "day", "version": "2", "days": "3"},
        None,
        200,
        LIVE_METRICS,
        LiveMetricsRead,
    ),
    (
        "check_drift",
        lambda c: c.check_drift("pump-rul", version=2),
        "POST",
        "/v1/models/pump-rul/drift/check",
        {"version": "2"},
        None,
        200,
        DRIFT,
        DriftRead,
    ),
    (
        "get_drift",
        lambda c: c.get_drift("pump-rul"),
        "GET",
        "/v1/models/pump-rul/drift",
        {},
        None,
        200,
        DRIFT,
        DriftRead,
    ),
    (
        "get_monitoring",
        lambda c: c.get_monitoring("pump-rul"),
        "GET",
        "/v1/models/pump-rul/monitoring",
        {},
        None,
        200,
        {**MONITORING, "webhook_secret": None},
        MonitoringRead,
    ),
    (
        "set_monitoring",
        lambda c: c.set_monitoring(
            "pump-rul",
            psi_alert=0.3,
            sample_rate=None,
            webhook_url="https://mes.example/hooks/maas",
            retrain_on_alert={"enabled": True, "metric": "rmse"},
        ),
        "PUT",
        "/v1/models/pump-rul/monitoring",
        {},
        {
            "psi_alert": 0.3,
            "sample_rate": None,
            "webhook_url": "https://mes.example/hooks/maas",
            "retrain_on_alert": {"enabled": True, "metric": "rmse"},
        },
        200,
        MONITORING,
        MonitoringRead,
    ),
]
CASE_IDS = [case[0] for case in CASES]


def _check_request(
    request: httpx.Request, method: str, path: str, params: dict[str, str], body: Any
) -> None:
    assert request.method == method
    assert request.url.path == path
    assert dict(request.url.params) == params
    assert request.headers["authorization"] == f"Bearer {KEY}"
    if body is None:
        assert request.content == b""
    elif isinstance(body, bytes):  # a raw upload: the file itself is the body
        assert request.headers["content-type"] == "text/csv"
        assert request.content == body
    elif isinstance(body, tuple):  # a raw body of another media type: (type, bytes)
        assert request.headers["content-type"] == body[0]
        assert request.content == body[1]
    else:
        assert request.headers["content-type"] == "application/json"
        assert orjson.loads(request.content) == body


@pytest.mark.parametrize(
    ("name", "call", "method", "path", "params", "body", "status", "answer", "result_type"),
    CASES,
    ids=CASE_IDS,
)
def test_client_sends_and_parses_each_operation(
    name, call, method, path, params, body, status, answer, result_type
):
    server = FakeServer(status, answer)
    with server.client() as client:
        result = call(client)
    _check_request(server.last, method, path, params, body)
    assert isinstance(result, result_type)


@pytest.mark.parametrize(
    ("name", "call", "method", "path", "params", "body", "status", "answer", "result_type"),
    CASES,
    ids=CASE_IDS,
)
def test_async_client_sends_and_parses_each_operation(
    name, call, method, path, params, body, status, answer, result_type
):
    server = FakeServer(status, answer)

    async def run() -> Any:
        async with server.async_client() as client:
            return await call(client)

    result = asyncio.run(run())
    _check_request(server.last, method, path, params, body)
    assert isinstance(result, result_type)


def test_client_every_public_method_is_tested():
    public = {n for n, _ in inspect.getmembers(Client, inspect.isfunction) if not n.startswith("_")}
    tested = {case[0] for case in CASES} | {"upload_onnx", "close", "predict"}
    assert public - {"close"} <= tested


def test_async_client_has_the_same_methods_as_client():
    def methods(cls: type) -> dict[str, list[str]]:
        return {
            n: list(inspect.signature(f).parameters)
            for n, f in inspect.getmembers(cls, inspect.isfunction)
            if not n.startswith("_") and n not in {"close", "aclose"}
        }

    assert methods(AsyncClient) == methods(Client)
    for name in methods(Client):
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


def test_client_parses_list_answers_into_schema_items():
    server = FakeServer(200, [ALIAS, {**ALIAS, "alias": "staging"}])
    with server.client() as client:
        aliases = client.list_aliases("pump-rul")
    assert [a.alias for a in aliases] == ["production", "staging"]
    assert all(isinstance(a, AliasRead) for a in aliases)
    server.body = [EVENT]
    with server.client() as client:
        assert isinstance(client.alias_history("pump-rul", "production")[0], AliasEventRead)
    server.body = [KEY_READ]
    with server.client() as client:
        assert client.list_keys()[0].role is Role.CONSUMER
        assert isinstance(client.list_keys()[0], KeyRead)


def test_client_without_key_sends_no_authorization_header():
    server = FakeServer(200, INFO)
    with Client(URL, transport=httpx.MockTransport(server)) as client:
        client.info()
    assert "authorization" not in server.last.headers
    assert server.last.headers["user-agent"].startswith("maas-python/")


def test_client_joins_a_base_url_with_a_prefix():
    server = FakeServer(200, INFO)
    with Client("http://maas.test/api/", KEY, transport=httpx.MockTransport(server)) as client:
        client.info()
    assert str(server.last.url) == "http://maas.test/api/v1/info"


def test_client_quotes_path_segments_but_keeps_the_at_sign():
    server = FakeServer(200, PREDICTION)
    with server.client() as client:
        client.predict("odd name@production", rows=[{"a": 1}])
    assert server.last.url.raw_path == b"/v1/models/odd%20name@production/predict"


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_client_rejects_names_that_would_change_the_path(name):
    server = FakeServer(200, MODEL)
    with server.client() as client, pytest.raises(errors.InvalidParameterError):
        client.get_model(name)
    assert server.requests == []


def test_client_rejects_a_url_without_scheme():
    with pytest.raises(errors.InvalidParameterError) as caught:
        Client("localhost:8000")
    assert caught.value.field == "url"


def test_client_rejects_transport_and_http_client_together():
    with httpx.Client() as http, pytest.raises(errors.InvalidParameterError):
        Client(URL, transport=httpx.MockTransport(FakeServer()), http_client=http)


def test_client_repr_hides_the_key():
    with FakeServer().client() as client:
        assert KEY not in repr(client)
        assert repr(client) == f"Client(url='{URL}')"


def test_client_uses_its_timeout_unless_the_call_gives_one():
    server = FakeServer(200, INFO)
    with server.client(timeout=3.0) as client:
        client.info()
        assert server.last.extensions["timeout"]["read"] == 3.0
        client.info(timeout=USE_CLIENT_DEFAULT)
        assert server.last.extensions["timeout"]["read"] == 3.0
        client.info(timeout=None)
        assert server.last.extensions["timeout"]["read"] is None
        client.info(timeout=httpx.Timeout(1.0, read=9.0))
        assert server.last.extensions["timeout"]["read"] == 9.0


def test_client_leaves_an_injected_http_client_open():
    server = FakeServer(200, INFO)
    with httpx.Client(transport=httpx.MockTransport(server)) as http:
        with Client(URL, KEY, http_client=http) as client:
            assert client.info().tenant == "default"
        assert not http.is_closed
    own = server.client()
    own.close()
    assert own._http.is_closed


# --- predict -------------------------------------------------------------------------------


def test_predict_table_sends_a_dataframe_as_an_arrow_stream():
    server = FakeServer(200, PREDICTION)
    with server.client() as client:
        client.predict_table("pump-rul", ARROW_INPUT.to_pandas())
    assert server.last.headers["content-type"] == ARROW
    with pa.ipc.open_stream(server.last.content) as reader:
        sent = reader.read_all()
    assert sent.to_pydict() == ARROW_INPUT.to_pydict()
    assert dict(server.last.url.params) == {}


def test_predict_arrow_asks_for_an_arrow_answer():
    server = FakeServer(200, _arrow(pa.table({"prediction": ["0"], "p_1": [0.25]})))
    with server.client() as client:
        answer = client.predict_arrow("pump-rul", pa.record_batch(ARROW_INPUT.to_batches()[0]))
    assert server.last.headers["accept"].startswith(ARROW)
    assert answer.to_pydict() == {"prediction": ["0"], "p_1": [0.25]}


def test_predict_table_refuses_what_arrow_cannot_hold():
    server = FakeServer(200, PREDICTION)
    with server.client() as client, pytest.raises(errors.InvalidInputError) as info:
        client.predict_table("pump-rul", [1, 2, 3])
    assert info.value.field == "table"
    assert server.requests == []


@pytest.mark.parametrize(
    ("rows", "columns", "received"),
    [(None, None, "neither"), ([{"a": 1}], {"a": [1]}, "both")],
)
def test_predict_needs_exactly_one_of_rows_and_columns(rows, columns, received):
    server = FakeServer(200, PREDICTION)
    with server.client() as client, pytest.raises(errors.InvalidInputError) as caught:
        client.predict("pump-rul", rows=rows, columns=columns)
    assert caught.value.received == received
    assert server.requests == []


def test_async_predict_needs_exactly_one_of_rows_and_columns():
    server = FakeServer(200, PREDICTION)

    async def run() -> None:
        async with server.async_client() as client:
            await client.predict("pump-rul")

    with pytest.raises(errors.InvalidInputError):
        asyncio.run(run())
    assert server.requests == []


def test_predict_sends_numpy_values_and_nan_as_null():
    np = pytest.importorskip("numpy")
    server = FakeServer(200, PREDICTION)
    with server.client() as client:
        client.predict("pump-rul", columns={"torque": np.array([1.5, np.nan]), "n": np.arange(2)})
        client.predict("pump-rul", rows=[{"torque": np.float32(2.5), "n": np.int64(3)}])
    assert orjson.loads(server.requests[0].content)["columns"] == {
        "torque": [1.5, None],
        "n": [0, 1],
    }
    assert orjson.loads(server.requests[1].content)["rows"] == [{"torque": 2.5, "n": 3}]


def test_predict_refuses_input_that_is_not_json():
    server = FakeServer(200, PREDICTION)
    with server.client() as client, pytest.raises(errors.InvalidInputError) as caught:
        client.predict("pump-rul", rows=[{"a": object()}])
    assert caught.value.field == "rows"
    assert server.requests == []


# --- upload --------------------------------------------------------------------------------


def _form_parts(request: httpx.Request) -> dict[str, bytes]:
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    parts = {}
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, body = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        parts[name] = body
    return parts


def test_upload_onnx_sends_a_multipart_form(tmp_path):
    server = FakeServer(201, VERSION)
    artifact = tmp_path / "pump.onnx"
    artifact.write_bytes(b"\x08\x07onnx-bytes")
    with server.client() as client:
        version = client.upload_onnx(
            "pump-rul", artifact, SIGNATURE, description="first", tags={"line": "3"}
        )
    assert version.version == 2
    request = server.last
    assert request.method == "POST"
    assert request.url.path == "/v1/models/pump-rul/versions"
    assert request.headers["content-type"].startswith("multipart/form-data")
    parts = _form_parts(request)
    assert parts["file"] == b"\x08\x07onnx-bytes"
    assert b'filename="pump.onnx"' in request.content
    assert Signature.model_validate_json(parts["signature"]) == Signature.model_validate(SIGNATURE)
    assert parts["description"] == b"first"
    assert orjson.loads(parts["tags"]) == {"line": "3"}


def test_upload_onnx_takes_bytes_a_str_path_and_a_signature_object(tmp_path):
    server = FakeServer(201, VERSION)
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"abc")
    with server.client() as client:
        client.upload_onnx("pump-rul", b"raw", Signature.model_validate(SIGNATURE))
        client.upload_onnx("pump-rul", str(artifact), SIGNATURE)
    first, second = (_form_parts(r) for r in server.requests)
    assert first["file"] == b"raw"
    assert "description" not in first
    assert "tags" not in first
    assert second["file"] == b"abc"


def test_async_upload_onnx_reads_the_file(tmp_path):
    server = FakeServer(201, VERSION)
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"async-bytes")

    async def run() -> VersionRead:
        async with server.async_client() as client:
            return await client.upload_onnx("pump-rul", artifact, SIGNATURE)

    assert asyncio.run(run()).model == "pump-rul"
    assert _form_parts(server.last)["file"] == b"async-bytes"


def test_upload_onnx_checks_the_signature_before_sending():
    server = FakeServer(201, VERSION)
    bad = {"inputs": [{"name": "torque", "dtype": "complex"}]}
    with server.client() as client, pytest.raises(errors.InvalidParameterError) as caught:
        client.upload_onnx("pump-rul", b"raw", bad)
    assert caught.value.field == "signature.inputs.0.dtype"
    assert caught.value.received == "complex"
    assert server.requests == []


def test_create_key_checks_the_role_before_sending():
    server = FakeServer(201, {**KEY_READ, "key": "k"})
    with server.client() as client, pytest.raises(errors.InvalidParameterError) as caught:
        client.create_key("ci", role="root")
    assert caught.value.field == "role"
    assert server.requests == []


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", errors.all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_round_trips_through_its_code(cls):
    body = problem(cls, 418, field="torque", expected="float64", received="string")
    server = FakeServer(418, body, headers={"content-type": "application/problem+json"})
    with server.client() as client, pytest.raises(errors.MaasError) as caught:
        client.get_model("pump-rul")
    error = caught.value
    assert type(error) is cls
    assert error.message == f"{cls.__name__} happened"
    assert (error.field, error.expected, error.received) == ("torque", "float64", "string")
    assert error.details["status"] == 418
    assert error.details["instance"] == "req-1"
    assert error.details["title"] == cls.title


@pytest.mark.parametrize("cls", errors.all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_round_trips_in_the_async_client(cls):
    server = FakeServer(400, problem(cls))

    async def run() -> None:
        async with server.async_client() as client:
            await client.info()

    with pytest.raises(errors.MaasError) as caught:
        asyncio.run(run())
    assert type(caught.value) is cls


def test_error_keeps_the_servers_details_and_field_errors():
    field_errors = [{"field": "rows[0].torque", "message": "missing"}]
    body = problem(
        errors.InvalidInputError, 422, details={"model": "pump-rul"}, errors=field_errors
    )
    with FakeServer(422, body).client() as client, pytest.raises(errors.InvalidInputError) as c:
        client.info()
    assert c.value.details["model"] == "pump-rul"
    assert c.value.details["errors"] == field_errors
    assert c.value.details["status"] == 422


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "route_not_found", errors.NotFoundError),
        (404, None, errors.NotFoundError),
        (409, None, errors.ConflictError),
        (401, None, errors.AuthenticationError),
        (403, None, errors.PermissionDeniedError),
        (413, None, errors.PayloadTooLargeError),
        (422, None, errors.InvalidInputError),
        (405, "method_not_allowed", errors.MaasError),
        (500, "internal_error", errors.MaasError),
    ],
)
def test_unknown_codes_fall_back_to_the_status_class(status, code, expected):
    body = {"title": "t", "status": status, "detail": "went wrong"}
    if code is not None:
        body["code"] = code
    with FakeServer(status, body).client() as client, pytest.raises(errors.MaasError) as caught:
        client.info()
    assert type(caught.value) is expected
    assert caught.value.message == "went wrong"
    if code is not None:
        assert caught.value.details["code"] == code


def test_rate_limited_error_takes_retry_after_from_the_header():
    server = FakeServer(429, problem(errors.RateLimitedError, 429), headers={"Retry-After": "7"})
    with server.client() as client, pytest.raises(errors.RateLimitedError) as caught:
        client.predict("pump-rul", rows=[{"a": 1}])
    assert caught.value.retry_after == 7.0


def test_rate_limited_error_reads_an_http_date_retry_after():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    server = FakeServer(429, problem(errors.RateLimitedError, 429), headers={"Retry-After": later})
    with server.client() as client, pytest.raises(errors.RateLimitedError) as caught:
        client.info()
    assert 25.0 <= caught.value.retry_after <= 31.0


def test_rate_limited_error_without_header_waits_a_second():
    with FakeServer(429, b"slow down").client() as client:
        with pytest.raises(errors.RateLimitedError) as caught:
            client.info()
    assert caught.value.retry_after == 1.0


def test_non_json_error_body_becomes_a_maas_error_with_the_status():
    server = FakeServer(502, b"<html>Bad Gateway</html>", headers={"content-type": "text/html"})
    with server.client() as client, pytest.raises(errors.MaasError) as caught:
        client.info()
    assert type(caught.value) is errors.MaasError
    assert caught.value.details == {"status": 502}
    assert "502" in caught.value.message
    assert "Bad Gateway" in caught.value.message


def test_empty_error_body_still_names_the_status():
    with FakeServer(503).client() as client, pytest.raises(errors.MaasError) as caught:
        client.info()
    assert caught.value.details == {"status": 503}
    assert caught.value.message == "The server answered 503 Service Unavailable."


def test_a_malformed_success_answer_is_a_maas_error():
    with FakeServer(200, {"name": "maas"}).client() as client:
        with pytest.raises(errors.MaasError) as caught:
            client.info()
    assert "not a valid ServerInfo" in caught.value.message
    assert caught.value.details["status"] == 200


def test_connection_errors_stay_httpx_errors():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with Client(URL, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(httpx.ConnectError):
            client.info()


# --- dataset uploads -----------------------------------------------------------------------


def test_upload_dataset_streams_a_file_with_its_format_from_the_suffix(tmp_path):
    path = tmp_path / "log.parquet"
    path.write_bytes(b"PAR1" + b"x" * 3_000_000 + b"PAR1")
    server = FakeServer(201, DATASET_VERSION)
    with server.client() as client:
        version = client.upload_dataset("press-log", path, description="big")
    assert isinstance(version, DatasetVersionRead)
    request = server.last
    assert request.headers["content-type"] == "application/vnd.apache.parquet"
    assert request.headers["content-length"] == str(3_000_008)
    assert request.content == path.read_bytes()
    assert dict(request.url.params) == {"description": "big"}


def test_async_upload_dataset_streams_a_path_and_a_file_object(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(CSV_BYTES * 100_000)
    server = FakeServer(201, DATASET_VERSION)

    async def run() -> None:
        async with server.async_client() as client:
            await client.upload_dataset("press-log", str(path))
            assert server.last.content == path.read_bytes()
            with path.open("rb") as f:
                await client.append_dataset("press-log", f)
            assert server.last.url.path == "/v1/datasets/press-log/append"
            assert server.last.headers["content-type"] == "text/csv"
            assert server.last.content == path.read_bytes()

    asyncio.run(run())


def test_upload_dataset_tells_parquet_bytes_and_refuses_unknown_formats(tmp_path):
    server = FakeServer(201, DATASET_VERSION)
    with server.client() as client:
        client.upload_dataset("press-log", b"PAR1....PAR1")
        assert server.last.headers["content-type"] == "application/vnd.apache.parquet"
        sheet = tmp_path / "log.xlsx"
        sheet.write_bytes(b"PK")
        with pytest.raises(errors.InvalidParameterError) as caught:
            client.upload_dataset("press-log", sheet)
        assert caught.value.field == "format"
        with pytest.raises(errors.InvalidParameterError):
            client.upload_dataset("press-log", CSV_BYTES, format="xml")
    assert len(server.requests) == 1


# --- training jobs ---------------------------------------------------------------------------


class JobSequence:
    """Answers ``GET /v1/jobs/job-1`` with each of ``states`` in turn, then the last again."""

    def __init__(self, *states: str) -> None:
        self.states = list(states)
        self.polls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("GET", "/v1/jobs/job-1")
        status = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        done = status == "succeeded"
        job = {**JOB, "status": status, "progress": 1.0 if done else 0.5, "message": status}
        return httpx.Response(200, json=job)


def test_wait_for_job_polls_until_the_job_ends_and_reports_each_poll():
    server = JobSequence("queued", "running", "succeeded")
    seen: list[JobStatus] = []
    with Client(URL, KEY, transport=httpx.MockTransport(server)) as client:
        job = client.wait_for_job(
            "job-1", poll_seconds=0, on_progress=lambda j: seen.append(j.status)
        )
    assert job.status is JobStatus.SUCCEEDED
    assert seen == [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED]
    assert server.polls == 3


def test_wait_for_job_returns_a_failed_job_rather_than_raising():
    server = JobSequence("running", "failed")
    with Client(URL, KEY, transport=httpx.MockTransport(server)) as client:
        assert client.wait_for_job("job-1", poll_seconds=0).status is JobStatus.FAILED


def test_async_wait_for_job_awaits_an_async_progress_callback():
    server = JobSequence("running", "running", "cancelled")
    seen: list[float] = []

    async def record(job: JobRead) -> None:
        seen.append(job.progress)

    async def run() -> JobRead:
        async with AsyncClient(URL, KEY, transport=httpx.MockTransport(server)) as client:
            return await client.wait_for_job("job-1", poll_seconds=0, on_progress=record)

    assert asyncio.run(run()).status is JobStatus.CANCELLED
    assert seen == [0.5, 0.5, 0.5]


def test_wait_for_job_gives_up_with_a_timeout_error():
    server = JobSequence("running")
    with Client(URL, KEY, transport=httpx.MockTransport(server)) as client:
        with pytest.raises(TimeoutError, match="job-1 did not finish within 0.05 seconds"):
            client.wait_for_job("job-1", poll_seconds=0.01, timeout_seconds=0.05)
    assert server.polls >= 2

    async def run() -> None:
        async with AsyncClient(URL, KEY, transport=httpx.MockTransport(server)) as client:
            await client.wait_for_job("job-1", poll_seconds=0, timeout_seconds=0)

    with pytest.raises(TimeoutError, match="status running"):
        asyncio.run(run())


def test_wait_for_job_refuses_a_negative_poll_interval():
    server = FakeServer(200, JOB)
    with server.client() as client, pytest.raises(errors.InvalidParameterError) as caught:
        client.wait_for_job("job-1", poll_seconds=-1)
    assert caught.value.field == "poll_seconds"
    assert server.requests == []


def test_train_and_list_jobs_check_their_arguments_before_sending():
    server = FakeServer(202, JOB)
    with server.client() as client:
        with pytest.raises(errors.InvalidParameterError) as caught:
            client.train("pump-rul", template="rul", dataset="d", stability_runs=0)
        assert caught.value.field == "stability_runs"
        with pytest.raises(errors.InvalidParameterError) as caught:
            client.list_jobs(status="sleeping")
        assert caught.value.field == "status"
    assert server.requests == []


def test_train_sends_only_the_fields_given():
    server = FakeServer(202, JOB)
    with server.client() as client:
        client.train("pump-rul", template="rul", dataset="press-log", dataset_version=2)
    assert orjson.loads(server.last.content) == {
        "template": "rul",
        "dataset": "press-log",
        "dataset_version": 2,
        "params": {},
        "stability_runs": 3,
        "description": "",
    }


@pytest.mark.parametrize(
    ("kwargs", "received"),
    [
        ({}, "neither"),
        ({"prediction_id": "19ab-0"}, "prediction_id"),
        ({"prediction_id": "19ab-0", "actual": "1", "items": {"19ab-1": "0"}}, None),
    ],
)
def test_send_feedback_needs_one_outcome_or_items(kwargs, received):
    server = FakeServer(200, {"accepted": 1})
    with server.client() as client, pytest.raises(errors.InvalidInputError) as caught:
        client.send_feedback(**kwargs)
    if received is not None:
        assert caught.value.received == received
    assert server.requests == []


def test_send_feedback_takes_a_mapping_and_numpy_values():
    np = pytest.importorskip("numpy")
    server = FakeServer(200, {"accepted": 2})
    with server.client() as client:
        result = client.send_feedback(items={"19ab-0": np.int64(1), "19ab-1": np.float64(0.5)})
    assert result.accepted == 2
    assert orjson.loads(server.last.content) == {
        "items": [
            {"prediction_id": "19ab-0", "actual": 1},
            {"prediction_id": "19ab-1", "actual": 0.5},
        ]
    }


def test_send_feedback_checks_the_items_before_sending():
    server = FakeServer(200, {"accepted": 1})
    with server.client() as client, pytest.raises(errors.InvalidParameterError) as caught:
        client.send_feedback(items=[("19ab-0", "1"), ("19ab-1", None)])
    assert caught.value.field == "items[1].actual"
    assert server.requests == []


def test_set_monitoring_sends_only_the_settings_given():
    server = FakeServer(200, MONITORING)
    with server.client() as client:
        client.set_monitoring("pump-rul", webhook_url=None, rotate_webhook_secret=False)
        assert orjson.loads(server.last.content) == {"webhook_url": None}
        client.set_monitoring("pump-rul", rotate_webhook_secret=True)
        assert orjson.loads(server.last.content) == {"rotate_webhook_secret": True}


def test_set_monitoring_checks_its_settings_before_sending():
    server = FakeServer(200, MONITORING)
    with server.client() as client:
        with pytest.raises(errors.InvalidParameterError) as caught:
            client.set_monitoring("pump-rul", sample_rate=1.5)
        assert caught.value.field == "sample_rate"
        with pytest.raises(errors.InvalidParameterError) as caught:
            client.set_monitoring("pump-rul", retrain_on_alert={"enabled": True, "metrc": "f1"})
        assert caught.value.field == "retrain_on_alert.metrc"
    assert server.requests == []


def test_predictions_log_asks_for_parquet_and_refuses_other_formats():
    server = FakeServer(200, b"PAR1")
    with server.client() as client:
        assert client.predictions_log("pump-rul", format="parquet") == b"PAR1"
        assert server.last.headers["accept"].startswith("application/vnd.apache.parquet")
        with pytest.raises(errors.InvalidParameterError) as caught:
            client.predictions_log("pump-rul", format="csv")  # type: ignore[call-overload]
    assert caught.value.field == "format"
    assert len(server.requests) == 1


def test_async_monitoring_methods_send_the_same_requests():
    server = FakeServer(200, DRIFT)

    async def run() -> Any:
        async with server.async_client() as client:
            return await client.check_drift("pump-rul")

    drift = asyncio.run(run())
    assert drift.state == "alert"
    assert drift.retraining == {"job": "job-2"}
    _check_request(server.last, "POST", "/v1/models/pump-rul/drift/check", {}, None)
