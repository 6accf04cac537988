"""``maas serve``: run the server on the embedded defaults or the configured stores.

One process by default. With ``--workers N`` (``MAAS_WORKERS``): the work of a start
(migrations, the first admin key, the example models) runs once, in a child process, then
uvicorn starts N worker processes that share the port and the registry; each builds the app
with ``maas.api.app.worker_app``, keeps its own model cache (warmed with the ``production``
versions) and its own rate limits, and one of them runs the background jobs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from maas.settings import Settings, export_settings, load_settings

__all__ = ["register"]


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder (default ./maas-data or MAAS_DATA_DIR)")
    ] = None,
    examples: Annotated[
        bool | None,
        typer.Option("--examples/--no-examples", help="Train the example models at first start"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes sharing the port (default 1, or MAAS_WORKERS)"),
    ] = None,
) -> None:
    """Start the HTTP server (REST /v1, Open Inference Protocol /v2, /docs, /metrics)."""
    import uvicorn

    from maas.observability.logging import configure_logging

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "examples": examples,
            "workers": workers,
        }.items()
        if v is not None
    }
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, json=settings.log_json)
    started = time.perf_counter()
    typer.echo(f"maas: preparing {settings.data_dir.resolve()} ...", err=True)
    if settings.workers > 1:
        admin_key, trained = _bootstrap_in_child(settings)
        _greet(settings, admin_key, trained, started)
        export_settings(overrides)  # the workers load the same settings
        uvicorn.run(
            "maas.api.app:worker_app",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
        return
    from maas.api.app import create_app, tune_for_serving

    app = create_app(settings)
    _greet(settings, app.state.startup.admin_key, app.state.startup.examples, started)
    tune_for_serving(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def _greet(settings: Settings, admin_key: str | None, trained: list[str], started: float) -> None:
    if trained:
        typer.echo(
            f"maas: trained example models {', '.join(trained)} "
            f"in {time.perf_counter() - started:.1f} s",
            err=True,
        )
    url = f"http://{settings.host}:{settings.port}"
    workers = f" with {settings.workers} workers" if settings.workers > 1 else ""
    typer.echo(f"\n  maas is serving at {url}{workers}   (API docs: {url}/docs)")
    if admin_key:
        typer.echo(f"  admin API key (shown once, keep it): {admin_key}")
        typer.echo(f"  try: curl -H 'Authorization: Bearer {admin_key}' {url}/v1/models\n")


def _bootstrap_in_child(settings: Settings) -> tuple[str | None, list[str]]:
    """Run ``maas.api.app.bootstrap`` in a child process, so that the supervisor of the
    workers does not import the server (libraries, models) and stays small. Returns the new
    admin key (if one was made) and the example models trained."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_bootstrap, settings).result()


def _bootstrap(settings: Settings) -> tuple[str | None, list[str]]:
    # Plain values come back: unpickling a ``Startup`` would import the server in the parent.
    from maas.api.app import bootstrap
    from maas.observability.logging import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)
    startup = bootstrap(settings)
    return startup.admin_key, list(startup.examples)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
