"""The lean prediction endpoint, Arrow IPC / Parquet bodies and answers, and per-model batching.

The lean endpoint must answer exactly as the FastAPI route it stands in for: every case here is
sent once on the plain path (lean) and once with an extra query parameter (FastAPI's route).
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.api.arrow_codec import ARROW_STREAM, PARQUET
from maas.api.predict_endpoint import PredictEndpoint
from maas.domain.roles import Role
from maas.services.batching import BatchPolicy
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register, system_principal

ROW = {
    "type": "M",
    "air_temperature_k": 300.1,
    "process_temperature_k": 310.2,
    "rotational_speed_rpm": 1500,
    "torque_nm": 40.5,
    "tool_wear_min": 120,
}
ROWS = [ROW, {**ROW, "type": "L", "torque_nm": 65.0}, {**ROW, "tool_wear_min": 230}]
LEAN = "/v1/models/machine-failure/predict"
ROUTE = LEAN + "?fastapi=1"  # a query parameter the lean endpoint does not take


@pytest.fixture
def model(app: FastAPI) -> str:
    register(app, "machine-failure", failure_model())
    return "machine-failure"


def arrow_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def table_of(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def without_instance(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("instance", "prediction_ids")}


def test_lean_endpoint_takes_only_plain_requests(app: FastAPI) -> None:
    endpoint = PredictEndpoint(app, next(iter(app.router.routes)))  # type: ignore[arg-type]

    def scope(path: str, query: bytes = b"", method: str = "POST") -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path, "query_string": query}

    assert endpoint.match(scope(LEAN)) is endpoint
    assert endpoint.match(scope(LEAN, b"version=2&explain=true")) is endpoint
    assert endpoint.match(scope("/v1/models/a@production/predict", b"explain=0")) is endpoint
    for refused in (
        scope(LEAN, method="GET"),
        scope(LEAN, b"version=0"),
        scope(LEAN, b"version=x"),
        scope(LEAN, b"explain=yes"),
        scope(LEAN, b"version=1&version=2"),
        scope(LEAN, b"other=1"),
        scope("/v1/models//predict"),
        scope("/v1/models/a/b/predict"),
        scope("/v1/models/" + "a" * 121 + "/predict"),
        scope("/v1/models/a/predict/"),
    ):
        assert endpoint.match(refused) is None


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"rows": ROWS}, {}),
        ({"rows": ROWS, "explain": True}, {}),
        ({"columns": {k: [r[k] for r in ROWS] for k in ROW}}, {}),
        ({"rows": [{**ROW, "type": "X"}]}, {}),
        ({"rows": [{k: v for k, v in ROW.items() if k != "torque_nm"}]}, {}),
        ({"rows": []}, {}),
        ({"rows": ROWS, "extra": 1}, {}),
        (b"{not json", {}),
        (b"[1, 2]", {}),
        (b"a,b\n1,2\n", {"content-type": "text/csv"}),
    ],
)
def test_lean_endpoint_answers_as_the_route_does(
    client: TestClient, model: str, body: Any, headers: dict[str, str]
) -> None:
    def send(url: str) -> httpx.Response:
        if isinstance(body, bytes):
            return client.post(
                url, content=body, headers={"content-type": "application/json", **headers}
            )
        return client.post(url, json=body)

    lean, route = send(LEAN), send(ROUTE)
    assert lean.status_code == route.status_code
    assert lean.headers["content-type"] == route.headers["content-type"]
    assert without_instance(lean.json()) == without_instance(route.json())
    assert lean.headers["x-request-id"] == lean.json().get("instance", lean.headers["x-request-id"])


@pytest.mark.parametrize("url", [LEAN, ROUTE])
def test_both_entries_check_the_key_and_the_role(app: FastAPI, model: str, url: str) -> None:
    admin = system_principal(app)
    keys = app.state.services.keys
    viewer = keys.create_key(admin, name="v", role=Role.VIEWER).key
    consumer = keys.create_key(admin, name="c", role=Role.CONSUMER).key
    with TestClient(app) as c:
        assert c.post(url, json={"rows": [ROW]}).status_code == 401
        bad = c.post(url, json={"rows": [ROW]}, headers={"Authorization": "Bearer maas_nope"})
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == "Bearer"
        denied = c.post(url, json={"rows": [ROW]}, headers={"Authorization": f"Bearer {viewer}"})
        assert denied.status_code == 403
        assert denied.json()["expected"] == "consumer"
        ok = c.post(url, json={"rows": [ROW]}, headers={"Authorization": f"Bearer {consumer}"})
        assert ok.status_code == 200
    out = io.StringIO()
    app.state.services.audit.export(out)
    records = [orjson.loads(line) for line in out.getvalue().splitlines()]
    denials = [r for r in records if (r["action"], r["outcome"]) == ("predict", "denied")]
    assert len(denials) == 3  # no key, an unknown key, a viewer's key


def test_lean_endpoint_keeps_the_rate_limit(app: FastAPI, model: str) -> None:
    app.state.services.limiter.rate = 1
    app.state.services.limiter.burst = 2.0
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        statuses = [c.post(LEAN, json={"rows": [ROW]}).status_code for _ in range(4)]
    assert statuses[:2] == [200, 200]
    assert 429 in statuses[2:]


def test_lean_endpoint_keeps_the_body_limit(app: FastAPI, model: str) -> None:
    limit = app.state.services.settings.max_body_bytes
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        r = c.post(LEAN, content=b"x" * (limit + 1), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        assert c.post(LEAN, json={"rows": [ROW]}).status_code == 200


@pytest.mark.parametrize("url", [LEAN, ROUTE])
@pytest.mark.parametrize(("media", "encode"), [(ARROW_STREAM, arrow_stream), (PARQUET, parquet)])
def test_arrow_and_parquet_bodies_predict_as_json_does(
    client: TestClient, model: str, url: str, media: str, encode: Any
) -> None:
    as_json = client.post(LEAN, json={"rows": ROWS, "explain": True}).json()
    sep = "&" if "?" in url else "?"
    r = client.post(
        url + sep + "explain=true",
        content=encode(table_of(ROWS)),
        headers={"content-type": media},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    for member in ("model", "version", "predictions", "probabilities", "contributions"):
        assert body[member] == as_json[member]


def test_arrow_answer_has_the_prediction_columns(client: TestClient, model: str) -> None:
    r = client.post(
        LEAN + "?explain=true",
        content=arrow_stream(table_of(ROWS)),
        headers={"content-type": ARROW_STREAM, "accept": ARROW_STREAM},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == ARROW_STREAM
    with pa.ipc.open_stream(r.content) as reader:
        table = reader.read_all()
    as_json = client.post(LEAN, json={"rows": ROWS, "explain": True}).json()
    assert table.column("prediction").to_pylist() == as_json["predictions"]
    assert table.column("p_1").to_pylist() == [p[1] for p in as_json["probabilities"]]
    assert table.column("contribution.torque_nm").to_pylist() == pytest.approx(
        [c["torque_nm"] for c in as_json["contributions"]], abs=1e-6
    )
    assert table.schema.metadata[b"maas.model"] == b"machine-failure"
    assert table.schema.metadata[b"maas.version"] == b"1"


@pytest.mark.parametrize(
    ("content", "media", "status", "code", "field"),
    [
        (b"not arrow at all", ARROW_STREAM, 400, "malformed_request", "body"),
        (b"PAR1 broken", PARQUET, 400, "malformed_request", "body"),
        (
            arrow_stream(table_of([{k: v for k, v in ROW.items() if k != "torque_nm"}])),
            ARROW_STREAM,
            422,
            "schema_mismatch",
            "torque_nm",
        ),
        (
            arrow_stream(table_of([{**ROW, "torque_nm": "forty"}])),
            ARROW_STREAM,
            422,
            "schema_mismatch",
            "columns.torque_nm",
        ),
        (
            arrow_stream(table_of([{**ROW, "type": "X"}])),
            ARROW_STREAM,
            422,
            "schema_mismatch",
            "columns.type",
        ),
        (
            arrow_stream(table_of([{**ROW, "tool_wear_min": None}, ROW])),
            ARROW_STREAM,
            422,
            "schema_mismatch",
            "columns.tool_wear_min",
        ),
        (
            arrow_stream(table_of([{**ROW, "extra": 1.0}])),
            ARROW_STREAM,
            422,
            "schema_mismatch",
            "extra",
        ),
    ],
)
def test_bad_tables_get_clear_4xx(
    client: TestClient,
    model: str,
    content: bytes,
    media: str,
    status: int,
    code: str,
    field: str,
) -> None:
    for url in (LEAN, ROUTE):
        r = client.post(url, content=content, headers={"content-type": media})
        assert r.status_code == status, r.text
        assert r.json()["code"] == code
        assert r.json()["field"] == field


def test_unsupported_media_type_names_the_ones_read(client: TestClient, model: str) -> None:
    r = client.post(LEAN, content=b"<xml/>", headers={"content-type": "application/xml"})
    assert r.status_code == 415
    assert ARROW_STREAM in r.json()["expected"]


def test_concurrent_requests_get_their_own_answers(app: FastAPI, model: str) -> None:
    many = [{**ROW, "torque_nm": 20.0 + i, "tool_wear_min": 10 * i} for i in range(12)]
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        alone = [c.post(LEAN, json={"rows": [row]}).json() for row in many]

    async def together() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as ac:
            answers = await asyncio.gather(
                *(ac.post(LEAN, json={"rows": [row], "explain": True}) for row in many)
            )
        return [a.json() for a in answers]

    for one, both in zip(alone, asyncio.run(together()), strict=True):
        assert both["probabilities"] == one["probabilities"]
        assert both["predictions"] == one["predictions"]
        assert len(both["contributions"]) == 1


def test_model_serving_settings_round_trip(client: TestClient, app: FastAPI, model: str) -> None:
    serving = app.state.services.serving
    version = serving.resolve(system_principal(app).tenant_id, model)
    assert client.get(f"/v1/models/{model}").json()["serving"] == {
        "batch_max_size": None,
        "batch_max_wait_us": None,
    }
    r = client.patch(f"/v1/models/{model}", json={"serving": {"batch_max_size": 8}})
    assert r.status_code == 200, r.text
    assert r.json()["serving"] == {"batch_max_size": 8, "batch_max_wait_us": None}
    tenant = system_principal(app).tenant_id
    assert serving.batch_policy(tenant, version) == BatchPolicy(8, serving.batching.max_wait_us)
    assert client.patch(f"/v1/models/{model}", json={"description": "d"}).status_code == 200
    assert client.get(f"/v1/models/{model}").json()["serving"]["batch_max_size"] == 8
    client.patch(f"/v1/models/{model}", json={"serving": {}})
    assert client.get(f"/v1/models/{model}").json()["serving"]["batch_max_size"] is None
    assert serving.batch_policy(tenant, version) == serving.batching
    bad = client.patch(f"/v1/models/{model}", json={"serving": {"batch_max_wait_us": -1}})
    assert bad.status_code == 422
    unknown = client.patch(f"/v1/models/{model}", json={"serving": {"max_batch": 3}})
    assert unknown.status_code == 422
    assert client.post(LEAN, json={"rows": [ROW]}).status_code == 200


@pytest.mark.parametrize(("media", "encode"), [(ARROW_STREAM, arrow_stream), (PARQUET, parquet)])
def test_tables_over_the_row_limit_are_refused_before_they_are_read(
    client: TestClient, app: FastAPI, model: str, media: str, encode: Any
) -> None:
    app.state.services.serving.max_rows = 2
    r = client.post(LEAN, content=encode(table_of(ROWS)), headers={"content-type": media})
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
