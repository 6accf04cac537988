"""The ``maas`` command: ``create_cli()`` assembles it from its command modules.

Remote commands (``info``, ``models``, ``datasets``, ``train``, ``jobs``, ``predict``,
``drift``, ``traffic``, ``feedback``, ``monitoring``, ..., ``keys``) talk to a server through
the SDK; local ones (``serve``, ``migrate``, ...) work on the data folder through the
services. Nothing is built at import time: ``main()`` builds the
app on each run, as tests do.
"""

from __future__ import annotations

from typing import Annotated

import typer

from maas.cli import admin, datasets, info, jobs, keys, models, monitoring, predict, serve
from maas.client._base import package_version

__all__ = ["create_cli", "main"]


def create_cli() -> typer.Typer:
    """Build the ``maas`` command with every command group registered.

    Tests pass ``obj=CliState(client_factory=...)`` to ``CliRunner.invoke`` to choose the client
    the remote commands use (see ``maas.cli._remote``).
    """
    app = typer.Typer(
        name="maas",
        help="Model-as-a-Service: register, serve and predict with models.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals would print the API key
    )
    app.callback()(_root)
    for module in (info, models, datasets, jobs, predict, monitoring, keys):
        module.register(app)
    _register_local_commands(app)
    return app


def _register_local_commands(app: typer.Typer) -> None:
    """The local admin commands, which work without a server."""
    serve.register(app)
    admin.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"maas {package_version()}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Model-as-a-Service: register, serve and predict with models."""


def main() -> None:
    """Run the ``maas`` command (the console script and ``python -m maas``)."""
    create_cli()(prog_name="maas")
