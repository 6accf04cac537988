"""The prediction log: logged predictions per model version, their feedback, and retention."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Text, and_, bindparam, cast, delete, func, insert, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from maas.store.tables import ModelRow, PredictionLogRow

__all__ = [
    "LOG_COLUMNS",
    "LoggedRecord",
    "PredictionLogRepository",
    "insert_log_rows",
    "prune_log",
]


@dataclass(frozen=True, slots=True)
class LoggedRecord:
    """One logged prediction (or sampled input row)."""

    id: str
    model: str
    version: int
    at: datetime
    request_id: str | None
    latency_ms: float
    inputs: dict[str, Any] | None
    output: dict[str, Any] | None
    actual: Any
    actual_at: datetime | None


_COLUMNS = (
    PredictionLogRow.id,
    ModelRow.name,
    PredictionLogRow.version,
    PredictionLogRow.at,
    PredictionLogRow.request_id,
    PredictionLogRow.latency_ms,
    PredictionLogRow.inputs,
    PredictionLogRow.output,
    PredictionLogRow.actual,
    PredictionLogRow.actual_at,
)


def _records(rows: Iterable[Sequence[Any]]) -> list[LoggedRecord]:
    return [LoggedRecord(*row) for row in rows]


class PredictionLogRepository:
    """Reads the log of one tenant's models and records feedback on it."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _select(self, model_id: int | None = None) -> Any:
        stmt = (
            select(*_COLUMNS)
            .join(ModelRow, ModelRow.id == PredictionLogRow.model_id)
            .where(PredictionLogRow.tenant_id == self.tenant_id)
        )
        if model_id is not None:
            stmt = stmt.where(PredictionLogRow.model_id == model_id)
        return stmt

    def recent(
        self,
        model_id: int,
        *,
        version: int | None = None,
        since: datetime | None = None,
        after: tuple[datetime, str] | None = None,
        inputs: bool | None = None,
        output: bool | None = None,
        feedback: bool | None = None,
        limit: int = 1000,
        oldest_first: bool = False,
    ) -> list[LoggedRecord]:
        """Logged rows of a model (one version if given), newest first unless
        ``oldest_first``. ``since`` is inclusive; ``after`` (a time and an id) keeps the rows
        after that one in (time, id) order, the order ``oldest_first`` gives; ``inputs``,
        ``output`` and ``feedback`` keep only rows with (True) or without (False) them."""
        stmt = self._select(model_id)
        if version is not None:
            stmt = stmt.where(PredictionLogRow.version == version)
        if since is not None:
            stmt = stmt.where(PredictionLogRow.at >= since)
        if after is not None:  # (time, id): rows of one request share their time
            at, last_id = after
            stmt = stmt.where(
                or_(
                    PredictionLogRow.at > at,
                    and_(PredictionLogRow.at == at, PredictionLogRow.id > last_id),
                )
            )
        for flag, column in (
            (inputs, PredictionLogRow.inputs),
            (output, PredictionLogRow.output),
            (feedback, PredictionLogRow.actual),
        ):
            if flag is not None:
                stmt = stmt.where(column.is_not(None) if flag else column.is_(None))
        if oldest_first:
            stmt = stmt.order_by(PredictionLogRow.at.asc(), PredictionLogRow.id.asc())
        else:
            stmt = stmt.order_by(PredictionLogRow.at.desc(), PredictionLogRow.id.desc())
        stmt = stmt.limit(limit)
        return _records(self.session.execute(stmt).all())

    def latest_version(self, model_id: int, *, since: datetime | None = None) -> int | None:
        """The version that answered the model's most recent logged prediction."""
        stmt = select(PredictionLogRow.version).where(PredictionLogRow.model_id == model_id)
        if since is not None:
            stmt = stmt.where(PredictionLogRow.at >= since)
        return self.session.scalar(stmt.order_by(PredictionLogRow.at.desc()).limit(1))

    def find(self, ids: Sequence[str]) -> dict[str, LoggedRecord]:
        """The logged predictions (with an output) among ``ids``, by id."""
        found: dict[str, LoggedRecord] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            stmt = self._select().where(
                PredictionLogRow.id.in_(chunk), PredictionLogRow.output.is_not(None)
            )
            found.update((r.id, r) for r in _records(self.session.execute(stmt).all()))
        return found

    def set_actuals(self, actuals: Sequence[tuple[str, Any]], at: datetime) -> None:
        """Record the actual outcome of each (prediction id, actual); the last one wins."""
        for prediction_id, actual in actuals:
            self.session.execute(
                update(PredictionLogRow)
                .where(
                    PredictionLogRow.id == prediction_id,
                    PredictionLogRow.tenant_id == self.tenant_id,
                )
                .values(actual=actual, actual_at=at)
            )


LOG_COLUMNS = ("id", "tenant_id", "model_id", "version", "at", "request_id", "latency_ms",
               "inputs", "output")  # fmt: skip
"""The keys of a row for ``insert_log_rows`` (the feedback columns start out null)."""

_PREPARED: dict[tuple[str, str], tuple[str, bool, Any]] = {}
_ROWS_PER_STATEMENT = 100
"""Rows of one multi-row ``INSERT`` on drivers with positional parameters (SQLite): 900
parameters, under the 999 of the oldest SQLite builds."""


def _prepared(dialect: Dialect) -> tuple[str, bool, Any]:
    """The dialect's SQL for inserting ``LOG_COLUMNS``, whether it takes positional
    parameters, and the bind processor of ``at``. The JSON columns take JSON text the caller
    serialised already (once per row, with orjson); PostgreSQL is told the text is JSON,
    SQLite stores JSON as text anyway. Kept per database and driver (drivers of one database
    differ in parameter style)."""
    key = (dialect.name, dialect.driver)
    found = _PREPARED.get(key)
    if found is None:
        table = PredictionLogRow.__table__
        values: dict[str, Any] = {}
        for name in LOG_COLUMNS:
            column = table.c[name]
            if isinstance(column.type, JSON):
                text = bindparam(name, type_=Text())
                values[name] = cast(text, column.type) if dialect.name == "postgresql" else text
            else:
                values[name] = bindparam(name, type_=column.type)
        compiled = insert(table).values(values).compile(dialect=dialect)
        if compiled.positional:
            assert tuple(compiled.positiontup or ()) == LOG_COLUMNS
        processor = table.c["at"].type.bind_processor(dialect)
        found = _PREPARED[key] = (str(compiled), compiled.positional, processor)
    return found


def insert_log_rows(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert prepared rows: tuples in ``LOG_COLUMNS`` order, with ``inputs`` and ``output``
    as JSON text (or ``None``). The rows are already what the database takes, so
    SQLAlchemy's per-row parameter processing (most of the cost of writing the log) is
    skipped; only ``at`` goes through its column type, once for each run of rows that share
    it (the rows of one request).

    Drivers with positional parameters (SQLite) get multi-row ``INSERT`` statements of
    ``_ROWS_PER_STATEMENT`` rows (the rest in powers of two, see ``_multi_row``).
    ``executemany`` steps SQLite once per row, letting go of the interpreter lock and taking it
    back each time, and each time back it may wait for the thread serving requests to yield it
    (up to the 5 ms switch interval when that thread is busy). In
    ``benchmarks/prediction_log_writes.py``, 9,000 rows take 0.04–0.09 s either way on an idle
    interpreter, but beside a thread running Python without a pause 0.6 s with these
    statements and 4–42 s with ``executemany``. Other drivers get one ``executemany`` per
    5,000 rows (psycopg pipelines it)."""
    connection = session.connection()
    sql, positional, processor = _prepared(connection.dialect)
    last_at: Any = None
    bound: Any = None
    params: list[Any] = []
    for row in rows:
        at = row[4]
        if at is not last_at:
            last_at, bound = at, (processor(at) if processor is not None else at)
        values = (*row[:4], bound, *row[5:])
        params.append(values if positional else dict(zip(LOG_COLUMNS, values, strict=True)))
    if not positional:
        for start in range(0, len(params), 5000):
            connection.exec_driver_sql(sql, params[start : start + 5000])
        return
    start = 0
    while start < len(params):
        left = len(params) - start
        size = _ROWS_PER_STATEMENT if left >= _ROWS_PER_STATEMENT else 1 << (left.bit_length() - 1)
        chunk = params[start : start + size]
        connection.exec_driver_sql(
            _multi_row(sql, size), tuple(itertools.chain.from_iterable(chunk))
        )
        start += size


@cache
def _multi_row(sql: str, rows: int) -> str:
    """``sql`` (a one-row ``INSERT ... VALUES (...)``) for ``rows`` rows. Rows go in statements
    of ``_ROWS_PER_STATEMENT`` rows and, for the rest, of powers of two: eight shapes in all,
    so that the driver's cache of prepared statements (128 a connection in ``sqlite3``) does
    not fill up with one shape per remainder, each holding SQLite's compiled program."""
    head, _, group = sql.partition(" VALUES ")
    return f"{head} VALUES {', '.join([group] * rows)}"


def prune_log(session: Session, *, max_rows: int, older_than: datetime) -> int:
    """Keep at most ``max_rows`` rows per model version and none older than ``older_than``;
    returns how many rows were deleted."""
    removed = (
        session.execute(delete(PredictionLogRow).where(PredictionLogRow.at < older_than)).rowcount
        or 0
    )
    crowded = session.execute(
        select(PredictionLogRow.model_id, PredictionLogRow.version)
        .group_by(PredictionLogRow.model_id, PredictionLogRow.version)
        .having(func.count() > max_rows)
    ).all()
    for model_id, version in crowded:
        # the newest row to delete, in (time, id) order: rows of one request share a time
        cutoff = session.execute(
            select(PredictionLogRow.at, PredictionLogRow.id)
            .where(PredictionLogRow.model_id == model_id, PredictionLogRow.version == version)
            .order_by(PredictionLogRow.at.desc(), PredictionLogRow.id.desc())
            .offset(max_rows)
            .limit(1)
        ).first()
        if cutoff is not None:
            at, last_id = cutoff
            removed += (
                session.execute(
                    delete(PredictionLogRow).where(
                        PredictionLogRow.model_id == model_id,
                        PredictionLogRow.version == version,
                        or_(
                            PredictionLogRow.at < at,
                            and_(PredictionLogRow.at == at, PredictionLogRow.id <= last_id),
                        ),
                    )
                ).rowcount
                or 0
            )
    return int(removed)
