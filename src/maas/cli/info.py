"""``maas info``: which server the CLI talks to, and as whom."""

from __future__ import annotations

import typer

from maas.cli._output import print_json, print_kv
from maas.cli._remote import DEFAULT_URL, ApiKeyOption, JsonFlag, UrlOption, connect

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``info`` command to ``app``."""
    app.command("info")(info)


def info(
    ctx: typer.Context,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show the server's version, formats and templates, and your key's tenant and role."""
    with connect(ctx, url, api_key) as client:
        server = client.info()
    if json_:
        print_json(server)
        return
    print_kv(
        [
            ("server", f"{server.name} {server.version}"),
            ("url", url),
            ("tenant", server.tenant),
            ("role", server.role),
            ("formats", ", ".join(server.formats)),
            ("templates", ", ".join(server.templates)),
        ]
    )
