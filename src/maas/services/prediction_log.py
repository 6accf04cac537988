"""The prediction log's write side: ``observe`` on the prediction path, a background flusher.

``observe`` does no I/O and never waits on the database. It counts the request for live
traffic, decides which input rows to sample, copies only those, and appends one entry per
request to an in-memory buffer. A daemon thread writes the buffer every few seconds (the
pattern of ``services.audit``), and sooner, at most once a second, when it holds a quarter of
its bound: a steady stream is written as it comes instead of piling up between two ticks. The
buffer is bounded in rows, which bounds what the log costs the server (writing a row takes a
few microseconds of CPU; at 100,000 rows a second that is most of a core): with the early
writes at most once a second, the log keeps up with about half the bound in rows a second
(10,000 by default). Once the buffer is half full, requests log their sampled rows only, so
drift checks keep their sample under heavy batch traffic; a request that does not fit at all
is not logged. Rows not logged are counted in ``dropped``; predictions are unaffected.

What is logged, per prediction: its id, output, version, time, request id and the request's
latency — for every prediction (``log_outputs``), so any prediction can receive feedback —
and, for a sample of rows (``sample_rate``, per-model overrides), its inputs as well, which is
what drift checks and the Parquet export read. Per-unit and per-series models (whose
predictions do not line up with their input rows) log sampled input rows as rows of their own.

Prediction ids are ``<11 hex digits of the millisecond><10 random hex digits>-<row>``: unique
without coordination, sortable by time, and cheap to make for a batch.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from maas.domain.signature import ColumnType, Signature
from maas.ml.prediction import Prediction
from maas.schemas.models import VersionRead
from maas.services.heap import release_free_heap
from maas.services.traffic import TrafficCounter
from maas.store.db import Database
from maas.store.monitoring import model_ids, prune_monitoring, sample_rates, upsert_traffic
from maas.store.prediction_log import insert_log_rows, prune_log

__all__ = ["PredictionLog"]

log = logging.getLogger(__name__)

_RATES_EVERY = 10.0
_CHUNK_ROWS = 5_000
_PRUNE_EVERY = 60.0
_BIG_REQUEST_ROWS = 10_000
"""A request with this many rows, or a flush of ``_BIG_FLUSH_ROWS``, leaves enough freed
memory behind to be worth handing back to the operating system (``release_free_heap``)."""
_BIG_FLUSH_ROWS = 1_000
_EARLY_FLUSH_GAP = 1.0
"""Seconds between two writes at least, when the buffer's quarter mark calls one early."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Entry:
    tenant_id: str
    version: VersionRead
    at: datetime
    request_id: str | None
    latency_ms: float
    base: str
    prediction: Prediction
    sampled: np.ndarray | None
    """Indices of the input rows whose values are logged."""
    x: np.ndarray | None
    """Copies of those rows."""
    aligned: bool
    outputs: bool
    rows: int


class PredictionLog:
    """Buffers observed predictions and traffic in memory and writes them in the background.

    ``clock`` returns the current UTC time; ``rng`` draws the samples (tests pass seeded ones).
    """

    def __init__(
        self,
        db: Database,
        *,
        sample_rate: float = 0.1,
        log_outputs: bool = True,
        max_buffered_rows: int = 20_000,
        retention_rows: int = 100_000,
        retention_days: float = 30.0,
        clock: Callable[[], datetime] = _now,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.sample_rate = sample_rate
        self.log_outputs = log_outputs
        self.max_buffered_rows = max_buffered_rows
        self.retention_rows = retention_rows
        self.retention_days = retention_days
        self.clock = clock
        self.process = uuid.uuid4().hex[:16]
        self.traffic = TrafficCounter()
        self.dropped = 0
        """Rows not logged because the buffer was full (or a write failed)."""
        self._random = rng or random.Random()  # noqa: S311 - sampling, not security
        self._np_random = np.random.default_rng(self._random.getrandbits(64))
        self._rates: dict[tuple[str, str], float] = {}
        self._buffer: deque[_Entry] = deque()
        self._buffered_rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        """Set when the buffer reaches a quarter of its bound (or on close): write now."""
        self._thread: threading.Thread | None = None
        self._last_rates = 0.0
        self._last_prune = 0.0
        self._big_request = False

    # the prediction path ----------------------------------------------------------------

    def rate_for(self, tenant_id: str, model: str) -> float:
        return self._rates.get((tenant_id, model), self.sample_rate)

    def _sample(self, rate: float, n: int) -> np.ndarray | None:
        if rate <= 0 or n == 0:
            return None
        if rate >= 1:
            return np.arange(n)
        if n == 1:
            return np.zeros(1, dtype=np.intp) if self._random.random() < rate else None
        picked = np.flatnonzero(self._np_random.random(n) < rate)
        return picked if picked.size else None

    def observe(
        self,
        tenant_id: str,
        version: VersionRead,
        x: np.ndarray,
        prediction: Prediction,
        latency_seconds: float,
        request_id: str | None = None,
    ) -> list[str | None] | None:
        """Log a finished prediction (no I/O; microseconds).

        Args:
            tenant_id: the caller's tenant.
            version: the version that answered.
            x: the encoded input matrix (signature order), as the predictor received it.
            prediction: what the predictor returned.
            latency_seconds: the request's time in encoding and the model.
            request_id: the request's id, kept with the log rows.

        Returns:
            One prediction id per prediction (``None`` for predictions not logged), or
            ``None`` when nothing of the request was logged (buffer full, nothing sampled).
        """
        now = self.clock()
        ts = now.timestamp()
        latency_ms = latency_seconds * 1000.0
        self.traffic.add(tenant_id, version.model, ts, latency_ms)
        n_out = len(prediction.predictions)
        n_in = int(x.shape[0])
        if n_in >= _BIG_REQUEST_ROWS:
            self._big_request = True
        aligned = prediction.keys is None and n_out == n_in
        sampled = self._sample(self.rate_for(tenant_id, version.model), n_in)
        n_sampled = 0 if sampled is None else int(sampled.size)
        outputs = self.log_outputs
        rows = n_out + (0 if aligned else n_sampled) if outputs else n_sampled
        if rows == 0:
            return None
        with self._lock:
            buffered = self._buffered_rows
            if outputs and buffered + rows > self.max_buffered_rows // 2:
                # past half full: the sampled rows only (inputs, and outputs where aligned)
                self.dropped += rows - n_sampled
                outputs, rows = False, n_sampled
                if rows == 0:
                    return None
            if buffered + rows > self.max_buffered_rows:
                self.dropped += rows
                return None
            self._buffered_rows = buffered + rows
        if buffered < self.max_buffered_rows // 4 <= buffered + rows:
            self._wake.set()
        copied = None if sampled is None else (x.copy() if n_sampled == n_in else x[sampled])
        # time-ordered and unique without coordination; random.getrandbits is ~20x cheaper
        # than os.urandom, and ids need no secrecy (feedback is tenant-scoped anyway)
        base = f"{int(ts * 1000):011x}{self._random.getrandbits(40):010x}"
        entry = _Entry(
            tenant_id,
            version,
            now,
            request_id,
            latency_ms,
            base,
            prediction,
            sampled,
            copied,
            aligned,
            outputs,
            rows,
        )
        self._buffer.append(entry)  # deque.append is atomic
        if outputs:
            return [f"{base}-{i}" for i in range(n_out)]
        if not aligned or sampled is None:
            return None
        ids: list[str | None] = [None] * n_out
        for i in sampled.tolist():
            ids[i] = f"{base}-{i}"
        return ids

    def observe_error(self, tenant_id: str, model: str) -> None:
        """Count a prediction request of ``model`` that failed (no I/O)."""
        self.traffic.add(tenant_id, model, self.clock().timestamp(), None)

    def set_rate(self, tenant_id: str, model: str, rate: float | None) -> None:
        """Use ``rate`` for ``model`` from now on in this process (``None``: the default)."""
        if rate is None:
            self._rates.pop((tenant_id, model), None)
        else:
            self._rates[(tenant_id, model)] = rate

    def pending_rows(self) -> int:
        with self._lock:
            return self._buffered_rows

    # writing ----------------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything buffered (log rows and traffic); returns how many log rows were
        written. Rows are prepared outside any transaction and written in short ones of
        ``_CHUNK_ROWS`` rows, so a large backlog never holds SQLite's write lock for long.
        Entries of models deleted meanwhile are dropped."""
        with self._flush_lock:
            entries: list[_Entry] = []
            while True:
                try:
                    entries.append(self._buffer.popleft())
                except IndexError:
                    break
            with self._lock:
                self._buffered_rows -= sum(e.rows for e in entries)
            traffic = self.traffic.pending(self.clock())
            if not entries and not traffic:
                return 0
            keys = {(e.tenant_id, e.version.model) for e in entries}
            keys |= {(t, m) for t, m, *_ in traffic}
            written = 0
            try:
                with self.db.session() as session:
                    ids = model_ids(session, keys)
                rows = itertools.chain.from_iterable(_rows(e, ids) for e in entries)
                while chunk := list(itertools.islice(rows, _CHUNK_ROWS)):
                    with self.db.writer() as session, session.begin():
                        insert_log_rows(session, chunk)
                    written += len(chunk)
                with self.db.writer() as session, session.begin():
                    upsert_traffic(
                        session,
                        self.process,
                        [
                            (ids[(t, m)], minute, req, err, {str(k): v for k, v in lat.items()})
                            for t, m, minute, req, err, lat in traffic
                            if (t, m) in ids
                        ],
                    )
            except Exception:
                self.dropped += max(0, sum(e.rows for e in entries) - written)
                self.traffic.restore(traffic)
                raise
            return written

    def prune(self) -> int:
        """Apply the retention limits; returns how many log rows were deleted."""
        older_than = self.clock() - timedelta(days=self.retention_days)
        with self.db.writer() as session, session.begin():
            removed = prune_log(session, max_rows=self.retention_rows, older_than=older_than)
            prune_monitoring(session, older_than=older_than)
        return removed

    def refresh_rates(self) -> None:
        """Re-read every model's sample rate (changes made by other processes)."""
        with self.db.session() as session:
            self._rates = sample_rates(session)

    # the flusher thread -----------------------------------------------------------------

    def start(self, interval: float) -> None:
        """Flush every ``interval`` seconds, and when the buffer reaches a quarter of its
        bound (at most every ``_EARLY_FLUSH_GAP`` seconds), in a daemon thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._wake.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="maas-prediction-log", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the flusher and write what is left."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - shutting down: say so, lose the sample
            log.exception("could not write the last predictions to the prediction log")

    def _run(self, interval: float) -> None:
        last = time.monotonic()
        while True:
            woken = self._wake.wait(interval)
            if self._stop.is_set():
                return
            if woken:  # by the quarter mark: not sooner than the gap (nor than the timer)
                early = min(_EARLY_FLUSH_GAP, interval) - (time.monotonic() - last)
                if early > 0 and self._stop.wait(early):
                    return
            self._wake.clear()
            last = time.monotonic()
            try:
                written = self.flush()
                if written >= _BIG_FLUSH_ROWS or self._big_request:
                    self._big_request = False
                    release_free_heap()
                now = time.monotonic()
                if now - self._last_rates >= _RATES_EVERY:
                    self._last_rates = now
                    self.refresh_rates()
                if now - self._last_prune >= _PRUNE_EVERY:
                    self._last_prune = now
                    self.prune()
            except Exception:  # noqa: BLE001 - the log is a sample: go on with the next batch
                log.exception("could not write the prediction log")


# entries → rows ----------------------------------------------------------------------------


def _g7(value: float) -> float:
    # float32 inputs: keep the digits the caller sent (298.1, not 298.1000061035156)
    return float(f"{value:.7g}")


def _decode_inputs(signature: Signature, x: np.ndarray) -> list[dict[str, Any]]:
    columns = []
    is_f32 = x.dtype == np.float32
    for j, column in enumerate(signature.inputs):
        values = x[:, j].tolist()
        if column.dtype is ColumnType.STRING:
            columns.append([None if v is None else str(v) for v in values])
            continue
        out: list[Any] = []
        for v in values:
            if v is None or (isinstance(v, float) and v != v):  # NaN: missing
                out.append(None)
            elif column.dtype is ColumnType.CATEGORY:
                cats = column.categories or []
                k = int(v)
                out.append(cats[k] if 0 <= k < len(cats) else None)
            elif column.dtype is ColumnType.BOOL:
                out.append(bool(v))
            elif column.dtype is ColumnType.INT:
                out.append(int(v))
            else:
                out.append(_g7(v) if is_f32 else float(v))
        columns.append(out)
    names = signature.input_names
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _outputs(prediction: Prediction, signature: Signature, index: slice | np.ndarray) -> list[str]:
    """The output documents of the predictions at ``index`` (a slice or positions) as JSON
    text (floats to 6 decimals; orjson writes NaN and infinities as null)."""
    out: list[dict[str, Any]] = [
        {"prediction": _round(p)} for p in np.asarray(prediction.predictions)[index].tolist()
    ]
    if prediction.probabilities is not None:
        probabilities = np.asarray(prediction.probabilities)[index].tolist()
        classes = signature.classes or [str(i) for i in range(len(probabilities[0]))]
        for row, probs in zip(out, probabilities, strict=False):
            row["probabilities"] = {c: round(p, 6) for c, p in zip(classes, probs, strict=False)}
    if prediction.quantiles is not None:
        for q, values in prediction.quantiles.items():
            for row, value in zip(out, np.asarray(values)[index].tolist(), strict=False):
                row.setdefault("quantiles", {})[q] = _round(value)
    if prediction.keys is not None:
        keys = prediction.keys
        picked = keys[index] if isinstance(index, slice) else [keys[i] for i in index.tolist()]
        for row, key in zip(out, picked, strict=False):
            row["key"] = key
    if prediction.anomalies is not None:
        flags = np.asarray(prediction.anomalies, dtype=bool)[index].tolist()
        for row, flag in zip(out, flags, strict=False):
            row["anomaly"] = flag
    return [orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS).decode() for row in out]


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def _rows(entry: _Entry, ids: dict[tuple[str, str], int]) -> Iterator[tuple[Any, ...]]:
    """The entry's rows for ``insert_log_rows`` (``LOG_COLUMNS`` order, JSON as text), made
    ``_CHUNK_ROWS`` outputs at a time: a 100,000-row request never has all its rows' Python
    objects alive at once (they would stay in the process's heap as fragmentation)."""
    model_id = ids.get((entry.tenant_id, entry.version.model))
    if model_id is None:  # the model was deleted since
        return
    tenant_id, version, at = entry.tenant_id, entry.version.version, entry.at
    request_id, latency_ms, base = entry.request_id, round(entry.latency_ms, 3), entry.base
    sig = entry.version.signature
    inputs: dict[int, str] = {}
    if entry.sampled is not None and entry.x is not None:
        decoded = [orjson.dumps(row).decode() for row in _decode_inputs(sig, entry.x)]
        inputs = dict(zip(entry.sampled.tolist(), decoded, strict=True))
    # which outputs, in slices or positions, with their row numbers
    picks: Iterable[tuple[slice | np.ndarray, Sequence[int]]] = ()
    if entry.outputs:  # every output
        n = len(entry.prediction.predictions)
        chunks = range(0, n, _CHUNK_ROWS)
        picks = ((slice(s, s + _CHUNK_ROWS), range(s, min(n, s + _CHUNK_ROWS))) for s in chunks)
    elif entry.aligned and entry.sampled is not None:  # the sampled rows' outputs only
        picks = ((entry.sampled, entry.sampled.tolist()),)
    for index, positions in picks:
        outputs = _outputs(entry.prediction, sig, index)
        for i, output in zip(positions, outputs, strict=True):
            row_inputs = inputs.get(i) if entry.aligned else None
            yield (f"{base}-{i}", tenant_id, model_id, version, at, request_id,
                   latency_ms, row_inputs, output)  # fmt: skip
    if not entry.aligned:
        for i, values in inputs.items():
            yield (f"{base}-x{i}", tenant_id, model_id, version, at, request_id,
                   latency_ms, values, None)  # fmt: skip
