"""Local administration that works on the data folder directly, without a running server."""

from __future__ import annotations

from pathlib import Path
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


def audit_verify() -> None:
    """Check the audit trail's hash chain; name the first broken record (exit 1) if any."""
    from maas.services.audit import AuditService
    from maas.store.db import Database
    from maas.store.db import migrate as run_migrations

    settings = load_settings()
    db = Database.from_settings(settings)
    run_migrations(db)
    result = AuditService(db).verify()
    db.dispose()
    if result.ok:
        typer.echo(f"audit trail intact: {result.checked} records checked")
        return
    typer.echo(
        f"audit trail BROKEN at record {result.first_broken_seq}: {result.reason} "
        f"({result.checked} records checked)",
        err=True,
    )
    raise typer.Exit(1)


def audit_export(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's records (by name)")] = None,
) -> None:
    """Write the audit trail to standard output as JSON lines (with each record's hashes)."""
    import sys

    from maas.services.audit import AuditService
    from maas.store.db import Database
    from maas.store.db import migrate as run_migrations
    from maas.store.keys import KeyRepository

    settings = load_settings()
    db = Database.from_settings(settings)
    run_migrations(db)
    tenant_id = None
    if tenant is not None:
        with db.session() as session:
            tenant_id = KeyRepository(session).get_tenant(tenant).id
    AuditService(db).export(sys.stdout, tenant_id)
    db.dispose()


def rotate_master_key(
    new_key_file: Annotated[
        Path, typer.Option(help="File holding the new master key (64 hex digits or base64)")
    ],
) -> None:
    """Re-wrap every tenant's data key under a new master key (artifacts are not rewritten).

    The current key comes from MAAS_MASTER_KEY / MAAS_MASTER_KEY_FILE (or the data folder's
    master.key). Afterwards point the servers at the new key and restart them.
    """
    from maas.store.artifacts.encryption import load_master_key
    from maas.store.artifacts.encryption import rotate_master_key as rotate
    from maas.store.db import Database
    from maas.store.db import migrate as run_migrations

    settings = load_settings()
    current_file = settings.master_key_file
    if settings.master_key is None and current_file is None and settings.embedded:
        current_file = settings.data_dir / "master.key"
    old = load_master_key(settings.master_key, current_file)
    new = load_master_key(None, new_key_file)
    if old is None or new is None:
        typer.echo("error: no current master key is configured", err=True)
        raise typer.Exit(1)
    db = Database.from_settings(settings)
    run_migrations(db)
    count = rotate(db, old_master=old, new_master=new)
    db.dispose()
    typer.echo(f"re-wrapped {count} data keys; now start the servers with the new key")


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("recover-admin-key")(recover_admin_key)
    app.command("rotate-master-key")(rotate_master_key)
    audit = typer.Typer(help="The tamper-evident audit trail (run on the server's machine).")
    audit.command("verify")(audit_verify)
    audit.command("export")(audit_export)
    app.add_typer(audit, name="audit")
