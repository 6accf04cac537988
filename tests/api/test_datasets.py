"""Dataset routes on SQLite and PostgreSQL: uploads, appends, bad files, tenants, encryption."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.api.app import create_app
from maas.settings import Settings
from maas.store.tables import Base
from tests.conftest import ADMIN_KEY
from tests.factories import system_principal

CSV = {"content-type": "text/csv"}
PARQUET = {"content-type": "application/vnd.apache.parquet"}


def sensor_csv(units: int = 3, cycles: int = 20, *, note_every: int = 4) -> bytes:
    """Presses with a clean temperature, a constant status and a mostly empty note."""
    lines = ["machine_id,cycle,temp_c,status,note"]
    for unit in range(units):
        for cycle in range(cycles):
            note = "oiled" if cycle % note_every == 0 else ""
            lines.append(f"press-{unit},{cycle},{60 + unit + cycle * 0.5},ok,{note}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def ds_settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", examples=False, admin_key=ADMIN_KEY, database_url=database_url
    )


@pytest.fixture
def ds_app(ds_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(ds_settings)
    yield application
    application.state.services.close()


@pytest.fixture
def ds(ds_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(ds_app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        yield c


def stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "artifacts"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def temp_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "tmp"
    return sorted(root.iterdir()) if root.exists() else []


def upload(client: TestClient, name: str, body: bytes, **params: str) -> dict:  # type: ignore[type-arg]
    r = client.post(f"/v1/datasets/{name}/versions", content=body, headers=CSV, params=params)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


# --- upload --------------------------------------------------------------------------------


def test_upload_csv_infers_schema_profile_and_findings(ds: TestClient) -> None:
    version = upload(ds, "press-log", sensor_csv(), description="hydraulic presses")
    assert (version["dataset"], version["version"], version["source"]) == ("press-log", 1, "upload")
    assert (version["rows"], version["column_count"]) == (60, 5)
    assert version["parent_version"] is None
    assert len(version["sha256"]) == 64
    assert version["size"] > 0
    assert [
        (c["name"], c["dtype"], c["arrow_type"], c["nullable"]) for c in version["columns"]
    ] == [
        ("machine_id", "string", "string", False),
        ("cycle", "int64", "int64", False),
        ("temp_c", "float64", "double", False),
        ("status", "string", "string", False),
        ("note", "string", "string", True),
    ]
    profile = version["profile"]
    assert (profile["unit_column"], profile["time_column"]) == ("machine_id", "cycle")
    cols = {c["name"]: c for c in profile["columns"]}
    assert cols["cycle"]["min"] == 0
    assert cols["cycle"]["max"] == 19
    assert cols["cycle"]["distinct"] == 20
    assert cols["temp_c"]["min"] == 60.0
    assert cols["temp_c"]["max"] == 71.5
    assert cols["temp_c"]["mean"] == pytest.approx(65.75)
    assert cols["machine_id"]["distinct"] == 3
    assert cols["machine_id"]["top"][0] == {"value": "press-0", "count": 20}
    assert cols["note"]["missing"] == 45
    assert cols["note"]["missing_fraction"] == 0.75
    assert cols["status"]["top"] == [{"value": "ok", "count": 60}]
    found = {(f["check"], f["column"], f["severity"]) for f in version["quality"]}
    assert found == {
        ("constant_column", "status", "warning"),
        ("mostly_missing", "note", "warning"),
    }
    missing = next(f for f in version["quality"] if f["check"] == "mostly_missing")
    assert "45 of 60 rows" in missing["message"]
    dataset = ds.get("/v1/datasets/press-log").json()
    assert dataset["description"] == "hydraulic presses"
    assert (dataset["latest_version"], dataset["rows"]) == (1, 60)


def test_upload_reports_quality_problems_a_plant_engineer_knows(ds: TestClient) -> None:
    lines = ["unit,time,pressure,torque,temp"]
    for unit in range(4):
        rows = 3 if unit == 3 else 15
        for t in range(rows):
            pressure = f"{5 + t % 3} bar" if t % 2 else str(5 + t % 3)
            torque = "ERR" if (unit, t) == (0, 5) else str(40 + t)
            temp = 20 + t * 0.1 if unit < 2 else 293.15 + t * 0.1
            lines.append(f"u{unit},{t},{pressure},{torque},{temp}")
    lines.append("u0,3,5,40,20.3")  # the same time again for unit u0
    version = upload(ds, "line-3", ("\n".join(lines) + "\n").encode())
    found = {(f["check"], f["column"]) for f in version["quality"]}
    assert ("short_histories", "unit") in found
    assert ("duplicate_timestamps", "time") in found
    assert ("mixed_units", "pressure") in found
    assert ("mixed_units", "temp") in found
    assert ("non_numeric_values", "torque") in found
    short = next(f for f in version["quality"] if f["check"] == "short_histories")
    assert "'u3' with 3" in short["message"]
    duplicated = next(f for f in version["quality"] if f["check"] == "duplicate_timestamps")
    assert duplicated["severity"] == "error"
    assert duplicated["details"]["duplicate_rows"] == 1
    assert duplicated["details"]["units"] == ["u0"]
    assert "'ERR'" in next(f["message"] for f in version["quality"] if f["column"] == "torque")


def test_upload_takes_unit_and_time_columns_and_checks_them(ds: TestClient) -> None:
    body = b"asset,ts,value\na,1,1.0\na,2,2.0\nb,1,3.0\n"
    version = upload(ds, "named", body, unit_column="asset", time_column="ts")
    assert (version["profile"]["unit_column"], version["profile"]["time_column"]) == (
        "asset",
        "ts",
    )
    r = ds.post(
        "/v1/datasets/named/versions", content=body, headers=CSV, params={"unit_column": "nope"}
    )
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"], r.json()["received"]) == (
        "schema_mismatch",
        "unit_column",
        "nope",
    )


def test_upload_infers_types_from_the_whole_file_not_its_first_block(
    ds: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("maas.services.dataset_files.CSV_BLOCK_BYTES", 4096)
    lines = ["id,reading,flag,at"] + [
        f"{i},{i * 0.5},{'true' if i % 2 else 'false'},2024-05-01 10:{i % 60:02d}:00"
        for i in range(3000)
    ]
    lines.append("3000,n/a,true,2024-05-01 11:00:00")  # missing: stays a number column
    lines.append("3001,broken,false,2024-05-01 11:01:00")  # text in the very last block
    version = upload(ds, "long", ("\n".join(lines) + "\n").encode())
    types = {c["name"]: c["arrow_type"] for c in version["columns"]}
    assert types == {"id": "int64", "reading": "string", "flag": "bool", "at": "timestamp[us]"}
    assert version["rows"] == 3002
    finding = next(f for f in version["quality"] if f["check"] == "non_numeric_values")
    assert finding["column"] == "reading"
    assert finding["details"]["examples"] == ["broken"]


def test_upload_parquet_normalises_its_types(ds: TestClient) -> None:
    table = pa.table(
        {
            "unit": pa.array(["a", "a", "b"]).dictionary_encode(),
            "count": pa.array([1, 2, 3], pa.int32()),
            "load": pa.array([0.5, None, 1.5], pa.float32()),
            "at": pa.array(
                [datetime(2024, 5, 1, 10, i, tzinfo=UTC) for i in range(3)],
                pa.timestamp("ns", "UTC"),
            ),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    r = ds.post("/v1/datasets/from-parquet/versions", content=sink.getvalue(), headers=PARQUET)
    assert r.status_code == 201, r.text
    version = r.json()
    assert [(c["name"], c["arrow_type"]) for c in version["columns"]] == [
        ("unit", "string"),
        ("count", "int64"),
        ("load", "double"),
        ("at", "timestamp[us, tz=UTC]"),
    ]
    assert version["profile"]["columns"][2]["missing"] == 1
    assert version["profile"]["columns"][3]["min"] == "2024-05-01T10:00:00+00:00"
    same = ds.post(
        "/v1/datasets/from-parquet/versions",
        content=sink.getvalue(),
        headers={"content-type": "application/octet-stream"},
        params={"format": "parquet"},
    )
    assert same.status_code == 201
    assert same.json()["version"] == 2


def test_upload_again_makes_a_new_version_and_keeps_the_old(ds: TestClient) -> None:
    upload(ds, "press-log", sensor_csv(units=1))
    upload(ds, "press-log", sensor_csv(units=2))
    versions = ds.get("/v1/datasets/press-log/versions").json()
    assert [(v["version"], v["rows"]) for v in versions["items"]] == [(1, 20), (2, 40)]
    assert ds.get("/v1/datasets/press-log/versions/1").json()["rows"] == 20


# --- append --------------------------------------------------------------------------------


def test_append_makes_a_new_version_with_the_rows_added(ds_app: FastAPI, ds: TestClient) -> None:
    upload(ds, "press-log", sensor_csv(units=2))
    more = b"machine_id,cycle,temp_c,status,note\npress-9,0,99.5,ok,\npress-9,1,100,ok,new\n"
    r = ds.post("/v1/datasets/press-log/append", content=more, headers=CSV)
    assert r.status_code == 201, r.text
    version = r.json()
    assert (version["version"], version["source"], version["parent_version"]) == (2, "append", 1)
    assert version["rows"] == 42
    assert version["profile"]["unit_column"] == "machine_id"
    assert ds.get("/v1/datasets/press-log/versions/1").json()["rows"] == 40
    table = ds_app.state.services.datasets.read_version(system_principal(ds_app), "press-log", 2)
    assert table.num_rows == 42
    assert table.column("machine_id").to_pylist()[-2:] == ["press-9", "press-9"]
    assert table.column("temp_c").to_pylist()[-1] == 100.0
    assert table.schema.field("temp_c").type == pa.float64()


def test_append_parquet_rows_of_compatible_types(ds: TestClient) -> None:
    upload(ds, "values", b"name,value\na,1.5\n")
    sink = io.BytesIO()
    pq.write_table(pa.table({"value": pa.array([2], pa.int16()), "name": ["b"]}), sink)
    r = ds.post("/v1/datasets/values/append", content=sink.getvalue(), headers=PARQUET)
    assert r.status_code == 201, r.text
    preview = ds.get("/v1/datasets/values/versions/2/data").json()
    assert preview["rows"] == [{"name": "a", "value": 1.5}, {"name": "b", "value": 2.0}]


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        (b"machine_id,cycle,temp_c,status,note,extra\np,1,1,ok,,x\n", "extra", "not a column"),
        (b"machine_id,cycle,temp_c,status\np,1,1,ok\n", "note", "missing"),
        (b"machine_id,cycle,temp_c,status,note\np,1,hot,ok,\n", "temp_c", "'hot' (row 1)"),
    ],
)
def test_append_refuses_other_columns_naming_them(
    ds_settings: Settings, ds: TestClient, body: bytes, field: str, detail: str
) -> None:
    upload(ds, "press-log", sensor_csv(units=1))
    before = stored_files(ds_settings)
    r = ds.post("/v1/datasets/press-log/append", content=body, headers=CSV)
    assert r.status_code == 422
    assert r.json()["code"] == "schema_mismatch"
    assert r.json()["field"] == field
    assert detail in r.json()["detail"]
    assert ds.get("/v1/datasets/press-log").json()["latest_version"] == 1
    assert stored_files(ds_settings) == before
    assert temp_files(ds_settings) == []


def test_append_to_an_unknown_dataset_is_404(ds: TestClient) -> None:
    r = ds.post("/v1/datasets/nothing/append", content=sensor_csv(), headers=CSV)
    assert r.status_code == 404
    assert "nothing" in r.json()["detail"]


# --- bad files -----------------------------------------------------------------------------

LATIN1 = "a,b\n1,Müller\n".encode("latin-1")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
BAD_FILES = [
    pytest.param(b"", CSV, 422, "invalid_input", "body", id="empty"),
    pytest.param(b"a,b\n", CSV, 422, "invalid_input", "body", id="header-only"),
    pytest.param(b"a,b\n1,2\n3,4,5\n", CSV, 422, "invalid_input", "line 3", id="ragged"),
    pytest.param(LATIN1, CSV, 422, "invalid_input", "body", id="latin1"),
    pytest.param(b"a,b,a\n1,2,3\n", CSV, 422, "invalid_input", "a", id="column-twice"),
    pytest.param(b",b\n1,2\n", CSV, 422, "invalid_input", "columns", id="unnamed-column"),
    pytest.param(PNG, CSV, 422, "unsupported_format", "body", id="binary"),
    pytest.param(b"\x1f\x8b\x08\x00", CSV, 422, "unsupported_format", "body", id="gzip"),
    pytest.param(b"PAR1....PAR1", CSV, 422, "unsupported_format", "body", id="parquet-as-csv"),
    pytest.param(b"a,b\n1,2\n", PARQUET, 422, "unsupported_format", "body", id="csv-as-parquet"),
    pytest.param(b"PAR1garbagePAR1", PARQUET, 422, "unsupported_format", "body", id="bad-parquet"),
    pytest.param(b"a,b\n1,2\n", {}, 415, "unsupported_media_type", "content-type", id="no-type"),
    pytest.param(
        b"<html></html>", {"content-type": "text/html"}, 415, "unsupported_media_type",
        "content-type", id="html",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "status", "code", "field"), BAD_FILES)
def test_bad_files_get_a_clear_4xx_and_nothing_is_stored(
    ds_settings: Settings,
    ds: TestClient,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
    field: str,
) -> None:
    r = ds.post("/v1/datasets/bad-file/versions", content=body, headers=headers)
    assert r.status_code == status, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert (problem["code"], problem["field"]) == (code, field)
    assert len(problem["detail"]) > 10
    assert ds.get("/v1/datasets").json()["total"] == 0
    assert ds.get("/v1/datasets/bad-file").status_code == 404
    assert stored_files(ds_settings) == []
    assert temp_files(ds_settings) == []


def test_ragged_and_encoding_errors_say_where_and_what(ds: TestClient) -> None:
    r = ds.post("/v1/datasets/x/versions", content=b"a,b\n1,2\n1,2\n3,4,5\n", headers=CSV)
    assert r.json()["detail"].startswith("Line 4 has 3 fields, but the header has 2.")
    assert (r.json()["expected"], r.json()["details"]) == ("2 fields", {"line": 4})
    r = ds.post("/v1/datasets/x/versions", content="a\nü\n".encode("latin-1"), headers=CSV)
    assert "UTF-8" in r.json()["detail"]
    assert r.json()["expected"] == "UTF-8 text"


def test_a_failed_row_insert_leaves_no_artifact(
    ds_settings: Settings, ds_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database is down")

    monkeypatch.setattr("maas.services.datasets.record_change", refuse)
    service = ds_app.state.services.datasets
    with pytest.raises(RuntimeError):
        service.upload(system_principal(ds_app), "press-log", sensor_csv(), format="csv")
    assert stored_files(ds_settings) == []
    assert temp_files(ds_settings) == []


def test_uploads_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", examples=False, admin_key=ADMIN_KEY, max_upload_bytes=1000
    )
    app = create_app(settings)
    big = b"a,b\n" + b"1,2\n" * 500

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield big[:600]
        yield big[600:]

    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        assert c.post("/v1/datasets/big/versions", content=big, headers=CSV).status_code == 413
        r = c.post("/v1/datasets/big/versions", content=chunks(), headers=CSV)
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        assert (
            c.post("/v1/datasets/big/versions", content=big[:900], headers=CSV).status_code == 201
        )
    app.state.services.close()
    assert temp_files(settings) == []


# --- reading, deleting, tenants, roles -----------------------------------------------------


def test_preview_gives_the_first_rows_as_json(ds: TestClient) -> None:
    body = b"at,reading,ok\n2024-05-01 10:00:00,1.5,true\n2024-05-01 10:01:00,,false\n"
    upload(ds, "quick", body)
    r = ds.get("/v1/datasets/quick/versions/1/data", params={"limit": 2})
    assert r.status_code == 200
    assert r.json() == {
        "dataset": "quick",
        "version": 1,
        "columns": ["at", "reading", "ok"],
        "rows": [
            {"at": "2024-05-01T10:00:00", "reading": 1.5, "ok": True},
            {"at": "2024-05-01T10:01:00", "reading": None, "ok": False},
        ],
        "total_rows": 2,
    }
    assert ds.get("/v1/datasets/quick/versions/1/data", params={"limit": 0}).status_code == 422


def test_list_searches_and_pages(ds: TestClient) -> None:
    for name in ("press-log", "lathe-log", "oven"):
        upload(ds, name, b"a\n1\n")
    page = ds.get("/v1/datasets", params={"limit": 2}).json()
    assert [d["name"] for d in page["items"]] == ["lathe-log", "oven"]
    assert page["total"] == 3
    assert ds.get("/v1/datasets", params={"q": "log"}).json()["total"] == 2
    assert ds.get("/v1/datasets", params={"q": "%' OR 1=1 --"}).json()["total"] == 0


def test_unknown_datasets_and_versions_are_404(ds: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/datasets/nothing"),
        ("DELETE", "/v1/datasets/nothing"),
        ("GET", "/v1/datasets/nothing/versions"),
        ("GET", "/v1/datasets/nothing/versions/1"),
        ("GET", "/v1/datasets/nothing/versions/1/data"),
    ]:
        r = ds.request(method, path)
        assert r.status_code == 404, (method, path)
        assert r.json()["field"] == "dataset"
    upload(ds, "there", b"a\n1\n")
    r = ds.get("/v1/datasets/there/versions/7")
    assert r.status_code == 404
    assert "version 7" in r.json()["detail"]


@pytest.mark.parametrize("name", ["UPPER", "-lead", "a..b", "x" * 65])
def test_upload_refuses_bad_names(ds: TestClient, name: str) -> None:
    r = ds.post(f"/v1/datasets/{name}/versions", content=b"a\n1\n", headers=CSV)
    assert r.status_code == 422
    assert ds.get("/v1/datasets").json()["total"] == 0


def test_delete_removes_versions_and_files(ds_settings: Settings, ds: TestClient) -> None:
    upload(ds, "press-log", sensor_csv())
    ds.post("/v1/datasets/press-log/append", content=sensor_csv(units=1), headers=CSV)
    assert len(stored_files(ds_settings)) == 2
    assert ds.delete("/v1/datasets/press-log").status_code == 204
    assert stored_files(ds_settings) == []
    assert ds.get("/v1/datasets/press-log").status_code == 404
    assert upload(ds, "press-log", b"a\n1\n")["version"] == 1


def test_other_tenants_get_404_on_every_dataset_route(ds: TestClient) -> None:
    upload(ds, "press-log", sensor_csv())
    other = ds.post("/v1/tenants", json={"name": "plant-2"}).json()["admin_key"]
    auth = {"Authorization": f"Bearer {other}"}
    for method, path in [
        ("GET", "/v1/datasets/press-log"),
        ("DELETE", "/v1/datasets/press-log"),
        ("GET", "/v1/datasets/press-log/versions"),
        ("GET", "/v1/datasets/press-log/versions/1"),
        ("GET", "/v1/datasets/press-log/versions/1/data"),
    ]:
        assert ds.request(method, path, headers=auth).status_code == 404, (method, path)
    r = ds.post("/v1/datasets/press-log/append", content=sensor_csv(), headers={**CSV, **auth})
    assert r.status_code == 404
    assert ds.get("/v1/datasets", headers=auth).json()["total"] == 0
    # the same name is free in the other tenant, and stays apart
    r = ds.post("/v1/datasets/press-log/versions", content=b"a\n1\n", headers={**CSV, **auth})
    assert r.status_code == 201
    assert ds.get("/v1/datasets/press-log").json()["rows"] == 60


def test_viewers_read_but_cannot_upload_append_or_delete(ds: TestClient) -> None:
    upload(ds, "press-log", sensor_csv())
    viewer = ds.post("/v1/keys", json={"name": "v", "role": "viewer"}).json()["key"]
    auth = {"Authorization": f"Bearer {viewer}"}
    assert ds.get("/v1/datasets/press-log/versions/1", headers=auth).status_code == 200
    for method, path in [
        ("POST", "/v1/datasets/press-log/versions"),
        ("POST", "/v1/datasets/press-log/append"),
        ("DELETE", "/v1/datasets/press-log"),
    ]:
        r = ds.request(method, path, content=sensor_csv(), headers={**CSV, **auth})
        assert r.status_code == 403, (method, path)
    assert ds.get("/v1/datasets/press-log").json()["latest_version"] == 1
    assert ds.get("/v1/datasets", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_datasets_are_encrypted_at_rest(tmp_path: Path, database_url: str | None) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        examples=False,
        admin_key=ADMIN_KEY,
        database_url=database_url,
        master_key="ab" * 32,  # the embedded set-up makes its own key; a server is given one
    )
    app = create_app(settings)
    body = b"machine_id,reading\nSECRET-PUMP-7,1.5\nSECRET-PUMP-7,2.5\n"
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        version = upload(c, "secret", body)
        stored = Path(version["artifact_uri"].removeprefix("file://")).read_bytes()
        assert stored.startswith(b"MAASENC1")
        assert b"SECRET-PUMP-7" not in stored
        assert b"PAR1" not in stored
        key = version["artifact_uri"].split("/artifacts/", 1)[1]
        tenant = app.state.services.keys.default_tenant().id
        assert key.startswith(f"{tenant}/datasets/secret/")
        assert key.endswith(".parquet")
        preview = c.get("/v1/datasets/secret/versions/1/data").json()
        assert preview["rows"][0]["machine_id"] == "SECRET-PUMP-7"
    app.state.services.close()


def test_every_dataset_change_is_audited(ds: TestClient) -> None:
    upload(ds, "press-log", sensor_csv())
    ds.post("/v1/datasets/press-log/append", content=sensor_csv(units=1), headers=CSV)
    ds.delete("/v1/datasets/press-log")
    records = [orjson.loads(line) for line in ds.get("/v1/audit").text.splitlines()]
    mine = [(r["action"], r["resource"]) for r in records if r["action"].startswith("dataset.")]
    assert mine == [
        ("dataset.create", "dataset:press-log"),
        ("dataset.version", "dataset:press-log@1"),
        ("dataset.version", "dataset:press-log@2"),
        ("dataset.delete", "dataset:press-log"),
    ]
    appended = next(r for r in records if r["resource"] == "dataset:press-log@2")
    assert appended["details"]["source"] == "append"
    assert appended["details"]["parent_version"] == 1
    assert appended["details"]["rows"] == 80


def test_dataset_tables_match_their_migration(ds_app: FastAPI) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = ds_app.state.services.datasets.db.engine
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = [d for d in diff if "dataset" in repr(d)]
    assert mine == []
