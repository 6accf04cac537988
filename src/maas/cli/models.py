"""``maas models ...``: the registry's models, versions and aliases, over the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from maas.cli._output import print_json, print_kv, print_table, when
from maas.cli._remote import DEFAULT_URL, ApiKeyOption, JsonFlag, UrlOption, connect
from maas.errors import InvalidParameterError
from maas.schemas.models import VersionRead

__all__ = ["print_report", "register"]

NameArg = Annotated[str, typer.Argument(help="The model's name.", show_default=False)]
AliasArg = Annotated[
    str, typer.Argument(help="The alias, e.g. production or staging.", show_default=False)
]


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to ``app``."""
    models = typer.Typer(help="Models, versions and aliases in the registry.", no_args_is_help=True)
    models.command("list")(list_models)
    models.command("show")(show_model)
    models.command("versions")(list_versions)
    models.command("report")(show_report)
    models.command("upload")(upload)
    models.command("alias")(set_alias)
    models.command("unalias")(delete_alias)
    models.command("rollback")(rollback_alias)
    models.command("history")(alias_history)
    app.add_typer(models, name="models")


def list_models(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Only names containing this text.")
    ] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many models.")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many models.")] = 50,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List the models of your tenant."""
    with connect(ctx, url, api_key) as client:
        page = client.list_models(q=query, offset=offset, limit=limit)
    if json_:
        print_json(page)
        return
    print_table(
        ["name", "latest", "aliases", "description", "updated"],
        (
            [m.name, m.latest_version, _aliases(m.aliases), m.description, when(m.updated_at)]
            for m in page.items
        ),
        title=f"models {page.offset + 1 if page.items else 0}-{page.offset + len(page.items)} "
        f"of {page.total}",
    )


def show_model(
    ctx: typer.Context,
    name: NameArg,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show one model: description, tags, aliases and latest version."""
    with connect(ctx, url, api_key) as client:
        model = client.get_model(name)
    if json_:
        print_json(model)
        return
    print_kv(
        [
            ("name", model.name),
            ("description", model.description),
            ("tags", model.tags),
            ("aliases", _aliases(model.aliases)),
            ("latest version", model.latest_version),
            ("created", when(model.created_at)),
            ("updated", when(model.updated_at)),
        ]
    )


def list_versions(
    ctx: typer.Context,
    name: NameArg,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List the versions of a model."""
    with connect(ctx, url, api_key) as client:
        page = client.list_versions(name)
    if json_:
        print_json(page)
        return
    print_table(
        ["version", "format", "aliases", "size", "sha256", "created by", "created", "description"],
        (
            [
                v.version,
                v.format,
                ", ".join(v.aliases),
                _size(v.size),
                v.sha256[:12],
                v.created_by,
                when(v.created_at),
                v.description,
            ]
            for v in page.items
        ),
        title=f"versions of {name} ({page.total})",
    )


def show_report(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[
        int | None,
        typer.Option("--version", "-v", min=1, help="The version (default: the latest)."),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Show this many feature importances.")] = 10,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show the evaluation report of a trained version: held-out metrics against the naive
    baseline, stability across seeds, and the top feature importances."""
    with connect(ctx, url, api_key) as client:
        if version is None:
            latest = client.get_model(name).latest_version
            if latest is None:
                raise InvalidParameterError(
                    f"Model {name!r} has no versions yet.", field="version", received=None
                )
            version = latest
        found = client.get_version(name, version)
    if json_:
        print_json(found.report or {})
        return
    if not found.report:
        typer.echo(f"{found.model} version {found.version} has no evaluation report (not trained).")
        return
    print_report(found, top=top)


def print_report(version: VersionRead, *, top: int = 10) -> None:
    """The report's tables: held-out vs baseline (with stability), and feature importance."""
    report = version.report or {}
    held_out: dict[str, Any] = report.get("held_out") or {}
    baseline: dict[str, Any] = report.get("baseline") or {}
    stability: dict[str, Any] = report.get("stability") or {}
    rows = []
    for metric, value in held_out.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue  # confusion counts and the like stay in --json
        spread = stability.get(metric) or {}
        rows.append(
            [
                metric,
                value,
                baseline.get(f"baseline_{metric}"),
                _mean_std(spread),
                spread.get("runs"),
            ]
        )
    source = f" on {version.source_dataset}" if version.source_dataset else ""
    print_table(
        ["metric", "held-out", "baseline", "stability (mean ± std)", "runs"],
        rows,
        title=f"{version.model} version {version.version} ({version.template or 'uploaded'}"
        f"{source}, {report.get('rows', '?')} rows)",
    )
    importance: dict[str, Any] = report.get("feature_importance") or {}
    if importance:
        total = sum(abs(float(v)) for v in importance.values()) or 1.0
        ranked = sorted(importance.items(), key=lambda kv: -abs(float(kv[1])))[:top]
        print_table(
            ["feature", "importance", "share"],
            ([feature, value, f"{abs(float(value)) / total:.1%}"] for feature, value in ranked),
            title=f"top {len(ranked)} of {len(importance)} features",
        )
    comparison: dict[str, Any] = report.get("comparison") or {}
    if comparison:
        champion = comparison["champion"]["metrics"]
        challenger = comparison["challenger"]["metrics"]
        holdout = comparison.get("holdout") or {}
        seen = "" if holdout.get("new_data_only") else ", champion may have seen some of it"
        print_table(
            ["metric", f"champion (v{comparison['champion']['version']})", "challenger"],
            ([m, champion.get(m), challenger.get(m)] for m in sorted(champion | challenger)),
            title=f"same held-out data: {holdout.get('rows', '?')} rows "
            f"({holdout.get('kind', '?')}{seen})",
        )
        typer.echo(
            f"{'Promoted' if comparison['promoted'] else 'Not promoted'}: {comparison['reason']}."
        )


def _mean_std(spread: dict[str, Any]) -> str:
    mean, std = spread.get("mean"), spread.get("std")
    if mean is None:
        return ""
    return f"{mean:.4g} ± {std or 0.0:.2g}"


def upload(
    ctx: typer.Context,
    name: NameArg,
    file: Annotated[
        Path,
        typer.Argument(
            help="The .onnx file.", exists=True, dir_okay=False, readable=True, show_default=False
        ),
    ],
    signature: Annotated[
        Path,
        typer.Option(
            "--signature",
            help="JSON file of the signature: inputs, outputs, task, classes.",
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
        ),
    ],
    description: Annotated[str, typer.Option(help="What this version is.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="KEY=VALUE label; repeatable.")
    ] = None,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Upload an ONNX model as the next version of NAME (creating the model if needed)."""
    with connect(ctx, url, api_key) as client:
        version = client.upload_onnx(
            name,
            file,
            signature=_read_json_object(signature, option="--signature"),
            description=description,
            tags=_parse_tags(tag or []),
        )
    if json_:
        print_json(version)
        return
    typer.echo(
        f"Uploaded {version.model} version {version.version} "
        f"({_size(version.size)}, sha256 {version.sha256[:12]})."
    )


def set_alias(
    ctx: typer.Context,
    name: NameArg,
    alias: AliasArg,
    version: Annotated[int, typer.Argument(min=1, help="The version to point at.")],
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Point ALIAS of model NAME at VERSION."""
    with connect(ctx, url, api_key) as client:
        moved = client.set_alias(name, alias, version)
    if json_:
        print_json(moved)
        return
    before = f" (was {moved.previous_version})" if moved.previous_version is not None else ""
    typer.echo(f"{moved.model}@{moved.alias} -> version {moved.version}{before}.")


def delete_alias(
    ctx: typer.Context,
    name: NameArg,
    alias: AliasArg,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Remove ALIAS from model NAME (the version it pointed to stays)."""
    with connect(ctx, url, api_key) as client:
        client.delete_alias(name, alias)
    typer.echo(f"Removed {name}@{alias}.")


def rollback_alias(
    ctx: typer.Context,
    name: NameArg,
    alias: AliasArg,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Point ALIAS back at the version it pointed to before its last move."""
    with connect(ctx, url, api_key) as client:
        moved = client.rollback_alias(name, alias)
    if json_:
        print_json(moved)
        return
    typer.echo(f"{moved.model}@{moved.alias} rolled back to version {moved.version}.")


def alias_history(
    ctx: typer.Context,
    name: NameArg,
    alias: AliasArg,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show every move of ALIAS, oldest first."""
    with connect(ctx, url, api_key) as client:
        events = client.alias_history(name, alias)
    if json_:
        print_json(events)
        return
    print_table(
        ["at", "from", "to", "by"],
        ([when(e.at), e.from_version, e.to_version, e.actor] for e in events),
        title=f"{name}@{alias}",
    )


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{alias}={version}" for alias, version in sorted(aliases.items()))


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _read_json_object(path: Path, *, option: str) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        InvalidParameterError: the file cannot be read or holds no JSON object.
    """
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidParameterError(
            f"Cannot read {path}: {exc.strerror}.", field=option, received=str(path)
        ) from exc
    except orjson.JSONDecodeError as exc:
        raise InvalidParameterError(
            f"{path} is not valid JSON: {exc}.", field=option, expected="a JSON object"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"{path} must hold a JSON object. Got {type(data).__name__} instead.",
            field=option,
            expected="a JSON object",
            received=type(data).__name__,
        )
    return data


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidParameterError(
                f"--tag must be KEY=VALUE. Got {pair!r} instead.",
                field="--tag",
                expected="KEY=VALUE",
                received=pair,
            )
        tags[key] = value
    return tags
