"""``maas datasets ...``: upload, append, inspect and delete datasets, over the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from maas.cli._output import print_json, print_kv, print_table, when
from maas.cli._remote import DEFAULT_URL, ApiKeyOption, JsonFlag, UrlOption, connect
from maas.schemas.datasets import DatasetVersionRead

__all__ = ["register"]

NameArg = Annotated[str, typer.Argument(help="The dataset's name.", show_default=False)]
FileArg = Annotated[
    Path,
    typer.Argument(
        help="A .csv or .parquet file.",
        exists=True,
        dir_okay=False,
        readable=True,
        show_default=False,
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option("--format", help="csv or parquet (default: from the file's suffix)."),
]
UnitOption = Annotated[
    str | None,
    typer.Option(
        "--unit-column",
        help="The column naming each row's machine or unit (found by name if not given).",
    ),
]
TimeOption = Annotated[
    str | None,
    typer.Option(
        "--time-column",
        help="The column ordering each unit's rows in time (found by type or name if not given).",
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=1, help="Seconds to wait for the upload and its checks.")
]


def register(app: typer.Typer) -> None:
    """Add the ``datasets`` command group to ``app``."""
    datasets = typer.Typer(
        help="Datasets: upload CSV or Parquet, append rows, see profiles and quality findings.",
        no_args_is_help=True,
    )
    datasets.command("list")(list_datasets)
    datasets.command("show")(show_dataset)
    datasets.command("versions")(list_versions)
    datasets.command("upload")(upload)
    datasets.command("append")(append)
    datasets.command("preview")(preview)
    datasets.command("delete")(delete)
    app.add_typer(datasets, name="datasets")


def list_datasets(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Only names containing this text.")
    ] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many datasets.")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many datasets.")] = 50,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List the datasets of your tenant."""
    with connect(ctx, url, api_key) as client:
        page = client.list_datasets(q=query, offset=offset, limit=limit)
    if json_:
        print_json(page)
        return
    print_table(
        ["name", "latest", "rows", "description", "updated"],
        ([d.name, d.latest_version, d.rows, d.description, when(d.updated_at)] for d in page.items),
        title=f"datasets {page.offset + 1 if page.items else 0}-"
        f"{page.offset + len(page.items)} of {page.total}",
    )


def show_dataset(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[
        int | None, typer.Option(min=1, help="The version (default: the latest).")
    ] = None,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a dataset version: its columns with their profile, and the quality findings."""
    with connect(ctx, url, api_key) as client:
        if version is None:
            dataset = client.get_dataset(name)
            version = dataset.latest_version
        found = client.get_dataset_version(name, version) if version is not None else None
    if found is None:
        typer.echo(f"Dataset {name} has no version yet.")
        return
    if json_:
        print_json(found)
        return
    _print_version(found)


def list_versions(
    ctx: typer.Context,
    name: NameArg,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List the versions of a dataset."""
    with connect(ctx, url, api_key) as client:
        page = client.list_dataset_versions(name)
    if json_:
        print_json(page)
        return
    print_table(
        ["version", "source", "from", "rows", "columns", "findings", "created by", "created"],
        (
            [
                v.version,
                v.source.value,
                v.parent_version,
                v.rows,
                v.column_count,
                _finding_counts(v),
                v.created_by,
                when(v.created_at),
            ]
            for v in page.items
        ),
        title=f"versions of {name} ({page.total})",
    )


def upload(
    ctx: typer.Context,
    name: NameArg,
    file: FileArg,
    format_: FormatOption = None,
    unit_column: UnitOption = None,
    time_column: TimeOption = None,
    description: Annotated[str, typer.Option(help="What the dataset is.")] = "",
    timeout: TimeoutOption = 600.0,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Upload FILE as the next version of dataset NAME (created if new); shows the profile
    and the data-quality findings."""
    with connect(ctx, url, api_key) as client:
        version = client.upload_dataset(
            name,
            file,
            format=format_,
            description=description,
            unit_column=unit_column,
            time_column=time_column,
            timeout=timeout,
        )
    if json_:
        print_json(version)
        return
    typer.echo(f"Uploaded {version.dataset} version {version.version}.")
    _print_version(version)


def append(
    ctx: typer.Context,
    name: NameArg,
    file: FileArg,
    format_: FormatOption = None,
    unit_column: UnitOption = None,
    time_column: TimeOption = None,
    timeout: TimeoutOption = 600.0,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Append the rows of FILE to dataset NAME, as a new version."""
    with connect(ctx, url, api_key) as client:
        version = client.append_dataset(
            name,
            file,
            format=format_,
            unit_column=unit_column,
            time_column=time_column,
            timeout=timeout,
        )
    if json_:
        print_json(version)
        return
    typer.echo(
        f"Appended to {version.dataset} version {version.parent_version}: "
        f"version {version.version} has {version.rows} rows."
    )
    _print_findings(version)


def preview(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[
        int | None, typer.Option(min=1, help="The version (default: the latest).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 20,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show the first rows of a dataset version."""
    with connect(ctx, url, api_key) as client:
        if version is None:
            version = client.get_dataset(name).latest_version
        shown = client.preview_dataset(name, version, limit=limit) if version else None
    if shown is None:
        typer.echo(f"Dataset {name} has no version yet.")
        return
    if json_:
        print_json(shown)
        return
    print_table(
        shown.columns,
        ([row.get(c) for c in shown.columns] for row in shown.rows),
        title=f"{name} version {shown.version}: {len(shown.rows)} of {shown.total_rows} rows",
    )


def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete dataset NAME with all its versions."""
    if not yes:
        typer.confirm(f"Delete dataset {name} and all its versions?", abort=True)
    with connect(ctx, url, api_key) as client:
        client.delete_dataset(name)
    typer.echo(f"Deleted dataset {name}.")


def _finding_counts(version: DatasetVersionRead) -> str:
    errors = sum(f.severity.value == "error" for f in version.quality)
    warnings = len(version.quality) - errors
    return f"{errors} errors, {warnings} warnings" if version.quality else "none"


def _print_version(version: DatasetVersionRead) -> None:
    profile = version.profile
    print_kv(
        [
            ("dataset", version.dataset),
            ("version", version.version),
            ("source", version.source.value),
            ("rows", version.rows),
            ("columns", version.column_count),
            ("unit column", profile.unit_column),
            ("time column", profile.time_column),
            ("sha256", version.sha256[:12]),
            ("created", f"{when(version.created_at)} by {version.created_by}"),
        ]
    )
    print_table(
        ["column", "type", "missing", "distinct", "min", "max", "mean", "top values"],
        (
            [
                c.name,
                c.dtype.value,
                f"{c.missing} ({c.missing_fraction:.0%})",
                c.distinct if c.distinct_exact else f"~{c.distinct}",
                c.min,
                c.max,
                c.mean,
                ", ".join(f"{t.value} ({t.count})" for t in (c.top or [])[:3]),
            ]
            for c in profile.columns
        ),
        title="columns",
    )
    _print_findings(version)


def _print_findings(version: DatasetVersionRead) -> None:
    if not version.quality:
        typer.echo("No data-quality findings.")
        return
    print_table(
        ["severity", "check", "column", "finding"],
        ([f.severity.value, f.check.value, f.column, f.message] for f in version.quality),
        title=f"data quality ({_finding_counts(version)})",
    )
