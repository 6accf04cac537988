"""Profiles of tabular data, computed record batch by record batch in bounded memory.

``Profiler`` takes the batches of a table one at a time (so a 1 GB upload is never held in
memory whole) and keeps, per column, what the schema, the profile and the quality checks need:

- counts, missing values, min/max, mean and standard deviation (merged batch by batch);
- distinct values: exact up to ``DISTINCT_BOUND``, estimated beyond it from the smallest
  hashes seen (a "k minimum values" sketch, a few tens of kilobytes per column);
- the most frequent values of text columns, while they have few enough to count;
- for text columns, how many values are plain numbers or numbers with a unit ("12 bar");
- for number columns, the mean of each block of rows and of each unit, so that a jump in
  scale between parts of the file (Pa vs kPa, Kelvin vs Celsius) can be seen;
- rows per unit, and a hash of every (unit, timestamp) pair to find repeated timestamps
  (about 8 bytes per distinct pair, up to ``MAX_DUPLICATE_CHECK_ROWS`` rows).

``ml.data_quality`` turns the finished ``DatasetStats`` into findings.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from maas.domain.datasets import CategoryCount, ColumnProfile, DatasetColumn, DatasetProfile
from maas.domain.signature import ColumnType
from maas.ml.sketches import DISTINCT_BOUND, BlockMeans, DistinctSketch, Moments, RepeatFinder

__all__ = [
    "DISTINCT_BOUND",
    "MAX_DUPLICATE_CHECK_ROWS",
    "ColumnStats",
    "DatasetStats",
    "Profiler",
    "detect_time_column",
    "detect_unit_column",
    "dtype_of",
    "profile_table",
]

TOP_VALUES = 10
MAX_TRACKED_UNITS = 100_000
"""Beyond this many units, per-unit statistics are dropped (the column is no unit column)."""
MAX_DUPLICATE_CHECK_ROWS = 25_000_000
"""Rows whose (unit, timestamp) pair is checked for repeats (about 8 bytes of memory each,
twice that for a moment while the largest runs merge)."""
_EXAMPLES = 5
_UNIT_MIX = np.uint64(0x9E3779B97F4A7C15)

_PLAIN_NUMBER = r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$"
_NUMBER_WITH_UNIT = (
    r"^\s*(?P<number>[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)"
    r"\s*(?P<unit>[^\s\d.,+-][^\s]{0,11})\s*$"
)
KNOWN_UNITS = frozenset(
    u.lower()
    for u in (
        "K °C ºC C degC °F F degF % ppm bar mbar Pa hPa kPa MPa psi atm "
        "V mV kV A mA W kW MW Wh kWh VA Hz kHz rpm rps 1/min "
        "m cm mm µm um μm km in ft m/s mm/s m/s2 m/s² g mg kg t lb N Nm kN "
        "s ms µs us min h l L ml mL m3 m³ m3/h m³/h l/min L/min dB"
    ).split()
)
"""Unit suffixes recognised in text values ("12 bar", "300K"), compared case-insensitively."""

_UNIT_NAMES = frozenset(
    "unit unit_id unit_nr unit_number machine machine_id asset asset_id equipment equipment_id "
    "device device_id engine engine_id serial serial_number tool_id station_id series_id".split()
)
_TIME_NAMES = (
    "timestamp time datetime date_time date ts cycle cycles time_cycles time_in_cycles step".split()
)


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def dtype_of(arrow_type: pa.DataType) -> ColumnType:
    """The signature type of a stored column type (timestamps and text are ``string``)."""
    if pa.types.is_integer(arrow_type):
        return ColumnType.INT
    if pa.types.is_floating(arrow_type):
        return ColumnType.FLOAT
    if pa.types.is_boolean(arrow_type):
        return ColumnType.BOOL
    return ColumnType.STRING


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _is_number(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type))


def detect_unit_column(schema: pa.Schema) -> str | None:
    """The first integer or text column whose name says it names a machine or unit
    (``unit``, ``machine_id``, ``asset``, ...), or ``None``."""
    for f in schema:
        if _norm(f.name) in _UNIT_NAMES and (pa.types.is_integer(f.type) or _is_text(f.type)):
            return str(f.name)
    return None


def detect_time_column(schema: pa.Schema) -> str | None:
    """The first timestamp column, else the first number column named like a time
    (``timestamp``, ``time``, ``cycle``, ...), or ``None``."""
    for f in schema:
        if pa.types.is_timestamp(f.type):
            return str(f.name)
    names = {_norm(f.name): f for f in schema if _is_number(f.type)}
    for candidate in _TIME_NAMES:
        if candidate in names:
            return str(names[candidate].name)
    return None


@dataclass
class ColumnStats:
    """Everything gathered about one column (the input of the quality checks)."""

    name: str
    arrow_type: pa.DataType
    rows: int = 0
    missing: int = 0
    distinct: int = 0
    distinct_exact: bool = True
    min: float | int | str | None = None
    max: float | int | str | None = None
    mean: float | None = None
    std: float | None = None
    top: list[tuple[str, int]] | None = None
    plain_numbers: int = 0
    """Text values that are plain numbers."""
    unit_numbers: dict[str, int] = field(default_factory=dict)
    """Text values that are a number with a known unit, counted by unit as written."""
    unit_examples: list[str] = field(default_factory=list)
    other_text: int = 0
    """Text values that are neither."""
    other_examples: list[str] = field(default_factory=list)
    block_means: list[float] = field(default_factory=list)
    """Means of consecutive blocks of rows (number columns)."""
    unit_means: dict[str, float] = field(default_factory=dict)
    """Mean per unit (number columns, when there is a unit column)."""

    @property
    def dtype(self) -> ColumnType:
        return dtype_of(self.arrow_type)

    @property
    def present(self) -> int:
        return self.rows - self.missing


@dataclass
class DatasetStats:
    """Everything gathered about a table."""

    rows: int
    columns: list[ColumnStats]
    unit_column: str | None
    time_column: str | None
    unit_rows: dict[str, int] | None = None
    """Rows per unit; ``None`` without a unit column or with too many units."""
    duplicate_rows: int = 0
    """Rows whose (unit, timestamp) pair an earlier row already had."""
    duplicate_units: list[str] = field(default_factory=list)
    duplicate_checked_rows: int = 0

    def column(self, name: str) -> ColumnStats:
        return next(c for c in self.columns if c.name == name)

    def schema(self) -> list[DatasetColumn]:
        """The version's schema: name, type, and whether it has missing values."""
        return [
            DatasetColumn(
                name=c.name, dtype=c.dtype, arrow_type=str(c.arrow_type), nullable=c.missing > 0
            )
            for c in self.columns
        ]

    def profile(self) -> DatasetProfile:
        """The version's profile, as shown to users."""
        return DatasetProfile(
            rows=self.rows,
            columns=[_column_profile(c) for c in self.columns],
            unit_column=self.unit_column,
            time_column=self.time_column,
        )


def _column_profile(c: ColumnStats) -> ColumnProfile:
    top = None if c.top is None else [CategoryCount(value=v, count=n) for v, n in c.top]
    return ColumnProfile(
        name=c.name,
        dtype=c.dtype,
        missing=c.missing,
        missing_fraction=round(c.missing / c.rows, 6) if c.rows else 0.0,
        distinct=c.distinct,
        distinct_exact=c.distinct_exact,
        min=c.min,
        max=c.max,
        mean=c.mean,
        std=c.std,
        top=top,
    )


class _ColumnProfiler:
    def __init__(self, name: str, arrow_type: pa.DataType, *, per_unit: bool) -> None:
        self.stats = ColumnStats(name=name, arrow_type=arrow_type)
        self.number = _is_number(arrow_type)
        self.text = _is_text(arrow_type)
        self.distinct = DistinctSketch()
        self.moments = Moments()
        self.blocks = BlockMeans() if self.number else None
        self.unit_counts = np.zeros(0) if self.number and per_unit else None
        self.unit_sums = np.zeros(0) if self.number and per_unit else None
        self.top: Counter[str] | None = (
            Counter() if self.text or pa.types.is_boolean(arrow_type) else None
        )
        self.lo: Any = None
        self.hi: Any = None

    def update(self, array: pa.Array, start_row: int, units: np.ndarray | None) -> None:
        s = self.stats
        s.rows += len(array)
        if self.number:
            values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            finite = np.isfinite(values)
            s.missing += int(len(values) - finite.sum())
            present = values[finite]
            self.moments.update(present)
            if len(present):
                self._bounds(array.filter(pa.array(finite)))
                self.distinct.update(pd.util.hash_array(present))
            assert self.blocks is not None
            self.blocks.update(values, start_row)
            if units is not None and self.unit_counts is not None:
                self._unit_sums(values, units)
            return
        s.missing += array.null_count
        present_array = array.drop_null()
        if len(present_array) == 0:
            return
        if pa.types.is_timestamp(array.type):
            self._bounds(present_array)
            raw = pc.cast(present_array, pa.int64()).to_numpy()
        else:
            raw = present_array.to_numpy(zero_copy_only=False)
        self.distinct.update(
            pd.util.hash_array(np.asarray(raw, dtype=object if self.text else None))
        )
        if self.top is not None:
            self._count_values(present_array)
        if self.text:
            self._text_shape(present_array)

    def _bounds(self, present: pa.Array) -> None:
        bounds = pc.min_max(present)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is not None:
            self.lo = lo if self.lo is None else min(self.lo, lo)
            self.hi = hi if self.hi is None else max(self.hi, hi)

    def _unit_sums(self, values: np.ndarray, units: np.ndarray) -> None:
        assert self.unit_counts is not None
        assert self.unit_sums is not None
        ok = (units >= 0) & np.isfinite(values)
        length = int(units.max()) + 1 if len(units) else 0
        if len(self.unit_counts) < length:
            grow = length - len(self.unit_counts)
            self.unit_counts = np.concatenate([self.unit_counts, np.zeros(grow)])
            self.unit_sums = np.concatenate([self.unit_sums, np.zeros(grow)])
        if ok.any():
            idx = units[ok]
            self.unit_counts[: idx.max() + 1] += np.bincount(idx)
            with np.errstate(over="ignore", invalid="ignore"):
                self.unit_sums[: idx.max() + 1] += np.bincount(idx, weights=values[ok])

    def _count_values(self, present: pa.Array) -> None:
        assert self.top is not None
        counts = pc.value_counts(present)
        if len(counts) + len(self.top) > DISTINCT_BOUND:
            self.top = None  # too many different values to be worth listing
            return
        for value, n in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            self.top[str(value).lower() if isinstance(value, bool) else str(value)] += n

    def _text_shape(self, present: pa.Array) -> None:
        s = self.stats
        plain = pc.match_substring_regex(present, _PLAIN_NUMBER)
        s.plain_numbers += int(pc.sum(plain).as_py() or 0)
        rest = present.filter(pc.invert(plain))
        if len(rest) == 0:
            return
        extracted = pc.extract_regex(rest, _NUMBER_WITH_UNIT)
        matched = extracted.is_valid()
        with_unit = rest.filter(matched)
        units = extracted.filter(matched).field("unit")
        known = pa.array([u.lower() in KNOWN_UNITS for u in units.to_pylist()], pa.bool_())
        for unit in units.filter(known).to_pylist():
            s.unit_numbers[unit] = s.unit_numbers.get(unit, 0) + 1
        _add_examples(s.unit_examples, with_unit.filter(known))
        other = pa.concat_arrays(
            [rest.filter(pc.invert(matched)), with_unit.filter(pc.invert(known))]
        )
        s.other_text += len(other)
        _add_examples(s.other_examples, other)

    def finish(self, unit_names: list[str]) -> ColumnStats:
        s = self.stats
        s.distinct, s.distinct_exact = self.distinct.estimate()
        s.mean, s.std = self.moments.result() if self.number else (None, None)
        s.min, s.max = _jsonable(self.lo), _jsonable(self.hi)
        if self.top is not None:
            s.top = self.top.most_common(TOP_VALUES)
        if self.blocks is not None:
            s.block_means = self.blocks.means()
        if self.unit_counts is not None and self.unit_sums is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                s.unit_means = {
                    unit_names[i]: float(self.unit_sums[i] / self.unit_counts[i])
                    for i in np.flatnonzero(self.unit_counts)
                    if np.isfinite(self.unit_sums[i] / self.unit_counts[i])
                }
        return s


def _add_examples(examples: list[str], values: pa.Array) -> None:
    if len(examples) >= _EXAMPLES or len(values) == 0:
        return
    for value in pc.unique(values.slice(0, 1000)).to_pylist():
        if value not in examples and len(examples) < _EXAMPLES:
            examples.append(str(value)[:60])


def _jsonable(value: Any) -> float | int | str | None:
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


class Profiler:
    """Profile a table batch by batch: ``update(batch)`` for each, then ``finish()``.

    Args:
        schema: the table's schema (every batch must have it).
        unit_column: the column naming each row's machine or unit, if any.
        time_column: the column ordering each unit's rows in time, if any.
    """

    def __init__(
        self, schema: pa.Schema, *, unit_column: str | None = None, time_column: str | None = None
    ) -> None:
        self.schema = schema
        self.unit_column = unit_column
        self.time_column = time_column
        self.rows = 0
        self._unit_ids: dict[str, int] | None = {} if unit_column else None
        self._unit_rows = np.zeros(0, dtype=np.int64)
        self._repeats = RepeatFinder()
        self._repeated_rows = 0
        self._repeated_units: set[int] = set()
        self._checked = 0
        self._columns = [
            _ColumnProfiler(f.name, f.type, per_unit=unit_column is not None) for f in schema
        ]

    def update(self, batch: pa.RecordBatch) -> None:
        """Add the rows of ``batch`` (its schema must be the profiler's)."""
        units = self._units(batch)
        for index, column in enumerate(self._columns):
            column.update(batch.column(index), self.rows, units)
        if self.time_column is not None:
            self._hash_pairs(batch, units)
        self.rows += batch.num_rows

    def _units(self, batch: pa.RecordBatch) -> np.ndarray | None:
        """Each row's unit as a number (-1 where missing); ``None`` once there are too many."""
        if self.unit_column is None or self._unit_ids is None:
            return None
        encoded = pc.dictionary_encode(batch.column(self.unit_column))
        lookup = np.array(
            [
                self._unit_ids.setdefault(str(u), len(self._unit_ids))
                for u in encoded.dictionary.to_pylist()
            ]
            + [-1],
            dtype=np.int64,
        )
        if len(self._unit_ids) > MAX_TRACKED_UNITS:
            self._unit_ids = None
            return None
        units = lookup[pc.fill_null(encoded.indices, -1).to_numpy()]
        counts = np.bincount(units[units >= 0], minlength=len(self._unit_ids))
        if len(self._unit_rows) < len(counts):
            self._unit_rows = np.concatenate(
                [self._unit_rows, np.zeros(len(counts) - len(self._unit_rows), dtype=np.int64)]
            )
        self._unit_rows[: len(counts)] += counts
        return np.asarray(units)

    def _hash_pairs(self, batch: pa.RecordBatch, units: np.ndarray | None) -> None:
        assert self.time_column is not None
        if self._checked >= MAX_DUPLICATE_CHECK_ROWS:
            return
        times = batch.column(self.time_column)
        keep = times.is_valid().to_numpy(zero_copy_only=False)
        if self.unit_column is not None:
            if units is None:
                return  # too many units to tell them apart
            keep &= units >= 0
        keep[max(0, MAX_DUPLICATE_CHECK_ROWS - self._checked) :] = False
        present = times.filter(pa.array(keep))
        if pa.types.is_timestamp(present.type):
            present = pc.cast(present, pa.int64())
        values = present.to_numpy(zero_copy_only=False)
        hashes = pd.util.hash_array(
            np.asarray(values, dtype=object if values.dtype.kind == "O" else None)
        )
        unit_ids = units[keep] if units is not None else np.zeros(len(hashes), dtype=np.int64)
        # Mixed in by multiplication: a plain XOR would make (unit 1, time 2) and (unit 2,
        # time 1) collide, as numbers hash the same whichever column they come from.
        hashes ^= pd.util.hash_array(unit_ids) * _UNIT_MIX
        repeated = self._repeats.add(hashes)
        self._repeated_rows += int(repeated.sum())
        if units is not None and len(self._repeated_units) < 1000:
            self._repeated_units.update(int(u) for u in np.unique(unit_ids[repeated]))
        self._checked += len(hashes)

    def finish(self) -> DatasetStats:
        """The statistics of every row seen."""
        names = list(self._unit_ids) if self._unit_ids is not None else []
        stats = DatasetStats(
            rows=self.rows,
            columns=[c.finish(names) for c in self._columns],
            unit_column=self.unit_column,
            time_column=self.time_column,
            duplicate_checked_rows=self._checked,
        )
        if self._unit_ids is not None:
            stats.unit_rows = {
                name: int(n) for name, n in zip(names, self._unit_rows, strict=False)
            }
        else:
            for c in stats.columns:
                c.unit_means = {}
        stats.duplicate_rows = self._repeated_rows
        if names:  # units in first-seen order
            stats.duplicate_units = [names[u] for u in sorted(self._repeated_units)]
        return stats


def profile_table(
    table: pa.Table, *, unit_column: str | None = None, time_column: str | None = None
) -> DatasetStats:
    """Profile a whole in-memory table (a convenience over ``Profiler`` for small data)."""
    profiler = Profiler(table.schema, unit_column=unit_column, time_column=time_column)
    for batch in table.to_batches():
        profiler.update(batch)
    return profiler.finish()
