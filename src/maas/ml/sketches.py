"""Streaming summaries of a column that merge batch by batch in bounded memory."""

from __future__ import annotations

import numpy as np

__all__ = ["DISTINCT_BOUND", "BlockMeans", "DistinctSketch", "Moments", "RepeatFinder"]

DISTINCT_BOUND = 4096
"""Distinct values counted exactly per column; beyond it the count is an estimate."""
_FIRST_BLOCK_ROWS = 64
_MAX_BLOCKS = 256


class DistinctSketch:
    """Distinct values by their 64-bit hashes: exact up to ``bound``, then the ``bound``
    smallest hashes estimate the count (k minimum values)."""

    def __init__(self, bound: int = DISTINCT_BOUND) -> None:
        self.bound = bound
        self.hashes = np.empty(0, dtype=np.uint64)
        self.saturated = False

    def update(self, hashes: np.ndarray) -> None:
        new = np.unique(hashes)
        if self.saturated:
            new = new[new < self.hashes[-1]]
        merged = np.union1d(self.hashes, new)
        if len(merged) > self.bound:
            merged = merged[: self.bound]
            self.saturated = True
        self.hashes = merged

    def estimate(self) -> tuple[int, bool]:
        if not self.saturated:
            return len(self.hashes), True
        return int(round((self.bound - 1) * 2.0**64 / float(self.hashes[-1]))), False


class Moments:
    """Count, mean and sum of squared deviations, merged batch by batch (Chan et al.)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, values: np.ndarray) -> None:
        nb = len(values)
        if nb == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            mb = float(values.mean())
            m2b = float(((values - mb) ** 2).sum())
            delta = mb - self.mean
            total = self.n + nb
            self.mean += delta * nb / total
            self.m2 += m2b + delta * delta * self.n * nb / total
        self.n = total

    def result(self) -> tuple[float | None, float | None]:
        if self.n == 0 or not np.isfinite(self.mean):
            return None, None
        std = (self.m2 / (self.n - 1)) ** 0.5 if self.n > 1 else 0.0
        return float(self.mean), float(std) if np.isfinite(std) else None


class BlockMeans:
    """Sums and counts of consecutive blocks of rows; blocks double in size (pairs merge) so
    that there are never more than ``_MAX_BLOCKS`` of them."""

    def __init__(self) -> None:
        self.size = _FIRST_BLOCK_ROWS
        self.counts = np.zeros(0)
        self.sums = np.zeros(0)

    def update(self, values: np.ndarray, start_row: int) -> None:
        if len(values) == 0:
            return
        index = (start_row + np.arange(len(values))) // self.size
        finite = np.isfinite(values)
        length = int(index[-1]) + 1
        counts = np.bincount(index[finite], minlength=length).astype(float)
        with np.errstate(over="ignore", invalid="ignore"):
            sums = np.bincount(index[finite], weights=values[finite], minlength=length)
        if len(self.counts) < length:
            grow = length - len(self.counts)
            self.counts = np.concatenate([self.counts, np.zeros(grow)])
            self.sums = np.concatenate([self.sums, np.zeros(grow)])
        self.counts[:length] += counts
        self.sums[:length] += sums
        while len(self.counts) > _MAX_BLOCKS:
            if len(self.counts) % 2:
                self.counts = np.append(self.counts, 0.0)
                self.sums = np.append(self.sums, 0.0)
            self.counts = self.counts.reshape(-1, 2).sum(axis=1)
            self.sums = self.sums.reshape(-1, 2).sum(axis=1)
            self.size *= 2

    def means(self) -> list[float]:
        keep = self.counts > 0
        with np.errstate(over="ignore", invalid="ignore"):
            means = self.sums[keep] / self.counts[keep]
        return [float(m) for m in means if np.isfinite(m)]


class RepeatFinder:
    """Finds 64-bit hashes seen before, in about 8 bytes per distinct hash.

    Seen hashes are kept as sorted, disjoint runs whose sizes at least halve from one to the
    next (merged as they grow, like a log-structured merge tree), so checking a batch costs a
    binary search per run and there are never more than about log2(n) runs.
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Record ``hashes``; returns which of them were seen before (earlier in the same
        batch included)."""
        repeated = np.zeros(len(hashes), dtype=bool)
        if len(hashes) == 0:
            return repeated
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        repeated[order[1:][ordered[1:] == ordered[:-1]]] = True
        for run in self.runs:
            at = np.searchsorted(run, hashes).clip(max=len(run) - 1)
            repeated |= run[at] == hashes
        fresh = np.unique(hashes[~repeated])
        if len(fresh):
            self.runs.append(fresh)
        while len(self.runs) > 1 and len(self.runs[-1]) * 2 > len(self.runs[-2]):
            newer, older = self.runs.pop(), self.runs.pop()
            merged = np.concatenate([older, newer])  # disjoint runs: sorting is all a merge needs
            del older, newer
            merged.sort()
            self.runs.append(merged)
        return repeated
