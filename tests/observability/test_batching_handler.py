"""The log handler that writes lines in batches: order kept, warnings at once, nothing lost."""

from __future__ import annotations

import io
import logging
import time
from datetime import datetime, timedelta

import orjson

from maas.observability.logging import BatchingHandler, JsonFormatter


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def make_logger(stream: io.StringIO, **kwargs: float) -> tuple[logging.Logger, BatchingHandler]:
    handler = BatchingHandler(stream, **kwargs)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"maas.test.batching.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, handler


def test_lines_are_written_together_and_in_order() -> None:
    stream = CountingStream()
    logger, handler = make_logger(stream, interval=3600)
    for i in range(5):
        logger.info("line %d", i, extra={"n": i})
    assert stream.getvalue() == ""  # kept until the interval or a flush
    handler.flush()
    lines = [orjson.loads(x) for x in stream.getvalue().splitlines()]
    assert [x["n"] for x in lines] == [0, 1, 2, 3, 4]
    assert stream.writes == 1
    handler.close()


def test_a_warning_writes_everything_before_it_at_once() -> None:
    stream = CountingStream()
    logger, handler = make_logger(stream, interval=3600)
    logger.info("first")
    logger.warning("then this")
    messages = [orjson.loads(x)["msg"] for x in stream.getvalue().splitlines()]
    assert messages == ["first", "then this"]
    handler.close()


def test_lines_are_written_within_the_interval() -> None:
    stream = CountingStream()
    logger, handler = make_logger(stream, interval=0.01)
    logger.info("soon")
    deadline = time.monotonic() + 10
    while "soon" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "soon" in stream.getvalue()
    handler.close()


def test_a_full_batch_is_written_without_waiting() -> None:
    stream = CountingStream()
    logger, handler = make_logger(stream, interval=3600, max_lines=3)
    for i in range(7):
        logger.info("n%d", i)
    assert len(stream.getvalue().splitlines()) == 6
    assert stream.writes == 2
    handler.close()
    assert len(stream.getvalue().splitlines()) == 7


# access lines: written without a LogRecord when nothing else would see them -----------------


def access_logger(stream: io.StringIO) -> tuple[logging.Logger, BatchingHandler]:
    """``<parent>.access`` under a parent that holds the handler, as ``configure_logging``
    sets up ``maas`` and ``maas.access``."""
    parent, handler = make_logger(stream, interval=3600)
    return logging.getLogger(parent.name + ".access"), handler


def test_an_access_line_is_the_line_logging_would_write() -> None:
    from maas.observability.logging import ACCESS_LOGGER, request_id_var

    stream = io.StringIO()
    logger, handler = access_logger(stream)
    fields = {"method": "POST", "path": "/v1/models/m/predict", "status": 200,
              "duration_ms": 0.412}  # fmt: skip
    token = request_id_var.set("rid-1")
    try:
        logger.info("%s %s %s", "POST", "/v1/models/m/predict", 200, extra=fields)
    finally:
        request_id_var.reset(token)
    handler.access("POST", "/v1/models/m/predict", 200, 0.412, "rid-1")
    handler.flush()
    logged, fast = (orjson.loads(x) for x in stream.getvalue().splitlines())
    assert fast.pop("logger") == ACCESS_LOGGER
    del logged["logger"]  # the test logger's name
    assert abs(
        datetime.fromisoformat(fast.pop("ts")) - datetime.fromisoformat(logged.pop("ts"))
    ) < timedelta(seconds=5)
    assert fast == logged
    assert fast["msg"] == "POST /v1/models/m/predict 200"
    assert fast["request_id"] == "rid-1"
    handler.close()


def test_access_lines_keep_their_place_among_other_lines() -> None:
    stream = io.StringIO()
    logger, handler = access_logger(stream)
    logger.info("before")
    handler.access("GET", "/v1/models", 200, 1.0, None)
    logger.warning("after")  # writes everything before it at once
    lines = [orjson.loads(x) for x in stream.getvalue().splitlines()]
    assert [x["msg"] for x in lines] == ["before", "GET /v1/models 200", "after"]
    assert "request_id" not in lines[1]
    handler.close()


def test_access_lines_with_a_text_formatter() -> None:
    stream = io.StringIO()
    logger, handler = access_logger(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(status)s"))
    handler.access("GET", "/v1/models", 404, 1.0, None)
    handler.flush()
    assert stream.getvalue() == "INFO maas.access GET /v1/models 404 404\n"
    handler.close()


def test_access_sink_only_when_the_handler_is_the_only_reader() -> None:
    from maas.observability.logging import access_sink

    stream = io.StringIO()
    logger, handler = access_logger(stream)
    parent = logger.parent
    assert parent is not None
    assert access_sink(logger) is handler
    parent.setLevel(logging.WARNING)
    assert access_sink(logger) is None  # INFO would not be logged at all
    parent.setLevel(logging.INFO)
    other = logging.StreamHandler(io.StringIO())
    parent.addHandler(other)
    assert access_sink(logger) is None  # another handler would see the record
    parent.removeHandler(other)
    only_errors = logging.Filter("nothing")
    handler.addFilter(only_errors)
    assert access_sink(logger) is None  # a filter might drop it
    handler.removeFilter(only_errors)
    parent.propagate = True
    assert access_sink(logger) is None  # the root logger's handlers (pytest's) would see it
    parent.propagate = False
    assert access_sink(logger) is handler
    handler.close()
