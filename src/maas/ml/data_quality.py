"""Data-quality checks a plant engineer understands, run on a table's ``DatasetStats``.

Each check looks at one kind of problem and, when it finds it, says so in plain words with the
numbers behind it:

========================  ========  ==========================================================
check                     severity  fires when
========================  ========  ==========================================================
``constant_column``       warning   a column holds one value in every row (a stuck or
                                    disconnected sensor)
``mostly_missing``        warning   more than half of a column is empty (error: all of it)
``short_histories``       warning   units with fewer than ``min_history_rows`` rows
``duplicate_timestamps``  error     a unit has the same timestamp more than once
``mixed_units``           error     a column mixes bare numbers and numbers with units, or
                                    different units ("12 bar" and "1200 kPa"), or its level
                                    jumps about 1000 times (Pa vs kPa) or by about 273
                                    (Kelvin vs Celsius) between units or parts of the file
``unit_in_values``        warning   every number of a column carries the same unit ("12 bar")
``non_numeric_values``    warning   a column of numbers holds some text ("ERR", "--")
========================  ========  ==========================================================
"""

from __future__ import annotations

import math

from maas.domain.datasets import QualityCheck, QualityFinding, Severity
from maas.ml.profiling import ColumnStats, DatasetStats

__all__ = ["MIN_HISTORY_ROWS", "quality_findings"]

MIN_HISTORY_ROWS = 10
"""Units with fewer rows than this are reported as too short a history."""
MOSTLY_MISSING = 0.5
MOSTLY_NUMERIC = 0.8
"""Share of a text column's values that must be numbers for it to count as a number column."""
_SCALE_JUMP = (300.0, 3000.0)  # "about 1000 times"
_KELVIN_OFFSET = 273.15
_KELVIN_TOLERANCE = 35.0


def quality_findings(
    stats: DatasetStats, *, min_history_rows: int = MIN_HISTORY_ROWS
) -> list[QualityFinding]:
    """Every finding about ``stats``: whole-table ones first, then column by column."""
    findings: list[QualityFinding] = []
    findings.extend(_short_histories(stats, min_history_rows))
    findings.extend(_duplicate_timestamps(stats))
    keys = {stats.unit_column, stats.time_column}
    for column in stats.columns:
        findings.extend(_missing(column))
        findings.extend(_text_numbers(column))
        if column.name not in keys:
            findings.extend(_constant(column))
            findings.extend(_level_jumps(column, by_unit=stats.unit_column))
    return findings


def _fmt(value: float | int | str | None) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _rows(n: int, noun: str = "row") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "0 %"


def _constant(c: ColumnStats) -> list[QualityFinding]:
    if c.present < 2 or c.distinct != 1 or c.missing / c.rows > MOSTLY_MISSING:
        return []
    value = c.min if c.min is not None else (c.top[0][0] if c.top else None)
    return [
        QualityFinding(
            check=QualityCheck.CONSTANT,
            severity=Severity.WARNING,
            column=c.name,
            message=(
                f"Column '{c.name}' has the same value ({_fmt(value)}) in every row that has a "
                "value. It tells a model nothing: check whether the sensor is stuck or "
                "disconnected, or leave the column out."
            ),
            details={"value": value, "rows": c.present},
        )
    ]


def _missing(c: ColumnStats) -> list[QualityFinding]:
    if c.rows == 0 or c.missing / c.rows <= MOSTLY_MISSING:
        return []
    if c.missing == c.rows:
        return [
            QualityFinding(
                check=QualityCheck.MOSTLY_MISSING,
                severity=Severity.ERROR,
                column=c.name,
                message=(
                    f"Column '{c.name}' is empty in every row. Check the export or the sensor; "
                    "a model cannot use it."
                ),
                details={"missing": c.missing, "rows": c.rows, "missing_fraction": 1.0},
            )
        ]
    return [
        QualityFinding(
            check=QualityCheck.MOSTLY_MISSING,
            severity=Severity.WARNING,
            column=c.name,
            message=(
                f"Column '{c.name}' is empty in {c.missing} of {c.rows} rows "
                f"({_pct(c.missing, c.rows)}). A model will mostly guess for it: check whether "
                "the sensor drops out, or leave the column out."
            ),
            details={
                "missing": c.missing,
                "rows": c.rows,
                "missing_fraction": round(c.missing / c.rows, 4),
            },
        )
    ]


def _short_histories(stats: DatasetStats, min_rows: int) -> list[QualityFinding]:
    if stats.unit_column is None or stats.time_column is None or not stats.unit_rows:
        return []
    short = sorted(
        ((unit, n) for unit, n in stats.unit_rows.items() if n < min_rows), key=lambda p: p[1]
    )
    if not short:
        return []
    shortest, rows = short[0]
    return [
        QualityFinding(
            check=QualityCheck.SHORT_HISTORIES,
            severity=Severity.WARNING,
            column=stats.unit_column,
            message=(
                f"{len(short)} of {_rows(len(stats.unit_rows), 'unit')} "
                f"{'has' if len(short) == 1 else 'have'} fewer than {min_rows} rows "
                f"(shortest: '{shortest}' with {rows}). A model learns little from such short "
                "histories: collect more data for them, or leave them out."
            ),
            details={
                "min_rows": min_rows,
                "short_units": len(short),
                "units": len(stats.unit_rows),
                "examples": dict(short[:5]),
            },
        )
    ]


def _duplicate_timestamps(stats: DatasetStats) -> list[QualityFinding]:
    if stats.time_column is None or stats.duplicate_rows == 0:
        return []
    per_unit = stats.unit_column is not None
    where = (
        f" (units: {', '.join(repr(u) for u in stats.duplicate_units[:5])})"
        if stats.duplicate_units
        else ""
    )
    owner = "its unit" if per_unit else "another row"
    return [
        QualityFinding(
            check=QualityCheck.DUPLICATE_TIMESTAMPS,
            severity=Severity.ERROR,
            column=stats.time_column,
            message=(
                f"{_rows(stats.duplicate_rows)} repeat{'s' if stats.duplicate_rows == 1 else ''} "
                f"a '{stats.time_column}' value that "
                f"{owner} already has{where}. Usually a logger wrote the same reading twice "
                "or a clock was changed: remove the repeats, or check the clocks."
            ),
            details={
                "duplicate_rows": stats.duplicate_rows,
                "units": stats.duplicate_units[:20],
                "checked_rows": stats.duplicate_checked_rows,
            },
        )
    ]


def _text_numbers(c: ColumnStats) -> list[QualityFinding]:
    """Checks on text columns whose values are mostly numbers."""
    numbers = c.plain_numbers + sum(c.unit_numbers.values())
    if c.present == 0 or numbers / c.present < MOSTLY_NUMERIC:
        return []
    findings = []
    written = {u.lower(): u for u in c.unit_numbers}
    if len(written) + (c.plain_numbers > 0) >= 2:
        kinds = sorted(c.unit_numbers) + (["no unit"] if c.plain_numbers else [])
        findings.append(
            QualityFinding(
                check=QualityCheck.MIXED_UNITS,
                severity=Severity.ERROR,
                column=c.name,
                message=(
                    f"Column '{c.name}' mixes units: {', '.join(kinds)} (e.g. "
                    f"{', '.join(repr(e) for e in c.unit_examples[:3])}). Convert every value "
                    "to one unit and write only the number; put the unit in the column name."
                ),
                details={
                    "units": dict(c.unit_numbers),
                    "without_unit": c.plain_numbers,
                    "examples": c.unit_examples,
                },
            )
        )
    elif written and c.plain_numbers == 0:
        unit = next(iter(c.unit_numbers))
        findings.append(
            QualityFinding(
                check=QualityCheck.UNIT_IN_VALUES,
                severity=Severity.WARNING,
                column=c.name,
                message=(
                    f"Column '{c.name}' holds numbers written with their unit ('{unit}'), so it "
                    "is read as text. Write only the number and put the unit in the column name "
                    f"('{c.name}_{unit.lower()}')."
                ),
                details={"unit": unit, "examples": c.unit_examples},
            )
        )
    if c.other_text:
        findings.append(
            QualityFinding(
                check=QualityCheck.NON_NUMERIC,
                severity=Severity.WARNING,
                column=c.name,
                message=(
                    f"Column '{c.name}' is mostly numbers, but {_rows(c.other_text, 'value')} "
                    f"{'is' if c.other_text == 1 else 'are'} not "
                    f"(e.g. {', '.join(repr(e) for e in c.other_examples[:3])}). Because of "
                    "them the column is read as text: leave such cells empty instead."
                ),
                details={"non_numeric": c.other_text, "examples": c.other_examples},
            )
        )
    return findings


def _level_jumps(c: ColumnStats, *, by_unit: str | None) -> list[QualityFinding]:
    """A number column whose typical level differs ~1000x or by ~273 between parts."""
    if c.unit_means and len(c.unit_means) >= 2:
        parts = c.unit_means
        where = f"units of '{by_unit}'"
    elif len(c.block_means) >= 2:
        parts = {f"rows block {i + 1}": m for i, m in enumerate(c.block_means)}
        where = "parts of the file"
    else:
        return []
    found = _scale_split(parts) or _kelvin_split(parts)
    if found is None:
        return []
    kind, low, high = found
    low_level = sum(low.values()) / len(low)
    high_level = sum(high.values()) / len(high)
    if kind == "scale":
        cause = "about 1000 times larger in some of them (for example Pa and kPa, or mm and m)"
    else:
        cause = "about 273 higher in some of them (Kelvin and degrees Celsius mixed)"
    return [
        QualityFinding(
            check=QualityCheck.MIXED_UNITS,
            severity=Severity.ERROR,
            column=c.name,
            message=(
                f"Column '{c.name}' changes level between {where}: around {_fmt(low_level)} in "
                f"{len(low)} and around {_fmt(high_level)} in {len(high)}, {cause}. Convert "
                "every part to one unit."
            ),
            details={
                "kind": kind,
                "low_level": low_level,
                "high_level": high_level,
                "low_parts": sorted(low)[:5],
                "high_parts": sorted(high)[:5],
            },
        )
    ]


def _split_at_largest_gap(
    parts: dict[str, float],
) -> tuple[dict[str, float], dict[str, float], float, float]:
    """The parts below and above the largest gap between sorted values, and its two edges."""
    ordered = sorted(parts.items(), key=lambda p: p[1])
    gaps = [ordered[i + 1][1] - ordered[i][1] for i in range(len(ordered) - 1)]
    cut = max(range(len(gaps)), key=gaps.__getitem__) + 1
    low, high = dict(ordered[:cut]), dict(ordered[cut:])
    return low, high, ordered[cut - 1][1], ordered[cut][1]


def _scale_split(parts: dict[str, float]) -> tuple[str, dict[str, float], dict[str, float]] | None:
    """Parts whose magnitudes fall in two groups about 1000x apart (all of one sign)."""
    values = list(parts.values())
    if not (all(v > 0 for v in values) or all(v < 0 for v in values)):
        return None
    logs = {name: math.log10(abs(v)) for name, v in parts.items()}
    low_log, high_log, top_low, bottom_high = _split_at_largest_gap(logs)
    ratio = 10 ** (bottom_high - top_low)
    spread_low = max(low_log.values()) - min(low_log.values())
    spread_high = max(high_log.values()) - min(high_log.values())
    if not (_SCALE_JUMP[0] <= ratio <= _SCALE_JUMP[1]) or max(spread_low, spread_high) > 1.0:
        return None
    return "scale", {n: parts[n] for n in low_log}, {n: parts[n] for n in high_log}


def _kelvin_split(
    parts: dict[str, float],
) -> tuple[str, dict[str, float], dict[str, float]] | None:
    """Parts in two groups about 273 apart, the lower one plausible in degrees Celsius."""
    low, high, top_low, bottom_high = _split_at_largest_gap(parts)
    low_level = sum(low.values()) / len(low)
    high_level = sum(high.values()) / len(high)
    if bottom_high - top_low < 100:  # the groups must be clearly apart
        return None
    if not (-60.0 <= low_level <= 200.0 and 200.0 <= high_level <= 480.0):
        return None
    if abs(high_level - low_level - _KELVIN_OFFSET) > _KELVIN_TOLERANCE:
        return None
    return "kelvin", low, high
