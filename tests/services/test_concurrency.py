"""The registry stays consistent under concurrent writers (SQLite WAL and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from maas.api.app import create_app
from maas.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.factories import register, system_principal, tool_life_model


def test_concurrent_registrations_and_alias_moves(tmp_path: Path, database_url: str | None) -> None:
    app = create_app(
        Settings(
            data_dir=tmp_path / "data",
            examples=False,
            admin_key=ADMIN_KEY,
            database_url=database_url,
        )
    )
    trained = tool_life_model()
    registry = app.state.services.registry
    who = system_principal(app)
    register(app, "tool-life", trained)

    def work(i: int) -> int:
        version = register(app, "tool-life", trained, alias=None).version
        registry.set_alias(who, "tool-life", "production", version)
        registry.set_alias(who, "tool-life", f"line-{i % 3}", version)
        return version

    from maas.errors import ConflictError

    numbers: list[int] = []
    with ThreadPoolExecutor(max_workers=6) as pool:
        for attempt in pool.map(lambda i: _retrying(work, i, ConflictError), range(18)):
            numbers.append(attempt)
    versions = [v.version for v in registry.list_versions(who, "tool-life")]
    assert versions == list(range(1, 20))
    assert sorted(numbers) == list(range(2, 20))
    aliases = {a.alias: a.version for a in registry.list_aliases(who, "tool-life")}
    assert set(aliases) == {"production", "line-0", "line-1", "line-2"}
    history = registry.alias_history(who, "tool-life", "production")
    assert history[-1].to_version == aliases["production"]
    app.state.services.close()


def _retrying(fn, arg, retry_on, attempts: int = 5):  # type: ignore[no-untyped-def]
    # Two writers can race for the same version number on PostgreSQL; the loser gets a
    # ConflictError that names the retry. The registry itself never ends up inconsistent.
    for _ in range(attempts - 1):
        try:
            return fn(arg)
        except retry_on:
            continue
    return fn(arg)
