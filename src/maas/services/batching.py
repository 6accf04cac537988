"""Adaptive micro-batching: concurrent small predictions of one model version run as one call.

Like Triton's dynamic batcher, per batch key (a model version, with or without explanations):
the first request opens a batch; requests that arrive while it is open join it; it runs once
``max_size`` rows have gathered or ``max_wait_us`` has passed, and each request gets its own
slice of the answer (predictions, probabilities, contributions, ...).

What makes it adaptive, so that a lone request never waits:

- A request about to join yields to the event loop once, so that requests whose bytes arrived
  in the same turn reach the batcher too (this is where concurrent requests meet; it costs
  microseconds).
- The batcher counts requests that are between that yield and joining. When none is left, the
  open batches run at once: nobody else is coming soon, so waiting would only add latency. The
  timer (``max_wait_us``) only matters while others are known to be on their way.

A batch runs on the event loop when it is cheap (the caller's ``inline`` says so for a number of
rows) and on a worker thread otherwise. If a batch fails, its requests are run one by one, so an
error reaches only the request that caused it. A cancelled request (its client went away, or it
timed out) leaves its batch; the others are not affected.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maas.ml.prediction import Prediction

__all__ = ["BatchPolicy", "MicroBatcher", "slice_prediction"]

Predict = Callable[[np.ndarray], Prediction]
"""Predicts for an input matrix (rows of every request of a batch, concatenated)."""


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """How requests of one model are gathered. ``max_size`` ≤ 1 or ``max_wait_us`` 0: off."""

    max_size: int = 64
    """Most rows in one batch; a request with more rows than this runs on its own."""
    max_wait_us: int = 500
    """Longest a request waits for others to join, in microseconds."""

    @property
    def enabled(self) -> bool:
        return self.max_size > 1 and self.max_wait_us > 0


@dataclass(slots=True)
class _Waiter:
    x: np.ndarray
    future: asyncio.Future[Prediction]


@dataclass(slots=True)
class _Batch:
    predict: Predict
    inline: Callable[[int], bool]
    timeout: float
    waiters: list[_Waiter] = field(default_factory=list)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None


_FIELDS = tuple(f.name for f in dataclasses.fields(Prediction))


def slice_prediction(prediction: Prediction, start: int, stop: int) -> Prediction:
    """The rows ``start:stop`` of a row-aligned prediction (every per-row field sliced)."""
    parts: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(prediction, name)
        if value is None:
            parts[name] = None
        elif isinstance(value, dict):
            parts[name] = {k: v[start:stop] for k, v in value.items()}
        else:
            parts[name] = value[start:stop]
    return Prediction(**parts)


def _aligned(prediction: Prediction, rows: int) -> bool:
    return prediction.keys is None and len(prediction.predictions) == rows


def _run(predict: Predict, waiters: list[_Waiter]) -> list[Prediction | Exception]:
    """Predict for every waiter: once for all, or one by one if that fails (or if the model's
    answer does not line up with its rows), so that errors stay with their own request."""
    if len(waiters) > 1:
        x = np.concatenate([w.x for w in waiters])
        try:
            whole = predict(x)
        except Exception:  # noqa: BLE001 - each request is retried alone below
            whole = None
        if whole is not None and _aligned(whole, len(x)):
            out: list[Prediction | Exception] = []
            start = 0
            for w in waiters:
                stop = start + len(w.x)
                out.append(slice_prediction(whole, start, stop))
                start = stop
            return out
    results: list[Prediction | Exception] = []
    for w in waiters:
        try:
            results.append(predict(w.x))
        except Exception as exc:  # noqa: BLE001 - handed to the request it belongs to
            results.append(exc)
    return results


class MicroBatcher:
    """Gathers concurrent predictions per batch key; see the module docstring.

    One per process and event loop. Not thread-safe: call ``submit`` from the event loop only.
    """

    def __init__(self) -> None:
        self._batches: dict[Hashable, _Batch] = {}
        self._approaching = 0
        self.batches_run = 0
        """How many batches (of one or more requests) ran; for tests and metrics."""
        self.requests_run = 0
        """How many requests those batches answered (``requests_run / batches_run`` is the mean
        batch size: how much the batching gathers, for whoever tunes ``BatchPolicy``)."""

    async def submit(
        self,
        key: Hashable,
        x: np.ndarray,
        predict: Predict,
        policy: BatchPolicy,
        *,
        inline: Callable[[int], bool],
        timeout: float,
    ) -> Prediction:
        """Predict for ``x`` in a batch with other requests of ``key``.

        ``predict`` and ``inline`` must be the same for every request of a key (the batch
        keeps the first one's). ``inline(rows)`` says whether a batch of ``rows`` rows is cheap
        enough to run on the event loop; on a worker thread, a batch that takes longer than
        ``timeout`` seconds fails its requests with ``TimeoutError`` (its thread finishes and
        its result is dropped).

        Raises:
            TimeoutError: the prediction ran on a thread for longer than ``timeout``.
            Whatever ``predict`` raises for this request's own rows.
        """
        if not policy.enabled or len(x) >= policy.max_size:
            return await self._alone(x, predict, inline, timeout)
        self._approaching += 1
        try:
            await asyncio.sleep(0)  # let requests that arrived with this one catch up
        finally:
            self._approaching -= 1
        loop = asyncio.get_running_loop()
        batch = self._batches.get(key)
        if batch is not None and batch.rows + len(x) > policy.max_size:
            self._start(key)
            batch = None
        if batch is None:
            batch = self._batches[key] = _Batch(predict, inline, timeout)
        waiter = _Waiter(x, loop.create_future())
        batch.waiters.append(waiter)
        batch.rows += len(x)
        if self._approaching == 0:  # nobody else is on the way: waiting only adds latency
            self._start_all()
        elif batch.rows >= policy.max_size:
            self._start(key)
        elif batch.timer is None:
            batch.timer = loop.call_later(policy.max_wait_us / 1e6, self._start, key)
        return await waiter.future

    async def _alone(
        self, x: np.ndarray, predict: Predict, inline: Callable[[int], bool], timeout: float
    ) -> Prediction:
        self.batches_run += 1
        self.requests_run += 1
        if inline(len(x)):
            return predict(x)
        done = asyncio.get_running_loop().run_in_executor(None, predict, x)
        return await asyncio.wait_for(done, timeout)

    def _start_all(self) -> None:
        for key in list(self._batches):
            self._start(key)

    def _start(self, key: Hashable) -> None:
        """Close the open batch of ``key`` and run it (now, or on a worker thread)."""
        batch = self._batches.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        waiters = [w for w in batch.waiters if not w.future.done()]
        if not waiters:
            return
        self.batches_run += 1
        self.requests_run += len(waiters)
        if batch.inline(sum(len(w.x) for w in waiters)):
            _deliver(waiters, _run(batch.predict, waiters))
            return
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(None, _run, batch.predict, waiters)
        expiry = loop.call_later(batch.timeout, _expire, waiters)
        done.add_done_callback(lambda f: (expiry.cancel(), _deliver_from(waiters, f)))


def _expire(waiters: list[_Waiter]) -> None:
    for waiter in waiters:
        if not waiter.future.done():
            waiter.future.set_exception(TimeoutError())


def _deliver(waiters: list[_Waiter], results: list[Prediction | Exception]) -> None:
    for waiter, result in zip(waiters, results, strict=True):
        if waiter.future.done():  # cancelled meanwhile: nobody wants it
            continue
        if isinstance(result, Exception):
            waiter.future.set_exception(result)
        else:
            waiter.future.set_result(result)


def _deliver_from(waiters: list[_Waiter], done: asyncio.Future[Any]) -> None:
    if done.cancelled():
        for waiter in waiters:
            waiter.future.cancel()
        return
    exc = done.exception()
    if exc is not None:  # _run catches what predict raises; this is a bug or an interrupt
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)
        return
    _deliver(waiters, done.result())
