"""``maas serve``: run the server on the embedded defaults or the configured stores."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from maas.settings import load_settings

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
) -> None:
    """Start the HTTP server (REST /v1, Open Inference Protocol /v2, /docs, /metrics)."""
    import uvicorn

    from maas.api.app import create_app
    from maas.observability.logging import configure_logging

    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "data_dir": data_dir, "examples": examples}.items()
        if v is not None
    }
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, json=settings.log_json)
    started = time.perf_counter()
    typer.echo(f"maas: preparing {settings.data_dir.resolve()} ...", err=True)
    app = create_app(settings)
    startup = app.state.startup
    if startup.examples:
        typer.echo(
            f"maas: trained example models {', '.join(startup.examples)} "
            f"in {time.perf_counter() - started:.1f} s",
            err=True,
        )
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"\n  maas is serving at {url}   (API docs: {url}/docs)")
    if startup.admin_key:
        typer.echo(f"  admin API key (shown once, keep it): {startup.admin_key}")
        typer.echo(f"  try: curl -H 'Authorization: Bearer {startup.admin_key}' {url}/v1/models\n")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
