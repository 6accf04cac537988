"""How the CLI prints: rich tables for people, JSON for machines, errors on stderr."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from maas.errors import MaasError

__all__ = ["print_error", "print_json", "print_kv", "print_table", "when"]


def print_json(value: BaseModel | Sequence[BaseModel] | Mapping[str, Any]) -> None:
    """Print ``value`` as indented JSON on stdout, with no styling (for ``jq`` and scripts)."""
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, Mapping):
        data = value
    else:
        data = [item.model_dump(mode="json") for item in value]
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """Print a table; cells are shown as plain text (never read as rich markup)."""
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(Text(_cell(value)) for value in row))
    Console().print(table)


def print_kv(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """Print a two-column table of names and values."""
    table = Table(show_header=False, title=title, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for name, value in pairs:
        table.add_row(Text(name), Text(_cell(value)))
    Console().print(table)


def print_error(error: MaasError, *, hint: str | None = None) -> None:
    """``error: <detail>`` on stderr, then the field, expected and received values if any."""
    lines = [f"error: {error.message}"]
    for name in ("field", "expected", "received"):
        value = getattr(error, name)
        if value is not None:
            lines.append(f"  {name}: {_cell(value)}")
    problems = error.details.get("errors")
    for problem in problems if isinstance(problems, list) else []:  # may be a count
        if isinstance(problem, Mapping) and problem.get("field") not in (None, error.field):
            lines.append(f"  {problem.get('field')}: {problem.get('message')}")
    if hint:
        lines.append(f"hint: {hint}")
    typer.echo("\n".join(lines), err=True)


def when(value: datetime | None) -> str:
    """A timestamp, short: ``2024-05-01 10:22Z`` (UTC), or empty."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")
    return value.strftime("%Y-%m-%d %H:%M")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple | bool):
        return orjson.dumps(value, default=str).decode()
    return str(value)
