"""``maas datasets ...`` against the real app: the SDK client is sent through FastAPI's
``TestClient``, so CLI, SDK and server are tested together with no network."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from maas.cli._remote import CliState
from maas.cli.app import create_cli
from maas.client import Client
from tests.conftest import ADMIN_KEY

URL = "http://testserver"
PRESSES = (
    "machine_id,cycle,temp_c,status\n"
    + "".join(f"press-{u},{c},{60 + c * 0.5},ok\n" for u in range(2) for c in range(12))
).encode()


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def run(http: TestClient) -> Callable[..., Any]:
    runner = CliRunner()
    cli = create_cli()
    state = CliState(client_factory=lambda url, key: Client(url, key, http_client=http))

    def invoke(*args: str, key: str = ADMIN_KEY) -> Any:
        env = {"MAAS_URL": URL, "MAAS_API_KEY": key, "COLUMNS": "250"}
        return runner.invoke(cli, list(args), env=env, obj=state)

    return invoke


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def presses(tmp_path: Path) -> Path:
    path = tmp_path / "presses.csv"
    path.write_bytes(PRESSES)
    return path


def test_upload_shows_the_profile_and_the_findings(run, presses: Path) -> None:
    result = ok(run("datasets", "upload", "press-log", str(presses), "--description", "presses"))
    out = result.stdout
    assert "Uploaded press-log version 1." in out
    assert "machine_id" in out
    assert "time column" in out
    assert "cycle" in out
    assert "constant_column" in out
    assert "Column 'status' has the same value (ok)" in out
    shown = orjson.loads(ok(run("datasets", "show", "press-log", "--json")).stdout)
    assert (shown["rows"], shown["profile"]["unit_column"]) == (24, "machine_id")


def test_upload_with_named_columns_and_json_output(run, tmp_path: Path) -> None:
    path = tmp_path / "readings.csv"
    path.write_bytes(b"asset,step,value\na,1,1.5\na,2,2.5\nb,1,3.5\n")
    result = ok(
        run(
            "datasets",
            "upload",
            "readings",
            str(path),
            "--unit-column",
            "asset",
            "--time-column",
            "step",
            "--json",
        )
    )
    version = orjson.loads(result.stdout)
    assert (version["profile"]["unit_column"], version["profile"]["time_column"]) == (
        "asset",
        "step",
    )


def test_parquet_upload_and_append_then_versions_and_preview(run, presses: Path, tmp_path) -> None:
    ok(run("datasets", "upload", "press-log", str(presses)))
    more = tmp_path / "more.parquet"
    sink = io.BytesIO()
    pq.write_table(
        pa.table({"machine_id": ["press-7"], "cycle": [0], "temp_c": [61.0], "status": ["ok"]}),
        sink,
    )
    more.write_bytes(sink.getvalue())
    result = ok(run("datasets", "append", "press-log", str(more)))
    assert "Appended to press-log version 1: version 2 has 25 rows." in result.stdout
    versions = ok(run("datasets", "versions", "press-log")).stdout
    assert "append" in versions
    assert "upload" in versions
    listed = orjson.loads(ok(run("datasets", "list", "--json")).stdout)
    assert [(d["name"], d["latest_version"], d["rows"]) for d in listed["items"]] == [
        ("press-log", 2, 25)
    ]
    preview = orjson.loads(
        ok(run("datasets", "preview", "press-log", "--limit", "2", "--json")).stdout
    )
    assert (preview["version"], len(preview["rows"])) == (2, 2)
    table = ok(run("datasets", "preview", "press-log", "--version", "1", "--limit", "3")).stdout
    assert "press-0" in table
    assert "3 of 24 rows" in table


def test_bad_files_and_mismatches_are_errors_on_stderr(run, presses: Path, tmp_path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_bytes(b"a,b\n1,2\n3,4,5\n")
    result = run("datasets", "upload", "bad", str(ragged))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "error: Line 3 has 3 fields, but the header has 2. Check the delimiters and quotes on "
        "that line.",
        "  field: line 3",
    ]
    ok(run("datasets", "upload", "press-log", str(presses)))
    other = tmp_path / "other.csv"
    other.write_bytes(b"machine_id,cycle,temp_c,status,extra\np,1,1,ok,x\n")
    result = run("datasets", "append", "press-log", str(other))
    assert result.exit_code == 1
    assert "  field: extra" in result.stderr.splitlines()
    unknown = tmp_path / "data.xlsx"
    unknown.write_bytes(b"PK\x03\x04")
    result = run("datasets", "upload", "sheet", str(unknown))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: format must be csv or parquet.")


def test_delete_asks_unless_told_yes(run, presses: Path) -> None:
    ok(run("datasets", "upload", "press-log", str(presses)))
    result = run("datasets", "delete", "press-log")
    assert result.exit_code == 1  # no answer to the question: aborted
    assert orjson.loads(ok(run("datasets", "list", "--json")).stdout)["total"] == 1
    assert (
        "Deleted dataset press-log." in ok(run("datasets", "delete", "press-log", "--yes")).stdout
    )
    result = run("datasets", "show", "press-log")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Dataset 'press-log' not found.")


def test_a_viewer_key_cannot_upload(run, http: TestClient, presses: Path) -> None:
    created = http.post(
        "/v1/keys",
        json={"name": "viewer", "role": "viewer"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ).json()
    result = run("datasets", "upload", "press-log", str(presses), key=created["key"])
    assert result.exit_code == 1
    assert "developer" in result.stderr
    assert ok(run("datasets", "list", "--json", key=created["key"])).stdout.count("press-log") == 0
