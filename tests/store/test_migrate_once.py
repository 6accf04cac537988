"""Migrations at start: a database already at the newest revision costs one query, no Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from maas.store import db as db_module
from maas.store.db import Database, migrate


def test_head_read_from_the_scripts_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(db_module.__file__).parent / "migrations"))
    assert db_module._head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_database_at_the_head_is_not_migrated_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'maas.db'}"
    database = Database(url)
    migrate(database)
    database.dispose()
    code = (
        "import sys\n"
        "from maas.store.db import Database, migrate\n"
        f"migrate(Database({url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"
