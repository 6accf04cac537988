"""How fast the prediction log's rows reach SQLite, with the server's thread busy or not.

    python benchmarks/prediction_log_writes.py [--rows 9000] [--repeat 3]

Writes ``--rows`` prepared log rows (what the flusher writes for that many single-row
predictions) into a fresh SQLite file twice: with ``store.prediction_log.insert_log_rows`` (one
multi-row ``INSERT`` per 100 rows) and, as the in-process baseline, with the driver's
``executemany`` of the one-row ``INSERT`` (what ``insert_log_rows`` did before). Each is timed
on an idle interpreter and beside a thread that runs Python without a pause, as the thread
serving requests does under load: a driver call lets go of the interpreter lock, and each time
the writer wants it back it may wait for that thread to yield it. Prints the seconds of each
and the ratio; the best of ``--repeat`` runs each.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from maas.store.prediction_log import _prepared, insert_log_rows
from maas.store.tables import Base

OUTPUT = '{"prediction":"0","probabilities":{"0":0.999123,"1":0.000877}}'


def log_rows(tag: str, n: int) -> list[tuple[Any, ...]]:
    at = datetime.now(UTC)
    return [(f"{tag}-{i}", "tenant", 1, 1, at, "request", 0.42, None, OUTPUT) for i in range(n)]


def executemany(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """The baseline: the driver's executemany of the one-row INSERT."""
    connection = session.connection()
    sql, _, processor = _prepared(connection.dialect)
    connection.exec_driver_sql(sql, [(*r[:4], processor(r[4]), *r[5:]) for r in rows])


class Busy:
    """A thread running Python without a pause (it never waits on I/O or a lock)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        while not self._stop.is_set():
            sum(range(3000))

    def __enter__(self) -> Busy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def best_seconds(
    engine: Engine, write: Callable[[Session, Sequence[tuple[Any, ...]]], None], rows: int,
    repeat: int, tag: str,
) -> float:  # fmt: skip
    best = float("inf")
    for run in range(repeat):
        batch = log_rows(f"{tag}{run}", rows)
        started = time.perf_counter()
        with Session(engine) as session, session.begin():
            write(session, batch)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=9_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'log.db'}")
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        Base.metadata.create_all(engine)
        print(f"{args.rows:,} log rows into SQLite, best of {args.repeat}")
        for busy in (False, True):
            with Busy() if busy else contextlib.nullcontext():
                ours = best_seconds(engine, insert_log_rows, args.rows, args.repeat, f"o{busy}")
                base = best_seconds(engine, executemany, args.rows, args.repeat, f"b{busy}")
            where = "beside a busy thread" if busy else "idle interpreter    "
            print(f"  {where}: insert_log_rows {ours:8.3f} s   executemany {base:8.3f} s   "
                  f"executemany / insert_log_rows {base / ours:6.1f}x")  # fmt: skip
        engine.dispose()


if __name__ == "__main__":
    main()
