"""Structured logging: one JSON object per line, with the request id when there is one."""

from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from maas.domain.request_context import request_id_var

__all__ = ["BatchingHandler", "access_sink", "configure_logging", "request_id_var"]


ACCESS_LOGGER = "maas.access"
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def _json_line(
    created: float,
    level: str,
    logger: str,
    msg: str,
    request_id: str | None,
    fields: dict[str, Any],
) -> str:
    """One log line as JSON: the keys every line has, the request id when there is one, then
    the line's own fields. ``JsonFormatter`` and the access lines of ``BatchingHandler.access``
    both write through here, so the two ways in give the same line."""
    doc: dict[str, Any] = {
        "ts": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "msg": msg,
    }
    if request_id:
        doc["request_id"] = request_id
    return orjson.dumps(doc | fields, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        values = record.__dict__
        fields = {k: values[k] for k in values.keys() - _STANDARD if not k.startswith("_")}
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return _json_line(
            record.created, record.levelname.lower(), record.name, record.getMessage(),
            request_id_var.get(), fields,
        )  # fmt: skip


class BatchingHandler(logging.Handler):
    """Writes formatted records to a stream in batches: one write for many lines.

    A write to stderr is a system call, and on a busy server the access log alone makes one per
    request (that cost more than the prediction). Lines are kept and written together when
    ``interval`` seconds have passed (a daemon thread sees to it), when ``max_lines`` are
    waiting, and at once, with everything before them, for warnings and errors. ``flush`` (and
    logging's own shutdown at exit) writes what is left.
    """

    def __init__(self, stream: TextIO, *, interval: float = 0.2, max_lines: int = 512) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self.max_lines = max_lines
        self._lines: list[str | tuple[Any, ...]] = []
        """Formatted lines, and access lines still to format (see ``access``)."""
        self._timer: threading.Thread | None = None
        self._stopping = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:  # called under self.lock
        try:
            self._lines.append(self.format(record))
            if record.levelno >= logging.WARNING or len(self._lines) >= self.max_lines:
                self._write()
            else:
                self._start_timer()
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)

    def access(
        self, method: str, path: str, status: int, duration_ms: float, request_id: str | None
    ) -> None:
        """An INFO line of the ``maas.access`` logger, without making a ``LogRecord``: the
        request middleware's way in (see ``access_sink``). The line is kept as a tuple and
        formatted when the batch is written, as ``JsonFormatter`` formats the record that
        ``RequestMiddleware`` would otherwise log (``msg`` "METHOD PATH STATUS" and the four
        fields); with any other formatter, the record is made then and formatted by it."""
        entry = (time.time(), method, path, status, duration_ms, request_id)
        with self.lock:
            self._lines.append(entry)
            if len(self._lines) >= self.max_lines:
                self._write()
            else:
                self._start_timer()

    def _start_timer(self) -> None:
        if self._timer is None:
            self._timer = threading.Thread(
                target=self._flush_forever, name="maas-log-writer", daemon=True
            )
            self._timer.start()

    def _format_access(self, entry: tuple[Any, ...]) -> str:
        created, method, path, status, duration_ms, request_id = entry
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        if isinstance(self.formatter, JsonFormatter):
            msg = f"{method} {path} {status}"
            return _json_line(created, "info", ACCESS_LOGGER, msg, request_id, fields)
        record = logging.makeLogRecord(
            {"name": ACCESS_LOGGER, "levelno": logging.INFO, "levelname": "INFO",
             "msg": "%s %s %s", "args": (method, path, status), "created": created,
             "msecs": (created - int(created)) * 1000, **fields}
        )  # fmt: skip
        return self.format(record)

    def _write(self) -> None:
        if self._lines:
            lines = [x if isinstance(x, str) else self._format_access(x) for x in self._lines]
            self.stream.write("\n".join(lines) + "\n")
            self._lines.clear()
            self.stream.flush()

    def flush(self) -> None:
        with self.lock:
            self._write()

    def close(self) -> None:
        self._stopping.set()
        self.flush()
        super().close()

    def _flush_forever(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.flush()
            except (OSError, ValueError):  # the stream went away (closed at exit)
                return


def access_sink(logger: logging.Logger) -> BatchingHandler | None:
    """The ``BatchingHandler`` that an INFO record of ``logger`` would reach, if it is the only
    place it would reach and nothing could filter it out on the way (no filters, levels that
    let INFO through): then ``BatchingHandler.access`` writes the same line as logging would,
    for a fraction of the cost. ``None`` otherwise (tests capturing logs, another
    configuration): the caller logs as usual."""
    if not logger.isEnabledFor(logging.INFO):
        return None
    found: BatchingHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if found is not None or not isinstance(handler, BatchingHandler):
                return None
            if handler.filters or handler.level > logging.INFO:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    return found


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Send the ``maas`` and ``uvicorn`` logs to stderr, as JSON lines or plain text, written
    in batches (see ``BatchingHandler``)."""
    handler = BatchingHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    for name in ("maas", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        for old in logger.handlers:
            if isinstance(old, BatchingHandler):
                old.close()
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Our own middleware logs each request; uvicorn's access log would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
