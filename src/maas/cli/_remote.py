"""What every remote command shares: the connection options, the client factory, and turning
errors into ``error: ...`` on stderr with exit status 1.

The client is built by ``CliState.client_factory``, found on the click context. ``main()``
leaves the context empty, so ``ensure_object`` makes the default state (the real ``Client``);
tests pass ``obj=CliState(client_factory=...)`` to ``CliRunner.invoke`` to send through an
``httpx.MockTransport`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, TypeAlias

import httpx
import typer

from maas.cli._output import print_error
from maas.client import Client
from maas.errors import AuthenticationError, MaasError

__all__ = [
    "DEFAULT_URL",
    "ApiKeyOption",
    "CliState",
    "ClientFactory",
    "JsonFlag",
    "UrlOption",
    "connect",
    "reporting_errors",
]

DEFAULT_URL = "http://127.0.0.1:8000"

ClientFactory: TypeAlias = Callable[[str, str | None], Client]
"""Builds the SDK client from the server URL and the API key."""

_CONNECTION = "Connection"

UrlOption = Annotated[
    str,
    typer.Option(
        "--url", envvar="MAAS_URL", help="The server's base URL.", rich_help_panel=_CONNECTION
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="MAAS_API_KEY",
        help="The API key; prefer the environment variable, which stays out of shell history.",
        show_default=False,
        rich_help_panel=_CONNECTION,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass(frozen=True, slots=True)
class CliState:
    """The CLI's collaborators, carried on the click context (``ctx.obj``)."""

    client_factory: ClientFactory = Client


@contextmanager
def reporting_errors(url: str, *, api_key_given: bool = True) -> Iterator[None]:
    """Turn ``MaasError`` and connection failures into a message on stderr and exit status 1."""
    try:
        yield
    except AuthenticationError as exc:
        hint = None if api_key_given else "set MAAS_API_KEY or pass --api-key"
        print_error(exc, hint=hint)
        raise typer.Exit(1) from None
    except MaasError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    except httpx.ConnectError as exc:
        typer.echo(f"error: the server is not reachable at {url} ({exc})", err=True)
        raise typer.Exit(1) from None
    except httpx.TimeoutException:
        typer.echo(f"error: the server at {url} did not answer in time", err=True)
        raise typer.Exit(1) from None
    except httpx.TransportError as exc:
        typer.echo(f"error: cannot talk to the server at {url} ({exc})", err=True)
        raise typer.Exit(1) from None


@contextmanager
def connect(ctx: typer.Context, url: str, api_key: str | None) -> Iterator[Client]:
    """A client for the command's body; any error inside is reported, then exit status 1."""
    state = ctx.ensure_object(CliState)
    with reporting_errors(url, api_key_given=bool(api_key)):
        with state.client_factory(url, api_key) as client:
            yield client
