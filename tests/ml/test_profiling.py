"""Profiles and data-quality checks on small generated frames: each check fires on its problem
and stays quiet on clean data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from maas.domain.datasets import QualityCheck, Severity
from maas.ml.data_quality import quality_findings
from maas.ml.profiling import (
    DISTINCT_BOUND,
    Profiler,
    detect_time_column,
    detect_unit_column,
    profile_table,
)
from maas.ml.sketches import RepeatFinder


def clean_frame(units: int = 4, cycles: int = 30, seed: int = 0) -> pd.DataFrame:
    """Run-to-failure style histories: every check should stay quiet on them."""
    rng = np.random.default_rng(seed)
    n = units * cycles
    return pd.DataFrame(
        {
            "unit": np.repeat([f"pump-{u}" for u in range(units)], cycles),
            "cycle": np.tile(np.arange(cycles), units),
            "temperature_c": 60 + rng.normal(0, 2, n),
            "pressure_bar": 5 + rng.normal(0, 0.3, n),
            "vibration_mm_s": np.abs(rng.normal(2, 0.5, n)),
            "mode": rng.choice(["idle", "run", "stop"], n),
        }
    )


def findings_of(frame: pd.DataFrame, **kwargs: str) -> list[tuple[QualityCheck, str | None]]:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    unit = kwargs.get("unit", detect_unit_column(table.schema))
    time = kwargs.get("time", detect_time_column(table.schema))
    stats = profile_table(table, unit_column=unit, time_column=time)
    return [(f.check, f.column) for f in quality_findings(stats)]


def test_clean_histories_raise_no_finding() -> None:
    assert findings_of(clean_frame()) == []
    assert findings_of(clean_frame(units=1, cycles=500)) == []


def test_profile_counts_and_moments_are_right() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, None, 4.0, float("nan"), 5.0],
            "n": [1, 2, 2, 3, 3, 3],
            "s": ["a", "b", None, "b", "b", "c"],
            "ok": [True, False, True, True, None, True],
        }
    )
    stats = profile_table(pa.Table.from_pandas(frame, preserve_index=False))
    profile = {c.name: c for c in stats.profile().columns}
    assert (profile["x"].missing, profile["x"].distinct) == (2, 4)
    assert (profile["x"].min, profile["x"].max) == (1.0, 5.0)
    assert profile["x"].mean == pytest.approx(3.0)
    assert profile["x"].std == pytest.approx(np.std([1, 2, 4, 5], ddof=1))
    assert (profile["n"].min, profile["n"].max, profile["n"].distinct) == (1, 3, 3)
    assert isinstance(profile["n"].min, int)
    assert profile["s"].missing == 1
    assert [(t.value, t.count) for t in profile["s"].top or []] == [("b", 3), ("a", 1), ("c", 1)]
    assert [(t.value, t.count) for t in profile["ok"].top or []] == [("true", 4), ("false", 1)]
    assert stats.schema()[0].nullable is True
    assert stats.schema()[1].nullable is False


def test_profile_by_batches_equals_profile_at_once() -> None:
    frame = clean_frame(units=5, cycles=200, seed=3)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    whole = profile_table(table, unit_column="unit", time_column="cycle")
    profiler = Profiler(table.schema, unit_column="unit", time_column="cycle")
    for batch in table.to_batches(max_chunksize=37):
        profiler.update(batch)
    parts = profiler.finish()
    for a, b in zip(whole.profile().columns, parts.profile().columns, strict=True):
        assert a.model_dump(exclude={"mean", "std"}) == b.model_dump(exclude={"mean", "std"})
        assert a.mean == pytest.approx(b.mean)
        assert a.std == pytest.approx(b.std)
    assert whole.unit_rows == parts.unit_rows == {f"pump-{u}": 200 for u in range(5)}


def test_distinct_count_is_estimated_beyond_its_bound() -> None:
    n = DISTINCT_BOUND * 20
    table = pa.table({"id": np.arange(n, dtype=np.int64), "f": np.arange(n) % 7})
    profile = {c.name: c for c in profile_table(table).profile().columns}
    assert profile["id"].distinct_exact is False
    assert abs(profile["id"].distinct - n) / n < 0.1
    assert (profile["f"].distinct, profile["f"].distinct_exact) == (7, True)


def test_unit_and_time_columns_are_found_by_name_and_type() -> None:
    schema = pa.schema(
        [("Machine ID", pa.string()), ("value", pa.float64()), ("Cycle", pa.int64())]
    )
    assert (detect_unit_column(schema), detect_time_column(schema)) == ("Machine ID", "Cycle")
    schema = pa.schema([("reading", pa.float64()), ("logged", pa.timestamp("us"))])
    assert (detect_unit_column(schema), detect_time_column(schema)) == (None, "logged")
    assert detect_unit_column(pa.schema([("unit", pa.float64())])) is None


def test_constant_column_is_found() -> None:
    frame = clean_frame().assign(coolant_temp=21.5)
    assert findings_of(frame) == [(QualityCheck.CONSTANT, "coolant_temp")]


def test_mostly_missing_column_is_found_and_an_empty_one_is_an_error() -> None:
    frame = clean_frame()
    frame["flow"] = np.where(np.arange(len(frame)) % 3 == 0, 1.0 + np.arange(len(frame)), np.nan)
    frame["spare"] = np.nan
    table = pa.Table.from_pandas(frame, preserve_index=False)
    found = quality_findings(profile_table(table, unit_column="unit", time_column="cycle"))
    by_column = {f.column: f for f in found}
    assert set(by_column) == {"flow", "spare"}
    assert by_column["flow"].check is QualityCheck.MOSTLY_MISSING
    assert by_column["flow"].severity is Severity.WARNING
    assert "80 of 120 rows" in by_column["flow"].message
    assert by_column["spare"].severity is Severity.ERROR


def test_short_histories_are_found_per_unit() -> None:
    frame = pd.concat([clean_frame(), clean_frame(units=1, cycles=4).replace("pump-0", "pump-9")])
    found = quality_findings(
        profile_table(
            pa.Table.from_pandas(frame, preserve_index=False),
            unit_column="unit",
            time_column="cycle",
        ),
        min_history_rows=10,
    )
    assert [(f.check, f.column) for f in found] == [(QualityCheck.SHORT_HISTORIES, "unit")]
    assert found[0].details["examples"] == {"pump-9": 4}
    assert "1 of 5 units" in found[0].message


def test_duplicate_timestamps_are_found_per_unit_not_across_units() -> None:
    frame = clean_frame()
    assert findings_of(frame) == []  # every unit has cycles 0..29: no repeats within a unit
    repeated = pd.concat([frame, frame.iloc[[3, 40]]])
    found = quality_findings(
        profile_table(
            pa.Table.from_pandas(repeated, preserve_index=False),
            unit_column="unit",
            time_column="cycle",
        )
    )
    assert [(f.check, f.severity) for f in found] == [
        (QualityCheck.DUPLICATE_TIMESTAMPS, Severity.ERROR)
    ]
    assert found[0].details["duplicate_rows"] == 2
    assert found[0].details["units"] == ["pump-0", "pump-1"]


def test_duplicate_timestamps_without_a_unit_column() -> None:
    at = pd.date_range("2024-05-01", periods=50, freq="min").append(
        pd.DatetimeIndex(["2024-05-01 00:10:00"])
    )
    frame = pd.DataFrame({"at": at, "value": np.arange(51.0)})
    assert findings_of(frame) == [(QualityCheck.DUPLICATE_TIMESTAMPS, "at")]


def test_unit_suffixes_in_a_number_column_are_found() -> None:
    frame = clean_frame()
    mixed = frame.assign(pressure=[f"{v:.1f} bar" if i % 2 else f"{v:.1f}" for i, v in
                                    enumerate(frame["pressure_bar"])])  # fmt: skip
    assert findings_of(mixed.drop(columns="pressure_bar")) == [
        (QualityCheck.MIXED_UNITS, "pressure")
    ]
    kelvin = frame.assign(temp=[f"{v:.0f}K" for v in frame["temperature_c"] + 273])
    assert findings_of(kelvin) == [(QualityCheck.UNIT_IN_VALUES, "temp")]
    two_units = frame.assign(p=["5 bar" if i % 2 else "500 kPa" for i in range(len(frame))])
    assert findings_of(two_units) == [(QualityCheck.MIXED_UNITS, "p")]


def test_level_jumps_between_units_are_mixed_units() -> None:
    frame = clean_frame(units=6)
    kelvin_units = frame["unit"].isin(["pump-4", "pump-5"])
    frame.loc[kelvin_units, "temperature_c"] += 273.15
    found = quality_findings(
        profile_table(
            pa.Table.from_pandas(frame, preserve_index=False),
            unit_column="unit",
            time_column="cycle",
        )
    )
    assert [(f.check, f.column) for f in found] == [(QualityCheck.MIXED_UNITS, "temperature_c")]
    assert found[0].details["kind"] == "kelvin"
    assert found[0].details["high_parts"] == ["pump-4", "pump-5"]


def test_level_jumps_between_parts_of_the_file_are_mixed_units() -> None:
    frame = clean_frame(units=1, cycles=2000)
    frame.loc[1000:, "pressure_bar"] *= 1000  # the second half logged in mbar
    frame = frame.drop(columns="unit")
    assert findings_of(frame) == [(QualityCheck.MIXED_UNITS, "pressure_bar")]


def test_text_in_a_number_column_is_found() -> None:
    frame = clean_frame()
    torque = frame["pressure_bar"].round(2).astype(str)
    torque.iloc[[5, 50]] = ["ERR", "--"]
    found = findings_of(frame.assign(torque=torque))
    assert found == [(QualityCheck.NON_NUMERIC, "torque")]


def test_text_columns_of_words_are_not_number_columns() -> None:
    frame = clean_frame().assign(comment=lambda f: [f"checked {i}" for i in range(len(f))])
    assert findings_of(frame) == []


def test_repeat_finder_marks_exactly_the_values_seen_before() -> None:
    rng = np.random.default_rng(7)
    finder = RepeatFinder()
    seen: set[int] = set()
    for size in [0, 1, 50, 3, 400, 17, 1000, 2]:
        batch = rng.integers(0, 2_000, size).astype(np.uint64)
        expected = []
        for value in batch.tolist():
            expected.append(value in seen)
            seen.add(value)
        assert finder.add(batch).tolist() == expected
    assert sum(len(run) for run in finder.runs) == len(seen)
    assert len(finder.runs) <= 12
