"""``maas keys ...``: the tenant's API keys, over the SDK (needs an admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from maas.cli._output import print_json, print_table, when
from maas.cli._remote import DEFAULT_URL, ApiKeyOption, JsonFlag, UrlOption, connect
from maas.domain.roles import Role

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``keys`` command group to ``app``."""
    keys = typer.Typer(help="API keys of your tenant (admin keys only).", no_args_is_help=True)
    keys.command("list")(list_keys)
    keys.command("create")(create_key)
    keys.command("revoke")(revoke_key)
    app.add_typer(keys, name="keys")


def list_keys(
    ctx: typer.Context,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List the API keys (never their secrets)."""
    with connect(ctx, url, api_key) as client:
        keys = client.list_keys()
    if json_:
        print_json(keys)
        return
    print_table(
        ["id", "name", "role", "prefix", "created", "expires", "revoked", "last used"],
        (
            [
                k.id,
                k.name,
                k.role.value,
                k.prefix,
                when(k.created_at),
                when(k.expires_at),
                when(k.revoked_at),
                when(k.last_used_at),
            ]
            for k in keys
        ),
    )


def _parse_when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"expected an ISO 8601 date or time such as 2030-01-31 or 2030-01-31T12:00Z. "
            f"Got {value!r} instead."
        ) from exc
    # A time without an offset is read as UTC, so the key expires at the same instant wherever
    # the command runs.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def create_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for.", show_default=False)],
    role: Annotated[Role, typer.Option(help="What the key may do.")] = Role.CONSUMER,
    expires: Annotated[
        datetime | None,
        typer.Option(
            parser=_parse_when,
            metavar="ISO",
            help="When the key stops working (ISO 8601; UTC unless an offset is given).",
        ),
    ] = None,
    json_: JsonFlag = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Create an API key. Its secret is printed once and never shown again."""
    with connect(ctx, url, api_key) as client:
        created = client.create_key(name, role=role, expires_at=expires)
    if json_:
        print_json(created)
        return
    typer.echo(
        f"Created key {created.id} ({created.name}, {created.role.value}). "
        "Store it now: it is not shown again.",
        err=True,
    )
    typer.echo(created.key)


def revoke_key(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id.", show_default=False)],
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Revoke an API key at once."""
    with connect(ctx, url, api_key) as client:
        client.revoke_key(key_id)
    typer.echo(f"Revoked key {key_id}.")
