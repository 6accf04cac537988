"""Live traffic per model and minute: requests, errors and a latency histogram, counted in
memory (a dict under a lock, no I/O on the prediction path) and written per process.

Latencies go into fixed, geometrically growing buckets (``BUCKET_EDGES_MS``: 0.05 ms to
5 minutes, 25 % apart), so histograms of several processes add up bucket by bucket and p50/p99
are read back within one bucket's width (±12 %).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["BUCKET_EDGES_MS", "TrafficCounter", "percentile_ms"]

BUCKET_EDGES_MS: tuple[float, ...] = tuple(0.05 * 1.25**i for i in range(71))
"""Upper edges of the latency buckets in milliseconds; one more bucket takes the rest."""


def _at(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def bucket_of(latency_ms: float) -> int:
    return bisect.bisect_left(BUCKET_EDGES_MS, latency_ms)


def percentile_ms(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0–1) of a bucketed histogram, interpolated geometrically inside
    its bucket; ``None`` when the histogram is empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index in sorted(histogram):
        count = histogram[index]
        if count <= 0:
            continue
        if seen + count >= rank:
            hi = BUCKET_EDGES_MS[min(index, len(BUCKET_EDGES_MS) - 1)]
            lo = BUCKET_EDGES_MS[index - 1] if 0 < index <= len(BUCKET_EDGES_MS) else hi / 1.25
            if index >= len(BUCKET_EDGES_MS):
                return round(hi, 3)
            share = (rank - seen) / count
            return round(lo * math.pow(hi / lo, share), 3)
        seen += count
    return round(BUCKET_EDGES_MS[-1], 3)


@dataclass(slots=True)
class _Minute:
    requests: int = 0
    errors: int = 0
    latency: dict[int, int] = field(default_factory=dict)
    dirty: bool = True


class TrafficCounter:
    """This process's counts of the current and not yet written minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], _Minute] = {}
        """(tenant id, model, minutes since the epoch) → counts."""

    def add(self, tenant_id: str, model: str, at: float, latency_ms: float | None) -> None:
        """Count one request at ``at`` (a Unix time); ``latency_ms`` ``None``: it failed."""
        key = (tenant_id, model, int(at // 60))
        with self._lock:
            slot = self._counts.get(key)
            if slot is None:
                slot = self._counts[key] = _Minute()
            slot.requests += 1
            slot.dirty = True
            if latency_ms is None:
                slot.errors += 1
            else:
                b = bisect.bisect_left(BUCKET_EDGES_MS, latency_ms)
                slot.latency[b] = slot.latency.get(b, 0) + 1

    def pending(self, now: datetime) -> list[tuple[str, str, datetime, int, int, dict[int, int]]]:
        """This process's full counts of every minute that changed since the last call."""
        with self._lock:
            out = [
                (t, m, _at(minute), s.requests, s.errors, dict(s.latency))
                for (t, m, minute), s in self._counts.items()
                if s.dirty
            ]
            for s in self._counts.values():
                s.dirty = False
            # Finished minutes stay two more minutes, so that a request counted just as its
            # minute ends still adds to the full count (each write replaces the last one).
            keep_from = int(now.timestamp() // 60) - 2
            for key in [k for k in self._counts if k[2] < keep_from]:
                del self._counts[key]
        return out

    def restore(
        self, counts: Iterable[tuple[str, str, datetime, int, int, dict[int, int]]]
    ) -> None:
        """Put back counts that could not be written (they are written with the next ones)."""
        with self._lock:
            for tenant_id, model, minute, requests, errors, latency in counts:
                key = (tenant_id, model, int(minute.timestamp() // 60))
                slot = self._counts.setdefault(key, _Minute(latency={}))
                if slot.requests < requests:  # the same minute may have gone on counting
                    slot.requests, slot.errors, slot.latency = requests, errors, dict(latency)
                slot.dirty = True
