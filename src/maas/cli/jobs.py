"""``maas train`` and ``maas jobs ...``: train models on the server and follow its jobs."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from maas.cli._output import print_json, print_kv, print_table, when
from maas.cli._remote import DEFAULT_URL, ApiKeyOption, JsonFlag, UrlOption, connect
from maas.cli.models import print_report
from maas.client import Client
from maas.errors import InvalidParameterError
from maas.schemas.jobs import JobRead, JobStatus

__all__ = ["register"]

_LOG_TAIL = 20
"""How many of a failed job's last log lines are shown."""

JobIdArg = Annotated[str, typer.Argument(help="The job's id.", show_default=False)]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Submit the job and print its id, do not follow.")
]
DescriptionOption = Annotated[str, typer.Option(help="What the new version is.")]
PollOption = Annotated[
    float, typer.Option("--poll-seconds", min=0, help="Seconds between two looks at the job.")
]


def register(app: typer.Typer) -> None:
    """Add ``train`` and the ``jobs`` command group to ``app``."""
    app.command("train")(train)
    app.command("retrain")(retrain)
    jobs = typer.Typer(help="Background jobs: training runs.", no_args_is_help=True)
    jobs.command("list")(list_jobs)
    jobs.command("show")(show_job)
    jobs.command("cancel")(cancel_job)
    jobs.command("wait")(wait_job)
    app.add_typer(jobs, name="jobs")


def train(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The model to train a version of.")],
    template: Annotated[
        str,
        typer.Option("--template", "-t", help="A template (see maas info).", show_default=False),
    ],
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="The dataset to train on.", show_default=False)
    ],
    target: Annotated[str | None, typer.Option(help="The column to predict.")] = None,
    dataset_version: Annotated[
        int | None, typer.Option(min=1, help="The dataset version (default: the newest).")
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", "-f", help="An input column; repeatable (default: all others)."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="KEY=VALUE template parameter, VALUE read as JSON if it can be."
        ),
    ] = None,
    alias: Annotated[
        str | None, typer.Option(help="Point this alias (e.g. staging) at the new version.")
    ] = None,
    stability_runs: Annotated[
        int, typer.Option(min=1, max=10, help="Fits with different seeds, for mean ± std.")
    ] = 3,
    description: DescriptionOption = "",
    no_wait: NoWaitOption = False,
    poll_seconds: PollOption = 1.0,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Train the next version of NAME from a template on a dataset, then show its report."""
    with connect(ctx, url, api_key) as client:
        job = client.train(
            name,
            template=template,
            dataset=dataset,
            target=target,
            dataset_version=dataset_version,
            features=feature or None,
            params=_parse_params(param or []),
            stability_runs=stability_runs,
            alias=alias,
            description=description,
        )
        job = _until_done(client, job, no_wait=no_wait, poll_seconds=poll_seconds, json_=json_)
        if job is None:
            return
        version = client.get_version(name, int((job.result or {})["version"]))
    if json_:
        print_json(version)
        return
    moved = f", {alias} -> {version.version}" if alias else ""
    typer.echo(f"Trained {version.model} version {version.version}{moved}.")
    print_report(version)


def retrain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The model to retrain.")],
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            help="The held-out metric that decides (e.g. f1, rmse).",
            show_default=False,
        ),
    ],
    alias: Annotated[
        str, typer.Option(help="The champion's alias, moved to the challenger if it wins.")
    ] = "production",
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Default: the champion's dataset.")
    ] = None,
    dataset_version: Annotated[
        int | None, typer.Option(min=1, help="The dataset version (default: the newest).")
    ] = None,
    min_improvement: Annotated[
        float, typer.Option(min=0, help="Promote only when better by more than this.")
    ] = 0.0,
    holdout_fraction: Annotated[
        float,
        typer.Option(min=0.05, max=0.5, help="Share held out when new rows are too few."),
    ] = 0.2,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the held-out split.")] = 0,
    stability_runs: Annotated[
        int, typer.Option(min=1, max=10, help="Fits with different seeds, for mean ± std.")
    ] = 1,
    description: DescriptionOption = "",
    no_wait: NoWaitOption = False,
    poll_seconds: PollOption = 1.0,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Retrain NAME on newer data; promote the challenger only if METRIC improves."""
    with connect(ctx, url, api_key) as client:
        job = client.retrain(
            name,
            metric=metric,
            alias=alias,
            dataset=dataset,
            dataset_version=dataset_version,
            min_improvement=min_improvement,
            holdout_fraction=holdout_fraction,
            seed=seed,
            stability_runs=stability_runs,
            description=description,
        )
        job = _until_done(client, job, no_wait=no_wait, poll_seconds=poll_seconds, json_=json_)
        if job is None:
            return
        result = job.result or {}
        version = client.get_version(name, int(result["version"]))
    if json_:
        print_json(version)
        return
    outcome = (
        f"promoted: {alias} -> {version.version}"
        if result.get("promoted")
        else f"not promoted: {alias} stays on version {result.get('champion_version')}"
    )
    typer.echo(f"Retrained {version.model}: challenger version {version.version}, {outcome}.")
    print_report(version)


def _until_done(
    client: Client, job: JobRead, *, no_wait: bool, poll_seconds: float, json_: bool
) -> JobRead | None:
    """Follow a submitted job to its end and return it if it succeeded; exit if it did not.
    With ``no_wait``, say how to follow it and return None."""
    if no_wait:
        if json_:
            print_json(job)
        else:
            typer.echo(f"Submitted job {job.id}; follow it with: maas jobs wait {job.id}")
        return None
    job = _follow(client, job, poll_seconds=poll_seconds, quiet=json_)
    if job.status is not JobStatus.SUCCEEDED:
        if json_:
            print_json(job)
        _fail(job)
    return job


def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        JobStatus | None, typer.Option("--status", "-s", help="Only jobs in this state.")
    ] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many jobs.")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many jobs.")] = 50,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List the jobs of your tenant, newest first."""
    with connect(ctx, url, api_key) as client:
        page = client.list_jobs(status=status, offset=offset, limit=limit)
    if json_:
        print_json(page)
        return
    print_table(
        ["id", "kind", "status", "progress", "model", "message", "by", "created"],
        (
            [
                j.id,
                j.kind,
                j.status.value,
                f"{j.progress:.0%}",
                j.request.get("model", ""),
                j.message,
                j.created_by,
                when(j.created_at),
            ]
            for j in page.items
        ),
        title=f"jobs ({len(page.items)} of {page.total})",
    )


def show_job(
    ctx: typer.Context,
    job_id: JobIdArg,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show one job: status, progress, request, result and log."""
    with connect(ctx, url, api_key) as client:
        job = client.get_job(job_id)
    if json_:
        print_json(job)
        return
    _print_job(job)


def cancel_job(
    ctx: typer.Context,
    job_id: JobIdArg,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Cancel a queued job, or stop a running one."""
    with connect(ctx, url, api_key) as client:
        job = client.cancel_job(job_id)
    if json_:
        print_json(job)
        return
    typer.echo(f"Job {job.id} is {job.status.value}.")


def wait_job(
    ctx: typer.Context,
    job_id: JobIdArg,
    poll_seconds: PollOption = 1.0,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Follow a job until it ends; exit status 1 unless it succeeded."""
    with connect(ctx, url, api_key) as client:
        job = _follow(client, client.get_job(job_id), poll_seconds=poll_seconds, quiet=json_)
    if json_:
        print_json(job)
    else:
        _print_job(job, log=False)
    if job.status is not JobStatus.SUCCEEDED:
        _fail(job)


def _follow(client: Client, job: JobRead, *, poll_seconds: float, quiet: bool) -> JobRead:
    """Wait for ``job`` to end, showing a progress bar on stderr unless ``quiet``."""
    if job.status.finished:
        return job
    progress = Progress(
        TextColumn("[bold]{task.fields[status]}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        disable=quiet,
    )

    def show(current: JobRead) -> None:
        progress.update(
            task,
            completed=current.progress * 100,
            description=current.message,
            status=current.status.value,
        )

    try:
        with progress:
            task = progress.add_task(job.message, total=100, status=job.status.value)
            return client.wait_for_job(job.id, poll_seconds=poll_seconds, on_progress=show)
    except KeyboardInterrupt:
        typer.echo(
            f"Stopped following job {job.id}; it goes on. Follow it with: maas jobs wait {job.id}",
            err=True,
        )
        raise typer.Exit(130) from None


def _fail(job: JobRead) -> None:
    """The end of the job's log and ``error: <message>`` on stderr, then exit status 1."""
    tail = job.log.strip().splitlines()[-_LOG_TAIL:]
    if tail:
        typer.echo("\n".join(tail), err=True)
    typer.echo(f"error: {job.message or f'job {job.id} ended {job.status.value}'}", err=True)
    raise typer.Exit(1)


def _print_job(job: JobRead, *, log: bool = True) -> None:
    print_kv(
        [
            ("id", job.id),
            ("kind", job.kind),
            ("status", job.status.value),
            ("progress", f"{job.progress:.0%}"),
            ("message", job.message),
            ("request", job.request),
            ("result", job.result),
            ("by", job.created_by),
            ("created", when(job.created_at)),
            ("started", when(job.started_at)),
            ("finished", when(job.finished_at)),
        ],
        title=f"job {job.id}",
    )
    if log and job.log.strip():
        typer.echo(job.log.rstrip())


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that parses as JSON is taken as such (``3``, ``0.1``,
    ``true``, ``[1, 2]``), any other as a string."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidParameterError(
                f"--param must be KEY=VALUE. Got {pair!r} instead.",
                field="--param",
                expected="KEY=VALUE",
                received=pair,
            )
        try:
            params[key] = orjson.loads(text)
        except orjson.JSONDecodeError:
            params[key] = text
    return params
