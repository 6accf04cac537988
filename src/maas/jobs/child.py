"""What runs inside a job's child process: the kind's work function, with progress reports.

The child gets plain data (the job's request and a work folder holding its inputs) and sends
messages back over a pipe: ``("progress", fraction, message)``, ``("log", line)``, then
``("done", result)`` or ``("error", code, message)``. It never touches the database: the parent
owns every write, so a killed child leaves nothing half-written.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from maas.errors import MaasError

__all__ = ["Progress", "WorkFunction", "child_main"]

Progress = Callable[[float, str], None]
"""Report progress: a fraction in [0, 1] and a short message for people."""

WorkFunction = Callable[[dict[str, Any], Path, Progress], dict[str, Any]]
"""A kind's work: (request, work folder, progress) → result (JSON-able; big outputs as files
in the work folder, named in the result)."""


def child_main(kind: str, request: dict[str, Any], workdir: str, conn: Connection) -> None:
    """Entry point of the child process (spawned, so nothing is inherited but arguments)."""
    from maas.jobs.kinds import work_function

    def progress(fraction: float, message: str) -> None:
        conn.send(("progress", max(0.0, min(1.0, float(fraction))), str(message)[:500]))

    try:
        result = work_function(kind)(request, Path(workdir), progress)
    except MaasError as exc:
        conn.send(("error", exc.code, exc.message))
    except Exception as exc:  # noqa: BLE001 - anything else ends the job with its message
        conn.send(("log", traceback.format_exc()[-4000:]))
        conn.send(("error", "job_failed", f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(("done", result))
    finally:
        conn.close()
