"""Local administration that works on the data folder directly, without a running server."""

from __future__ import annotations

from typing import Annotated

import typer

from maas.settings import load_settings

__all__ = ["register"]


def migrate() -> None:
    """Bring the registry database to the newest schema (the server also does it at start)."""
    from maas.store.db import Database
    from maas.store.db import migrate as run_migrations

    settings = load_settings()
    db = Database.from_settings(settings)
    run_migrations(db)
    db.dispose()
    typer.echo(f"database at {db.url.split('@')[-1]} is up to date")


def recover_admin_key(
    name: Annotated[str, typer.Option(help="Name of the new key")] = "admin-recovered",
) -> None:
    """Create a new admin key straight in the database (when every admin key is lost)."""
    from maas.domain.principal import Principal
    from maas.domain.roles import Role
    from maas.services.keys import KeyService
    from maas.store.db import Database
    from maas.store.db import migrate as run_migrations

    settings = load_settings()
    db = Database.from_settings(settings)
    run_migrations(db)
    keys = KeyService(db)
    first = keys.ensure_bootstrap(None)
    if first is not None:  # there was no admin key at all: this is the first one
        db.dispose()
        typer.echo(first)
        return
    tenant = keys.default_tenant()
    system = Principal("local-admin", "local-admin", Role.ADMIN, tenant.id, tenant.name)
    created = keys.create_key(system, name=name, role=Role.ADMIN)
    db.dispose()
    typer.echo(created.key)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("recover-admin-key")(recover_admin_key)
