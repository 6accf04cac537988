"""The micro-batcher: slices, batch sizes, waiting, error isolation, cancellation, threads.

No assertion depends on how fast the machine is: waits that must not happen are set to many
seconds and checked with a generous deadline; waits that must end are bounded the same way.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from maas.ml.prediction import Prediction
from maas.services.batching import BatchPolicy, MicroBatcher, slice_prediction

LONG = 30_000_000  # µs: a wait no test may sit through


class DoublingModel:
    """Predicts 2·x[:, 0]; records the size of every call; fails on NaN."""

    def __init__(self, *, sleep: float = 0.0) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.sleep = sleep

    def __call__(self, x: np.ndarray) -> Prediction:
        self.calls.append(len(x))
        self.threads.add(threading.current_thread().name)
        if self.sleep:
            time.sleep(self.sleep)
        if np.isnan(x).any():
            raise ValueError("NaN in the input")
        return Prediction(
            predictions=2 * x[:, 0],
            probabilities=np.column_stack([x[:, 0], 1 - x[:, 0]]),
            contributions=np.repeat(x[:, :1], 3, axis=1),
        )


def rows(*values: float) -> np.ndarray:
    return np.asarray([[v, 0.0] for v in values], dtype=np.float32)


def always(_rows: int) -> bool:
    return True


def never(_rows: int) -> bool:
    return False


async def submit_all(
    batcher: MicroBatcher,
    model: DoublingModel,
    inputs: list[np.ndarray],
    policy: BatchPolicy,
    *,
    inline=always,  # type: ignore[no-untyped-def]
    timeout: float = 30.0,
) -> list[Prediction | BaseException]:
    tasks = [batcher.submit("m", x, model, policy, inline=inline, timeout=timeout) for x in inputs]
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)


def test_batcher_gives_each_request_its_own_slice() -> None:
    model = DoublingModel()
    batcher = MicroBatcher()
    inputs = [rows(1), rows(2, 3), rows(4), rows(5, 6, 7)]
    results = asyncio.run(submit_all(batcher, model, inputs, BatchPolicy(64, LONG)))
    assert model.calls == [7]  # one call for all of them
    assert (batcher.batches_run, batcher.requests_run) == (1, 4)
    for x, result in zip(inputs, results, strict=True):
        assert isinstance(result, Prediction)
        np.testing.assert_array_equal(result.predictions, 2 * x[:, 0])
        np.testing.assert_array_equal(result.probabilities, np.column_stack([x[:, 0], 1 - x[:, 0]]))
        assert result.contributions is not None
        assert result.contributions.shape == (len(x), 3)


def test_batches_never_exceed_max_size() -> None:
    model = DoublingModel()
    batcher = MicroBatcher()
    inputs = [rows(float(i)) for i in range(7)] + [rows(1, 2, 3, 4)]
    results = asyncio.run(submit_all(batcher, model, inputs, BatchPolicy(3, LONG)))
    assert all(isinstance(r, Prediction) for r in results)
    assert max(model.calls) <= 4  # the 4-row request runs alone; the others in threes at most
    assert sum(model.calls) == 11  # every row predicted once
    assert 4 in model.calls
    assert all(n <= 3 for n in model.calls if n != 4)
    assert batcher.batches_run == len(model.calls)  # what /metrics shows
    assert batcher.requests_run == 8


def test_a_lone_request_does_not_wait() -> None:
    model = DoublingModel()
    batcher = MicroBatcher()
    started = time.monotonic()
    [result] = asyncio.run(submit_all(batcher, model, [rows(1)], BatchPolicy(64, LONG)))
    assert isinstance(result, Prediction)
    assert time.monotonic() - started < 10  # nowhere near the 30 s it might have waited


def test_a_batch_waits_at_most_max_wait_for_stragglers() -> None:
    async def run() -> list[Prediction | BaseException]:
        batcher = MicroBatcher()
        batcher._approaching += 1  # a request on its way that never arrives
        return await submit_all(batcher, DoublingModel(), [rows(1)], BatchPolicy(64, 20_000))

    [result] = asyncio.run(run())  # 20 ms, well inside the 10 s deadline of submit_all
    assert isinstance(result, Prediction)


def test_batching_off_runs_each_request_alone() -> None:
    model = DoublingModel()
    batcher = MicroBatcher()
    inputs = [rows(1), rows(2), rows(3)]
    for policy in (BatchPolicy(0, LONG), BatchPolicy(64, 0)):
        model.calls.clear()
        asyncio.run(submit_all(batcher, model, inputs, policy))
        assert model.calls == [1, 1, 1]


def test_an_error_reaches_only_the_request_that_caused_it() -> None:
    model = DoublingModel()
    batcher = MicroBatcher()
    inputs = [rows(1), rows(float("nan")), rows(3)]
    results = asyncio.run(submit_all(batcher, model, inputs, BatchPolicy(64, LONG)))
    assert isinstance(results[1], ValueError)
    assert isinstance(results[0], Prediction)
    assert results[0].predictions.tolist() == [2.0]
    assert isinstance(results[2], Prediction)
    assert results[2].predictions.tolist() == [6.0]


def test_a_cancelled_request_leaves_its_batch() -> None:
    model = DoublingModel()

    async def run() -> tuple[Prediction, bool]:
        batcher = MicroBatcher()
        batcher._approaching += 1  # hold the batch open until the timer
        policy = BatchPolicy(64, 50_000)
        kept = asyncio.create_task(
            batcher.submit("m", rows(1), model, policy, inline=always, timeout=30)
        )
        dropped = asyncio.create_task(
            batcher.submit("m", rows(2), model, policy, inline=always, timeout=30)
        )
        await asyncio.sleep(0.001)
        dropped.cancel()
        result = await asyncio.wait_for(kept, 10)
        with pytest.raises(asyncio.CancelledError):
            await dropped
        return result, dropped.cancelled()

    result, cancelled = asyncio.run(run())
    assert cancelled
    assert result.predictions.tolist() == [2.0]
    assert model.calls == [1]  # the cancelled request's row was not predicted


def test_expensive_batches_run_on_a_worker_thread() -> None:
    model = DoublingModel()
    batcher = MicroBatcher()
    results = asyncio.run(
        submit_all(batcher, model, [rows(1), rows(2)], BatchPolicy(64, LONG), inline=never)
    )
    assert [r.predictions.tolist() for r in results] == [[2.0], [4.0]]  # type: ignore[union-attr]
    assert threading.main_thread().name not in model.threads


def test_a_batch_on_a_thread_times_out() -> None:
    model = DoublingModel(sleep=0.5)
    batcher = MicroBatcher()
    results = asyncio.run(
        submit_all(
            batcher, model, [rows(1), rows(2)], BatchPolicy(64, LONG), inline=never, timeout=0.05
        )
    )
    assert all(isinstance(r, TimeoutError) for r in results)


def test_slice_prediction_slices_every_per_row_field() -> None:
    whole = Prediction(
        predictions=np.arange(4.0),
        quantiles={"0.1": np.arange(4.0), "0.9": np.arange(4.0) + 1},
        anomalies=np.array([True, False, True, False]),
        terms=[{"a": 1.0}, {"b": 2.0}, {"c": 3.0}, {"d": 4.0}],
    )
    part = slice_prediction(whole, 1, 3)
    assert part.predictions.tolist() == [1.0, 2.0]
    assert part.quantiles is not None
    assert part.quantiles["0.9"].tolist() == [2.0, 3.0]
    assert part.anomalies is not None
    assert part.anomalies.tolist() == [False, True]
    assert part.terms == [{"b": 2.0}, {"c": 3.0}]
    assert part.probabilities is None
