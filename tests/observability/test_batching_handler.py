"""The log handler that writes lines in batches: order kept, warnings at once, nothing lost."""

from __future__ import annotations

import io
import logging
import time

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
