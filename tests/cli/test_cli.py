"""The remote CLI commands, with the SDK client sent through an ``httpx.MockTransport``."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from maas.cli._remote import CliState
from maas.cli.app import create_cli
from maas.cli.predict import read_csv_rows
from maas.client import Client

URL = "http://maas.test"
KEY = "maas_cli-key"
NOW = "2024-05-01T10:00:00Z"
SIGNATURE = {"inputs": [{"name": "torque"}, {"name": "speed"}]}
MODEL = {
    "name": "pump-rul",
    "description": "remaining life",
    "tags": {},
    "aliases": {"production": 2, "staging": 3},
    "latest_version": 3,
    "created_at": NOW,
    "updated_at": NOW,
}
VERSION = {
    "model": "pump-rul",
    "version": 3,
    "format": "onnx",
    "artifact_uri": "file:///x",
    "sha256": "0123456789abcdef" * 4,
    "size": 2048,
    "signature": SIGNATURE,
    "params": {},
    "metrics": {},
    "template": None,
    "source_dataset": None,
    "description": "",
    "tags": {},
    "aliases": ["staging"],
    "created_by": "admin",
    "created_at": NOW,
}
ALIAS = {"model": "pump-rul", "alias": "production", "version": 3, "previous_version": 2}
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

Handler = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """Routes ``(method, path regex)`` to handlers and records every request."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, json=body) if body is not None else httpx.Response(status)

        self.handle(method, path, answer)

    def handle(self, method: str, path: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(path), handler))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for method, pattern, handler in self.routes:
            if request.method == method and pattern.fullmatch(request.url.path):
                return handler(request)
        return httpx.Response(404, json={"code": "not_found", "detail": "no route", "status": 404})

    def client(self, url: str, api_key: str | None) -> Client:
        return Client(url, api_key, transport=httpx.MockTransport(self))

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def run(server: FakeServer) -> Callable[..., Any]:
    runner = CliRunner()
    cli = create_cli()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        # COLUMNS: a wide console, so table cells are not wrapped mid-word.
        environment = {"MAAS_URL": URL, "MAAS_API_KEY": KEY, "COLUMNS": "200", **(env or {})}
        return runner.invoke(
            cli, list(args), env=environment, obj=CliState(client_factory=server.client)
        )

    return invoke


def json_of(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


# --- connection and errors -----------------------------------------------------------------


def test_cli_reads_url_and_key_from_the_environment(run, server):
    server.on("GET", "/v1/models", body={"items": [], "total": 0, "offset": 0, "limit": 50})
    result = run("models", "list", "--json", env={"MAAS_URL": "http://other.test:9000"})
    assert json_of(result)["total"] == 0
    assert str(server.last.url).startswith("http://other.test:9000/v1/models")
    assert server.last.headers["authorization"] == f"Bearer {KEY}"


def test_cli_options_override_the_environment(run, server):
    server.on("GET", "/v1/keys", body=[])
    result = run("keys", "list", "--json", "--url", "http://flag.test", "--api-key", "maas_flag")
    assert json_of(result) == []
    assert server.last.url.host == "flag.test"
    assert server.last.headers["authorization"] == "Bearer maas_flag"


def test_cli_prints_problem_fields_to_stderr_and_exits_1(run, server):
    problem = {
        "type": "urn:maas:problem:schema_mismatch",
        "title": "Input does not match the model's signature",
        "status": 422,
        "detail": "Column 'torque' of model 'pump-rul' must be float64. Got string instead.",
        "code": "schema_mismatch",
        "field": "torque",
        "expected": "float64",
        "received": "string",
    }
    server.on("POST", "/v1/models/pump-rul/predict", 422, problem)
    result = run("predict", "pump-rul", "--row", '{"torque": "x", "speed": 1}')
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {problem['detail']}",
        "  field: torque",
        "  expected: float64",
        "  received: string",
    ]


def test_cli_says_when_the_server_is_not_reachable(run, server):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    server.handle("GET", "/v1/info", refuse)
    result = run("info")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: the server is not reachable at {URL}")


def test_cli_hints_at_the_key_when_none_is_given(run, server):
    body = {"code": "unauthenticated", "detail": "An API key is required.", "status": 401}
    server.on("GET", "/v1/info", 401, body)
    result = run("info", env={"MAAS_API_KEY": ""})
    assert result.exit_code == 1
    assert "authorization" not in server.last.headers
    assert result.stderr.splitlines() == [
        "error: An API key is required.",
        "hint: set MAAS_API_KEY or pass --api-key",
    ]


def test_cli_reports_a_bad_url_as_an_error(run):
    result = run("info", "--url", "localhost:8000")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: url must start with http:// or https://")


def test_cli_prints_its_version(run):
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("maas ")


def test_cli_registers_the_local_commands():
    result = CliRunner().invoke(create_cli(), ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "migrate", "models", "keys", "predict", "info"):
        assert command in result.stdout


# --- models --------------------------------------------------------------------------------


def test_models_list_shows_a_table(run, server):
    server.on("GET", "/v1/models", body={"items": [MODEL], "total": 1, "offset": 0, "limit": 5})
    result = run("models", "list", "--query", "pump", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert "pump-rul" in result.stdout
    assert "production=2, staging=3" in result.stdout
    assert dict(server.last.url.params) == {"q": "pump", "offset": "0", "limit": "5"}


def test_models_show_and_versions(run, server):
    server.on("GET", "/v1/models/pump-rul", body=MODEL)
    server.on("GET", "/v1/models/pump-rul/versions", body={"items": [VERSION], "total": 1})
    shown = run("models", "show", "pump-rul")
    assert shown.exit_code == 0, shown.output
    assert "remaining life" in shown.stdout
    assert json_of(run("models", "show", "pump-rul", "--json"))["latest_version"] == 3
    versions = run("models", "versions", "pump-rul")
    assert versions.exit_code == 0, versions.output
    assert "0123456789ab" in versions.stdout
    assert "2.0 KiB" in versions.stdout
    assert json_of(run("models", "versions", "pump-rul", "--json"))["items"][0]["version"] == 3


def test_models_upload_sends_the_file_and_signature(run, server, tmp_path):
    server.on("POST", "/v1/models/pump-rul/versions", 201, VERSION)
    model = tmp_path / "pump.onnx"
    model.write_bytes(b"onnx-bytes")
    signature = tmp_path / "sig.json"
    signature.write_bytes(orjson.dumps(SIGNATURE))
    result = run(
        "models", "upload", "pump-rul", str(model), "--signature", str(signature),
        "--description", "retrained", "--tag", "line=3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Uploaded pump-rul version 3 (2.0 KiB, sha256 0123456789ab)."
    body = server.last.content
    assert b"onnx-bytes" in body
    assert b'"torque"' in body
    assert b"retrained" in body
    assert b'{"line":"3"}' in body


def test_models_upload_rejects_a_signature_that_is_not_json(run, server, tmp_path):
    model = tmp_path / "pump.onnx"
    model.write_bytes(b"onnx-bytes")
    signature = tmp_path / "sig.json"
    signature.write_text("inputs: torque")
    result = run("models", "upload", "pump-rul", str(model), "--signature", str(signature))
    assert result.exit_code == 1
    assert "is not valid JSON" in result.stderr
    assert "  field: --signature" in result.stderr
    assert server.requests == []


def test_models_alias_commands(run, server):
    server.on("PUT", "/v1/models/pump-rul/aliases/production", body={**ALIAS, "updated_at": NOW})
    server.on("DELETE", "/v1/models/pump-rul/aliases/staging", 204)
    rolled = {**ALIAS, "version": 2, "previous_version": 3, "updated_at": NOW}
    server.on("POST", "/v1/models/pump-rul/aliases/production/rollback", body=rolled)
    event = {"alias": "production", "from_version": 2, "to_version": 3, "actor": "ci", "at": NOW}
    server.on("GET", "/v1/models/pump-rul/aliases/production/history", body=[event])

    result = run("models", "alias", "pump-rul", "production", "3")
    assert result.stdout.strip() == "pump-rul@production -> version 3 (was 2)."
    assert orjson.loads(server.last.content) == {"version": 3}
    result = run("models", "unalias", "pump-rul", "staging")
    assert result.stdout.strip() == "Removed pump-rul@staging."
    result = run("models", "rollback", "pump-rul", "production")
    assert result.stdout.strip() == "pump-rul@production rolled back to version 2."
    result = run("models", "history", "pump-rul", "production")
    assert result.exit_code == 0, result.output
    assert "ci" in result.stdout
    assert json_of(run("models", "history", "pump-rul", "production", "--json")) == [
        {**event, "at": "2024-05-01T10:00:00Z"}
    ]


def test_models_alias_refuses_version_zero(run, server):
    result = run("models", "alias", "pump-rul", "production", "0")
    assert result.exit_code == 2
    assert server.requests == []


# --- predict -------------------------------------------------------------------------------


def echo_predictions(request: httpx.Request) -> httpx.Response:
    """Predicts each row's ``torque`` doubled, as the version in the path (or 7)."""
    body = orjson.loads(request.content)
    ref = request.url.path.split("/")[3]
    version = int(ref.split("@")[1]) if "@" in ref and ref.split("@")[1].isdigit() else 7
    predictions = [(row.get("torque") or 0) * 2 for row in body["rows"]]
    answer: dict[str, Any] = {"model": "pump-rul", "version": version, "predictions": predictions}
    if body["explain"]:
        answer["contributions"] = [{"torque": 1.5, "speed": -0.25, "_bias": 3.0}] * len(predictions)
    return httpx.Response(200, json=answer)


def test_predict_sends_rows_from_the_command_line(run, server):
    server.handle("POST", r"/v1/models/[^/]+/predict", echo_predictions)
    result = run(
        "predict", "pump-rul@staging", "--row", '{"torque": 1, "speed": 2}',
        "--row", '{"torque": 2.5, "speed": null}', "--output", "json",
    )  # fmt: skip
    assert json_of(result)["predictions"] == [2, 5.0]
    assert server.last.url.path == "/v1/models/pump-rul@staging/predict"
    assert orjson.loads(server.last.content) == {
        "explain": False,
        "rows": [{"torque": 1, "speed": 2}, {"torque": 2.5, "speed": None}],
    }


def test_predict_reads_csv_numbers_and_empty_cells(run, server, tmp_path):
    server.handle("POST", r"/v1/models/[^/]+/predict", echo_predictions)
    data = tmp_path / "rows.csv"
    data.write_text("torque,speed,site\n1.5,,A\n-2,1e3,007x\n")
    result = run("predict", "pump-rul", "--csv", str(data), "--output", "json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(server.last.content)["rows"] == [
        {"torque": 1.5, "speed": None, "site": "A"},
        {"torque": -2, "speed": 1000.0, "site": "007x"},
    ]


def test_read_csv_rows_pads_short_rows_and_rejects_long_ones(tmp_path):
    data = tmp_path / "rows.csv"
    data.write_bytes(b"\xef\xbb\xbfa,b\n1\n\n2,3\n")
    assert read_csv_rows(data) == [{"a": 1, "b": None}, {"a": 2, "b": 3}]
    data.write_text("a,b\n1,2,3\n")
    with pytest.raises(ValueError, match="more cells than the header"):
        read_csv_rows(data)
    data.write_text("a,a\n1,2\n")
    with pytest.raises(ValueError, match="repeats the columns"):
        read_csv_rows(data)


def test_predict_reads_json_rows_or_columns(run, server, tmp_path):
    server.handle("POST", r"/v1/models/[^/]+/predict", echo_predictions)
    rows = tmp_path / "rows.json"
    rows.write_text('[{"torque": 1, "speed": 2}]')
    columns = tmp_path / "columns.json"
    columns.write_text('{"columns": {"torque": [1, 2], "speed": [3, 4]}}')
    assert json_of(run("predict", "pump-rul", "--json", str(rows), "-o", "json"))[
        "predictions"
    ] == [2]
    assert json_of(run("predict", "pump-rul", "--json", str(columns), "-o", "json"))[
        "predictions"
    ] == [2, 4]
    assert orjson.loads(server.last.content)["rows"] == [
        {"torque": 1, "speed": 3},
        {"torque": 2, "speed": 4},
    ]


def test_predict_sends_big_inputs_in_batches_pinned_to_one_version(run, server, tmp_path):
    server.handle("POST", r"/v1/models/[^/]+/predict", echo_predictions)
    data = tmp_path / "rows.csv"
    data.write_text("torque,speed\n" + "".join(f"{i},1\n" for i in range(5)))
    result = run("predict", "pump-rul", "--csv", str(data), "--batch-size", "2", "-o", "json")
    assert json_of(result) == {
        "model": "pump-rul",
        "version": 7,
        "predictions": [0, 2, 4, 6, 8],
        "classes": None,
        "probabilities": None,
        "contributions": None,
        "keys": None,
        "quantiles": None,
        "anomalies": None,
        "terms": None,
        "prediction_ids": None,
    }
    assert [r.url.path for r in server.requests] == [
        "/v1/models/pump-rul/predict",
        "/v1/models/pump-rul@7/predict",
        "/v1/models/pump-rul@7/predict",
    ]
    assert [len(orjson.loads(r.content)["rows"]) for r in server.requests] == [2, 2, 1]


def test_predict_writes_csv_with_contributions(run, server):
    server.handle("POST", r"/v1/models/[^/]+/predict", echo_predictions)
    result = run("predict", "pump-rul", "--row", '{"torque": 1}', "--explain", "-o", "csv")
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["row", "prediction", "contribution__bias", "contribution_speed", "contribution_torque"],
        ["0", "2", "3.0", "-0.25", "1.5"],
    ]


def test_predict_table_shows_probabilities_and_top_contributions(run, server):
    answer = {
        "model": "valve",
        "version": 1,
        "predictions": ["ok"],
        "classes": ["ok", "leak"],
        "probabilities": [[0.9, 0.1]],
        "contributions": [{"torque": 0.5, "speed": -2.0, "_bias": 1.0}],
    }
    server.on("POST", "/v1/models/valve/predict", body=answer)
    result = run("predict", "valve", "--row", '{"torque": 1}', "--explain")
    assert result.exit_code == 0, result.output
    for text in ("valve version 1", "p_ok", "p_leak", "0.9", "speed -2, torque +0.5"):
        assert text in result.stdout


@pytest.mark.parametrize(
    "args",
    [["pump-rul"], ["pump-rul", "--row", "{}", "--json", "missing.json"]],
    ids=["none", "two"],
)
def test_predict_needs_exactly_one_input(run, server, args, tmp_path):
    (tmp_path / "missing.json").write_text("[]")
    if "--json" in args:
        args[args.index("--json") + 1] = str(tmp_path / "missing.json")
    result = run("predict", *args)
    assert result.exit_code == 2
    assert server.requests == []


def test_predict_rejects_a_row_that_is_not_an_object(run, server):
    result = run("predict", "pump-rul", "--row", "[1, 2]")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --row number 1 must be a JSON object.")
    assert server.requests == []


def test_predict_rejects_an_empty_input(run, server, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("torque,speed\n")
    result = run("predict", "pump-rul", "--csv", str(data))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: The input holds no rows.")
    assert server.requests == []


# --- keys ----------------------------------------------------------------------------------


def test_keys_list_create_and_revoke(run, server):
    server.on("GET", "/v1/keys", body=[KEY_READ])
    server.on("POST", "/v1/keys", 201, {**KEY_READ, "role": "developer", "key": "maas_NEWKEY"})
    server.on("DELETE", "/v1/keys/k1", 204)

    listed = run("keys", "list")
    assert listed.exit_code == 0, listed.output
    assert "maas_abc" in listed.stdout
    assert json_of(run("keys", "list", "--json"))[0]["id"] == "k1"

    created = run("keys", "create", "ci", "--role", "developer", "--expires", "2030-01-31")
    assert created.exit_code == 0, created.output
    assert created.stdout == "maas_NEWKEY\n"
    assert "not shown again" in created.stderr
    assert orjson.loads(server.last.content) == {
        "name": "ci",
        "role": "developer",
        "expires_at": "2030-01-31T00:00:00Z",
    }

    revoked = run("keys", "revoke", "k1")
    assert revoked.stdout.strip() == "Revoked key k1."
    assert server.last.method == "DELETE"


def test_keys_create_rejects_a_bad_date_and_role(run, server):
    assert run("keys", "create", "ci", "--expires", "next week").exit_code == 2
    assert run("keys", "create", "ci", "--role", "root").exit_code == 2
    assert server.requests == []


def test_python_dash_m_maas_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "maas", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith("maas ")


def test_models_upload_names_every_bad_signature_field(run, server, tmp_path):
    model = tmp_path / "pump.onnx"
    model.write_bytes(b"onnx-bytes")
    signature = tmp_path / "sig.json"
    signature.write_text('{"inputs": [{"name": "a", "dtype": "complex"}], "task": "guess"}')
    result = run("models", "upload", "pump-rul", str(model), "--signature", str(signature))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: signature.inputs.0.dtype: Input should be")
    assert "  field: signature.inputs.0.dtype" in lines
    assert "  received: complex" in lines
    assert any(line.startswith("  signature.task: Input should be") for line in lines)
    assert server.requests == []


def per_unit_predictions(request: httpx.Request) -> httpx.Response:
    """Answers one prediction per unit, as a remaining-useful-life model does."""
    body = orjson.loads(request.content)
    units = sorted({row["unit"] for row in body["rows"]})
    answer = {
        "model": "engine-rul",
        "version": 3,
        "predictions": [float(len(units))] * len(units),
        "keys": [{"unit": u} for u in units],
    }
    return httpx.Response(200, json=answer)


def test_predict_never_cuts_a_unit_history_into_batches(run, server, tmp_path):
    server.handle("POST", r"/v1/models/[^/]+/predict", per_unit_predictions)
    data = tmp_path / "history.csv"
    data.write_text("unit,cycle\n" + "".join(f"{u},{c}\n" for u in (1, 2) for c in range(3)))
    result = run("predict", "engine-rul", "--csv", str(data), "--batch-size", "2", "-o", "json")
    answer = json_of(result)
    assert answer["keys"] == [{"unit": 1}, {"unit": 2}]
    last = orjson.loads(server.requests[-1].content)["rows"]
    assert len(last) == 6
    assert server.requests[-1].url.path == "/v1/models/engine-rul@3/predict"
