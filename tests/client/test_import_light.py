"""Importing the SDK must not drag in the server's stack (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "sklearn",
    "lightgbm",
    "onnxruntime",
    "onnx",
    "pandas",
    "numpy",
    "uvicorn",
    "typer",
]


@pytest.mark.parametrize("module", ["maas", "maas.client"])
def test_import_sdk_leaves_the_server_stack_out(module):
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []
