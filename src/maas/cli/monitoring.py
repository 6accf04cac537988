"""``maas traffic``, ``drift``, ``feedback``, ``monitoring``, ``predictions`` and
``live-metrics``: watch models in production, over the SDK."""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from maas.cli._output import print_json, print_kv, print_table, when
from maas.cli._remote import DEFAULT_URL, ApiKeyOption, JsonFlag, UrlOption, connect
from maas.schemas.monitoring import DriftRead, MonitoringRead, RetrainPolicy

__all__ = ["register"]

NameArg = Annotated[str, typer.Argument(help="The model's name.", show_default=False)]
VersionOption = Annotated[int | None, typer.Option(min=1, help="Only this version.")]

_STATES = {
    "ok": "ok: live inputs look like the training data",
    "warning": "warning: some inputs have moved away from the training data",
    "alert": "alert: inputs have shifted clearly; predictions may no longer be reliable",
    "no_data": "no data: nothing to compare yet",
}


class Bucket(StrEnum):
    hour = "hour"
    day = "day"


class Setting(StrEnum):
    """The settings ``maas monitoring --reset`` returns to the server's default."""

    psi_warning = "psi_warning"
    psi_alert = "psi_alert"
    sample_rate = "sample_rate"
    window_hours = "window_hours"
    min_rows = "min_rows"


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to ``app``."""
    app.command("traffic")(traffic)
    app.command("drift")(drift)
    app.command("feedback")(feedback)
    app.command("monitoring")(monitoring)
    app.command("predictions")(predictions)
    app.command("live-metrics")(live_metrics)


def traffic(
    ctx: typer.Context,
    name: NameArg,
    minutes: Annotated[int, typer.Option(min=1, max=1440, help="How many minutes back.")] = 60,
    all_minutes: Annotated[
        bool, typer.Option("--all", help="Also list the minutes without requests.")
    ] = False,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Live traffic of NAME per minute: requests, errors, p50 and p99 latency."""
    with connect(ctx, url, api_key) as client:
        read = client.traffic(name, minutes=minutes)
    if json_:
        print_json(read)
        return
    requests = sum(p.requests for p in read.points)
    errors = sum(p.errors for p in read.points)
    shown = [p for p in read.points if all_minutes or p.requests]
    print_table(
        ["minute", "requests", "errors", "p50 ms", "p99 ms"],
        ([when(p.t), p.requests, p.errors, p.p50_ms, p.p99_ms] for p in shown),
        title=f"{read.model}: {requests} requests, {errors} errors in the last {minutes} min",
    )


def drift(
    ctx: typer.Context,
    name: NameArg,
    check: Annotated[
        bool, typer.Option("--check", help="Check now, rather than show the last check.")
    ] = False,
    version: Annotated[
        int | None,
        typer.Option(
            min=1, help="With --check: the version to check (default: the last to answer)."
        ),
    ] = None,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """The drift state of NAME, per input and for its predictions (--check: check now)."""
    if version is not None and not check:
        raise _usage("--version needs --check", "--version")
    with connect(ctx, url, api_key) as client:
        read = client.check_drift(name, version=version) if check else client.get_drift(name)
    if json_:
        print_json(read)
        return
    print_drift(read)


def print_drift(read: DriftRead) -> None:
    """The check's summary, then one row per input, largest PSI first."""
    window = read.window
    th = read.thresholds
    pairs: list[tuple[str, Any]] = [
        ("state", _STATES.get(read.state, read.state)),
        ("version", read.version),
        ("checked", when(read.checked_at)),
        ("live rows", f"{window.rows}" + (f" since {when(window.since)}" if window.since else "")),
        ("reference", read.reference),
        ("thresholds", f"PSI warning {th.get('psi_warning')}, alert {th.get('psi_alert')}"),
    ]
    if read.prediction is not None:
        p = read.prediction
        pairs.append(("predictions", f"{p.state} (PSI {_num(p.psi)} against {p.reference})"))
    if read.retraining:
        job = read.retraining.get("job")
        pairs.append(("retraining", f"job {job}" if job else read.retraining.get("error")))
    if read.message:
        pairs.append(("message", read.message))
    print_kv(pairs, title=f"drift of {read.model}")
    if read.features:
        features = sorted(read.features, key=lambda f: -(f.psi if f.psi is not None else -1.0))
        print_table(
            ["input", "kind", "PSI", "KS", "JS", "state", "rows"],
            (
                [f.name, f.kind, _num(f.psi), _num(f.ks), _num(f.js), f.state, f.rows]
                for f in features
            ),
        )


def feedback(
    ctx: typer.Context,
    prediction_id: Annotated[
        str | None,
        typer.Argument(help="The id the prediction's answer carried.", show_default=False),
    ] = None,
    actual: Annotated[
        str | None,
        typer.Argument(
            help="What really happened: the class label, or the number.", show_default=False
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="A CSV file with the columns prediction_id and actual (many at once).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Send the actual outcome of a prediction (PREDICTION_ID ACTUAL), or of many (--file)."""
    if (file is None) == (prediction_id is None) or (prediction_id is None) != (actual is None):
        raise _usage("give PREDICTION_ID and ACTUAL, or --file", "PREDICTION_ID")
    items = _read_feedback(file) if file is not None else None
    with connect(ctx, url, api_key) as client:
        if items is not None:
            result = client.send_feedback(items=items)
        else:
            result = client.send_feedback(prediction_id, _actual(actual or ""))
    if json_:
        print_json(result)
        return
    typer.echo(f"Recorded {result.accepted} outcome{'' if result.accepted == 1 else 's'}.")


def monitoring(
    ctx: typer.Context,
    name: NameArg,
    psi_warning: Annotated[
        float | None, typer.Option(min=0, help="PSI from which an input's drift is a warning.")
    ] = None,
    psi_alert: Annotated[
        float | None, typer.Option(min=0, help="PSI from which it is an alert.")
    ] = None,
    sample_rate: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Share of predictions whose inputs are logged."),
    ] = None,
    window_hours: Annotated[
        float | None, typer.Option(min=0, help="How far back a drift check looks.")
    ] = None,
    min_rows: Annotated[
        int | None, typer.Option(min=1, help="Fewest logged inputs a drift check needs.")
    ] = None,
    reset: Annotated[
        list[Setting] | None,
        typer.Option("--reset", help="Return this setting to the server's default; repeatable."),
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="POST drift state changes here (signed).")
    ] = None,
    no_webhook: Annotated[bool, typer.Option("--no-webhook", help="Remove the webhook.")] = False,
    rotate_webhook_secret: Annotated[
        bool, typer.Option("--rotate-webhook-secret", help="Make a new webhook secret.")
    ] = False,
    retrain_metric: Annotated[
        str | None,
        typer.Option(help="Retrain on alert; a challenger must beat the model on this metric."),
    ] = None,
    retrain_dataset: Annotated[
        str | None, typer.Option(help="Retrain on this dataset (default: the model's).")
    ] = None,
    retrain_alias: Annotated[
        str | None, typer.Option(help="The alias retraining may move (default: production).")
    ] = None,
    retrain_min_improvement: Annotated[
        float | None, typer.Option(min=0, help="Promote only when better by more than this.")
    ] = None,
    no_retrain: Annotated[
        bool, typer.Option("--no-retrain", help="Do not retrain on alert.")
    ] = False,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show the monitoring settings of NAME, or change those given."""
    if webhook_url is not None and no_webhook:
        raise _usage("give --webhook-url or --no-webhook, not both", "--no-webhook")
    retrain_given = any(
        v is not None
        for v in (retrain_metric, retrain_dataset, retrain_alias, retrain_min_improvement)
    )
    if retrain_given and no_retrain:
        raise _usage("--no-retrain cannot go with the other --retrain options", "--no-retrain")
    changes: dict[str, Any] = {
        k: v
        for k, v in (
            ("psi_warning", psi_warning),
            ("psi_alert", psi_alert),
            ("sample_rate", sample_rate),
            ("window_hours", window_hours),
            ("min_rows", min_rows),
            ("webhook_url", webhook_url),
        )
        if v is not None
    }
    for setting in reset or []:
        if setting.value in changes:
            option = "--" + setting.value.replace("_", "-")
            raise _usage(f"give {option} or --reset {setting.value}, not both", "--reset")
        changes[setting.value] = None
    if no_webhook:
        changes["webhook_url"] = None
    with connect(ctx, url, api_key) as client:
        if retrain_given or no_retrain:
            policy = client.get_monitoring(name).retrain_on_alert.model_dump()
            given = {
                "metric": retrain_metric,
                "dataset": retrain_dataset,
                "alias": retrain_alias,
                "min_improvement": retrain_min_improvement,
            }
            policy.update({k: v for k, v in given.items() if v is not None})
            policy["enabled"] = not no_retrain
            changes["retrain_on_alert"] = RetrainPolicy.model_validate(policy)
        if changes or rotate_webhook_secret:
            read = client.set_monitoring(
                name, rotate_webhook_secret=rotate_webhook_secret, **changes
            )
        else:
            read = client.get_monitoring(name)
    if json_:
        print_json(read)
        return
    print_monitoring(read)


def print_monitoring(read: MonitoringRead) -> None:
    """The settings, the webhook secret when it is shown (once), and recent deliveries."""
    policy = read.retrain_on_alert
    retrain = "off"
    if policy.enabled:
        retrain = (
            f"on alert: challenger on {policy.dataset or 'the model’s dataset'}"
            f"{'@' + str(policy.dataset_version) if policy.dataset_version else ''}, "
            f"promoted to {policy.alias} if {policy.metric} improves"
            + (f" by more than {policy.min_improvement:g}" if policy.min_improvement else "")
        )
    print_kv(
        [
            ("drift state", read.state),
            ("PSI warning / alert", f"{read.psi_warning:g} / {read.psi_alert:g}"),
            ("inputs logged", f"{read.sample_rate:.0%} of predictions"),
            ("drift window", f"{read.window_hours:g} h, at least {read.min_rows} rows"),
            ("webhook", read.webhook_url or "none"),
            ("retraining", retrain),
        ],
        title=f"monitoring of {read.model}",
    )
    if read.webhook_secret:
        typer.echo(f"webhook secret (shown once, keep it): {read.webhook_secret}")
    if read.recent_deliveries:
        print_table(
            ["when", "event", "outcome", "HTTP", "attempts", "error"],
            (
                [when(d.at), d.event, d.outcome, d.http_status, d.attempts, d.error]
                for d in read.recent_deliveries
            ),
            title="recent webhook deliveries",
        )


def predictions(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            help="NAME (every version), NAME@N or NAME@ALIAS (that version).", show_default=False
        ),
    ],
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="The newest this many.")] = 20,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write them to this Parquet file instead.", dir_okay=False
        ),
    ] = None,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """The newest logged predictions of a model, with their ids and any feedback."""
    with connect(ctx, url, api_key) as client:
        if output is not None:
            data = client.predictions_log(ref, limit, format="parquet")
        else:
            page = client.predictions_log(ref, limit)
    if output is not None:
        output.write_bytes(data)
        typer.echo(f"Wrote {output} ({len(data)} bytes).")
        return
    if json_:
        print_json(page)
        return
    print_table(
        ["id", "version", "at", "ms", "prediction", "actual", "inputs"],
        (
            [
                p.prediction_id,
                p.version,
                when(p.at),
                p.latency_ms,
                (p.output or {}).get("prediction"),
                p.actual,
                "logged" if p.inputs else "",
            ]
            for p in page.items
        ),
        title=f"{page.model}: the newest {len(page.items)} logged predictions",
    )


def live_metrics(
    ctx: typer.Context,
    name: NameArg,
    version: VersionOption = None,
    bucket: Annotated[Bucket, typer.Option(help="Metrics per hour or per day.")] = Bucket.hour,
    days: Annotated[int | None, typer.Option(min=1, max=366, help="How many days back.")] = None,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Metrics of NAME's predictions that received feedback, per version."""
    per = "day" if bucket is Bucket.day else "hour"
    with connect(ctx, url, api_key) as client:
        read = client.live_metrics(name, version=version, bucket=per, days=days)
    if json_:
        print_json(read)
        return
    names = sorted(
        {
            k
            for v in read.versions
            for k, value in v.overall.items()
            if k != "count" and isinstance(value, int | float) and not isinstance(value, bool)
        }
    )
    positive = {v.overall.get("positive_class") for v in read.versions} - {None}
    print_table(
        ["version", "outcomes", *names],
        (
            [v.version, v.overall.get("count"), *(v.overall.get(n) for n in names)]
            for v in read.versions
        ),
        title=f"{read.model}: live metrics since {when(read.since)}"
        + (f" (positive class {', '.join(map(str, sorted(positive)))})" if positive else ""),
    )


def _read_feedback(path: Path) -> list[tuple[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not {"prediction_id", "actual"} <= set(reader.fieldnames or []):
            raise _usage(
                f"{path} needs the columns prediction_id and actual; "
                f"it has {', '.join(reader.fieldnames or []) or 'none'}",
                "--file",
            )
        return [(row["prediction_id"], _actual(row["actual"])) for row in reader]


def _actual(text: str) -> Any:
    """A number when the text is one (``3``, ``0.5``), else the text (a class label)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text


def _num(value: float | None) -> str:
    """PSI, KS and JS to three decimals (what their thresholds are set in)."""
    return "" if value is None else f"{value:.3f}"


def _usage(message: str, option: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")
