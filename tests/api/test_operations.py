"""Health, readiness, metrics, request ids and the OpenAPI page."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_predict import ROW
from tests.factories import failure_model, register


def test_health_needs_no_key(anon: TestClient) -> None:
    assert anon.get("/health/live").json() == {"status": "ok", "checks": {}}
    ready = anon.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    assert anon.get("/v2/health/live").json() == {"live": True}
    assert anon.get("/v2/health/ready").json() == {"ready": True}


def test_metrics_count_requests_predictions_and_loads(client: TestClient, app: FastAPI) -> None:
    register(app, "machine-failure", failure_model())
    for _ in range(3):
        client.post("/v1/models/machine-failure/predict", json={"rows": [ROW, ROW]})
    text = client.get("/metrics").text
    assert 'maas_predictions_total{model="machine-failure",version="1"} 3.0' in text
    assert 'maas_prediction_rows_total{model="machine-failure",version="1"} 6.0' in text
    assert 'maas_model_load_duration_seconds_count{model="machine-failure",version="1"} 1.0' in text
    assert 'route="/v1/models/{ref}/predict"' in text
    assert "maas_models_loaded 1.0" in text
    # three sequential requests: three model calls of one request each (no one to batch with)
    assert "maas_prediction_batches_total 3.0" in text
    assert "maas_prediction_batched_requests_total 3.0" in text


def test_every_response_has_a_request_id(client: TestClient) -> None:
    r = client.get("/v1/models/nope")
    assert len(r.headers["x-request-id"]) == 32
    assert r.json()["instance"] == r.headers["x-request-id"]
    r = client.get("/v1/models", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


def test_each_request_is_in_the_access_log(client: TestClient) -> None:
    """One line per request, through logging when something else reads it (here pytest's
    capture), through the batching handler's cheap path when it is the only reader."""
    import io
    import logging

    import orjson

    from maas.observability.logging import BatchingHandler, JsonFormatter

    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append  # type: ignore[method-assign]
    access = logging.getLogger("maas.access")
    access.addHandler(capture)
    access.setLevel(logging.INFO)
    try:
        client.get("/v1/models/nope", headers={"X-Request-ID": "rid-404"})
    finally:
        access.removeHandler(capture)
        access.setLevel(logging.NOTSET)
    mine = [r for r in records if getattr(r, "path", None) == "/v1/models/nope"]
    assert len(mine) == 1
    assert mine[0].getMessage() == "GET /v1/models/nope 404"
    assert mine[0].status == 404  # type: ignore[attr-defined]

    stream = io.StringIO()
    handler = BatchingHandler(stream, interval=3600)
    handler.setFormatter(JsonFormatter())
    maas_logger = logging.getLogger("maas")
    saved = (maas_logger.handlers[:], maas_logger.propagate, maas_logger.level)
    maas_logger.handlers[:] = [handler]
    maas_logger.propagate = False
    maas_logger.setLevel(logging.INFO)
    try:
        client.get("/v1/models", headers={"X-Request-ID": "rid-200"})
        client.get("/health/live")  # health checks are not logged
        handler.flush()
    finally:
        maas_logger.handlers[:], maas_logger.propagate = saved[0], saved[1]
        maas_logger.setLevel(saved[2])
        handler.close()
    lines = [orjson.loads(x) for x in stream.getvalue().splitlines()]
    assert [
        (x["msg"], x["request_id"], x["status"]) for x in lines if x["logger"] == "maas.access"
    ] == [("GET /v1/models 200", "rid-200", 200)]


def test_unknown_route_is_a_problem_document(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_openapi_page_and_operation_ids(anon: TestClient) -> None:
    doc = anon.get("/openapi.json").json()
    ops = {
        op["operationId"]
        for path in doc["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert {"predict", "list_models", "set_alias", "oip_infer", "create_key"} <= ops
    assert anon.get("/docs").status_code == 200


def test_info_lists_formats_and_who_i_am(client: TestClient) -> None:
    info = client.get("/v1/info").json()
    assert {"lightgbm", "onnx"} <= set(info["formats"])
    assert info["role"] == "admin"
    assert info["tenant"] == "default"
