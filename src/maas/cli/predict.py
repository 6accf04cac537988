"""``maas predict REF``: predictions for rows from a CSV file, a JSON file or the command line.

Large inputs are sent in batches of ``--batch-size`` rows. The first batch resolves the alias;
the rest name the version it resolved to, so one run never mixes two versions even if the alias
moves meanwhile.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from maas.cli._output import print_json, print_table
from maas.cli._remote import DEFAULT_URL, ApiKeyOption, UrlOption, connect
from maas.client import Client
from maas.errors import InvalidInputError, InvalidParameterError
from maas.schemas.predict import PredictResponse

__all__ = ["read_csv_rows", "register"]

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TABLE_ROWS = 500
"""Most rows a table shows; larger results are for ``--output csv`` or ``json``."""


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to ``app``."""
    app.command("predict")(predict)


def predict(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="NAME (its production alias), NAME@ALIAS or NAME@VERSION.")
    ],
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv", exists=True, dir_okay=False, help="CSV file with a header row of columns."
        ),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json",
            exists=True,
            dir_okay=False,
            help='JSON file: a list of row objects, or {"rows": [...]} or {"columns": {...}}.',
        ),
    ] = None,
    row: Annotated[
        list[str] | None,
        typer.Option("--row", help="One row as a JSON object, e.g. '{\"a\": 1}'; repeatable."),
    ] = None,
    explain: Annotated[bool, typer.Option(help="Add each input's contribution.")] = False,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.TABLE,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows per request for large inputs.")
    ] = 1000,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Predict with a model for rows read from --csv, --json or --row."""
    given = [name for name, v in (("--csv", csv_file), ("--json", json_file), ("--row", row)) if v]
    if len(given) != 1:
        raise typer.BadParameter(
            "give the rows with exactly one of them"
            + (f" (got {', '.join(given)})" if given else ""),
            param_hint="'--csv' / '--json' / '--row'",
        )
    with connect(ctx, url, api_key) as client:
        if csv_file is not None:
            rows = read_csv_rows(csv_file)
        elif json_file is not None:
            rows = _read_json_rows(json_file)
        else:
            rows = [_parse_row(text, index) for index, text in enumerate(row or [])]
        if not rows:
            raise InvalidInputError("The input holds no rows.", field="rows", received=0)
        result = _predict_in_batches(client, ref, rows, explain=explain, batch_size=batch_size)
    _print_result(result, output)


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV file with a header; numbers become ``int``/``float``, empty cells ``None``.

    Raises:
        InvalidInputError: the file cannot be read, its header repeats a column, or a row has
            more cells than the header.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # utf-8-sig: spreadsheets write a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc}.", field="--csv") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InvalidInputError(
            f"The header of {path} repeats the columns {repeated}.", field="--csv"
        )
    rows = []
    for cells in reader:
        if not cells:
            continue  # a blank line
        if len(cells) > len(header):
            raise InvalidInputError(
                f"Line {reader.line_num} of {path} has more cells than the header.",
                field="--csv",
                expected=f"at most {len(header)} cells",
                received=f"{len(cells)} cells",
            )
        cells += [""] * (len(header) - len(cells))
        rows.append({name: _csv_value(cell) for name, cell in zip(header, cells, strict=True)})
    return rows


def _csv_value(text: str) -> Any:
    if text == "":
        return None
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        return float(stripped)
    return text


def _read_json_rows(path: Path) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc.strerror}.", field="--json") from exc
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}.", field="--json") from exc
    if isinstance(data, dict) and "columns" in data and isinstance(data["columns"], dict):
        return _columns_to_rows(data["columns"])
    if isinstance(data, dict) and "rows" in data:
        data = data["rows"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InvalidInputError(
            f"{path} must hold a list of row objects.",
            field="--json",
            expected="a list of objects",
            received=type(data).__name__,
        )
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise InvalidInputError(
                f"Row {index} of {path} is not a JSON object.",
                field=f"rows[{index}]",
                expected="an object",
                received=type(item).__name__,
            )
    return data


def _columns_to_rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    lengths = {name: len(values) for name, values in columns.items() if isinstance(values, list)}
    if len(lengths) != len(columns) or len(set(lengths.values())) > 1:
        raise InvalidInputError(
            "Every column must be a list, and all of the same length.",
            field="columns",
            received=lengths,
        )
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _parse_row(text: str, index: int) -> dict[str, Any]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameterError(
            f"--row must be a JSON object: {exc}.", field="--row", received=text
        ) from exc
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"--row number {index + 1} must be a JSON object.",
            field="--row",
            expected="an object",
            received=text,
        )
    return data


def _batches(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _predict_in_batches(
    client: Client, ref: str, rows: Sequence[dict[str, Any]], *, explain: bool, batch_size: int
) -> PredictResponse:
    if len(rows) <= batch_size:
        return client.predict(ref, rows=rows, explain=explain)
    parts: list[PredictResponse] = []
    progress = Progress(
        TextColumn("predicting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("predict", total=len(rows))
        for batch in _batches(rows, batch_size):
            # After the first batch, pin the version it resolved to.
            target = ref if not parts else f"{ref.partition('@')[0]}@{parts[0].version}"
            parts.append(client.predict(target, rows=batch, explain=explain))
            if parts[0].keys is not None:
                # A per-unit or per-series model needs each history whole: batches would cut
                # them. Send everything in one request to the version the first one found.
                pinned = f"{ref.partition('@')[0]}@{parts[0].version}"
                return client.predict(pinned, rows=rows, explain=explain)
            progress.advance(task, len(batch))
    return _merge(parts)


def _merge(parts: list[PredictResponse]) -> PredictResponse:
    first = parts[0]

    def joined(name: str) -> list[Any] | None:
        chunks = [getattr(part, name) for part in parts]
        return None if any(c is None for c in chunks) else [x for c in chunks for x in c]

    return PredictResponse(
        model=first.model,
        version=first.version,
        predictions=[p for part in parts for p in part.predictions],
        classes=first.classes,
        probabilities=joined("probabilities"),
        contributions=joined("contributions"),
        anomalies=joined("anomalies"),
        terms=joined("terms"),
        prediction_ids=joined("prediction_ids"),
    )


def _print_result(result: PredictResponse, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json(result)
        return
    header = ["row", "prediction"]
    if result.probabilities is not None:
        classes = result.classes or [str(i) for i in range(len(result.probabilities[0]))]
        header += [f"p_{c}" for c in classes]
    if result.anomalies is not None:
        header.append("anomaly")
    contribution_names = sorted({n for c in result.contributions or [] for n in c})
    if output is OutputFormat.CSV:
        writer = csv.writer(out := io.StringIO(), lineterminator="\n")
        writer.writerow(header + [f"contribution_{n}" for n in contribution_names])
        for index, cells in enumerate(_result_rows(result)):
            contributions = result.contributions[index] if result.contributions else {}
            writer.writerow([index, *cells, *(contributions.get(n) for n in contribution_names)])
        typer.echo(out.getvalue(), nl=False)
        return
    if result.contributions is not None:
        header.append("top contributions")
    if result.terms is not None:
        header.append("top terms")
    table_rows = []
    for index, cells in enumerate(_result_rows(result)):
        if index == _TABLE_ROWS:
            break
        extra = [_top(result.contributions[index])] if result.contributions is not None else []
        extra += [_top(result.terms[index])] if result.terms is not None else []
        table_rows.append([index, *cells, *extra])
    print_table(header, table_rows, title=f"{result.model} version {result.version}")
    if len(result.predictions) > _TABLE_ROWS:
        typer.echo(
            f"... {len(result.predictions) - _TABLE_ROWS} more rows; "
            "use --output csv or --output json for all of them.",
            err=True,
        )


def _result_rows(result: PredictResponse) -> Iterator[list[Any]]:
    for index, prediction in enumerate(result.predictions):
        probabilities = result.probabilities[index] if result.probabilities is not None else []
        flag = [result.anomalies[index]] if result.anomalies is not None else []
        yield [prediction, *probabilities, *flag]


def _top(contributions: dict[str, float], count: int = 3) -> str:
    ranked = sorted(
        ((n, v) for n, v in contributions.items() if n != "_bias"), key=lambda nv: -abs(nv[1])
    )
    return ", ".join(f"{name} {value:+.3g}" for name, value in ranked[:count])
