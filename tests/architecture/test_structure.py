"""Meta-tests on the code base itself: layers, error table, module names, configuration."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from maas import errors
from maas.api.problems import STATUS, status_of
from maas.settings import Settings

SRC = Path(__file__).resolve().parents[2] / "src" / "maas"


def test_import_layers_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install 'maas[dev]')")
    result = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [str(lint), "--no-cache"],
        cwd=SRC.parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_error_has_a_unique_code_and_a_status() -> None:
    classes = errors.all_error_classes()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
    for cls in classes:
        instance = cls("x") if cls is not errors.RateLimitedError else cls("x", retry_after=1)
        assert 400 <= status_of(instance) <= 599
    assert set(STATUS) <= set(classes)
    assert set(errors.__all__) >= {cls.__name__ for cls in classes}


def test_no_grab_bag_modules() -> None:
    bad = [p for p in SRC.rglob("*.py") if p.stem in {"utils", "helpers", "misc", "common", "util"}]
    assert bad == []


def test_environment_is_read_only_in_settings() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "settings.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                if isinstance(node.value, ast.Name) and node.value.id == "os":
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def test_no_pickle_anywhere() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in {"pickle", "joblib", "cloudpickle", "dill"} for n in names):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_every_setting_is_documented() -> None:
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undocumented == []


def test_every_module_opens_with_a_docstring() -> None:
    missing = []
    for path in SRC.rglob("*.py"):
        if path.name == "__init__.py" and not path.read_text().strip():
            continue
        if ast.get_docstring(ast.parse(path.read_text())) is None:
            missing.append(str(path.relative_to(SRC)))
    assert missing == []


def test_configuration_page_lists_every_setting() -> None:
    page = (SRC.parents[1] / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"MAAS_{name.upper()}" not in page]
    assert missing == []
