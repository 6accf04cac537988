"""Features of the demand forecast: frames to series, layout, season detection, feature rows.

A feature row describes one series at an origin ``t`` (its last observed step) for a target
``t + k``. Every value-derived feature is divided by the row's *scale*, the mean absolute value
of the ``scale_window`` values up to ``t``, so the one model serves series of any size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from maas.errors import InvalidParameterError, SchemaMismatchError

__all__ = [
    "FeatureLayout",
    "ForecastSeries",
    "build_layout",
    "detect_periods",
    "read_times",
    "series_features",
    "split_series",
    "training_pairs",
]

_SEASONAL_CYCLES = 3
"""Values at the target's phase in this many past cycles are features."""
_MAX_ACF_LAG = 400
_MAX_DEFAULT_LAGS = 60
_NS_PER_DAY = 86_400 * 10**9
_CALENDAR_LIMITS = {
    # calendar field: it is a feature when the series' step is shorter than this many days
    "hour": 1,
    "day_of_week": 7,
    "day": 28,
    "week": 7.5,
    "month": 365,
}


class LayoutParams(Protocol):
    """What ``build_layout`` reads of the template's parameters."""

    horizon: int
    quantiles: tuple[float, ...]
    season_length: int | None
    lags: tuple[int, ...] | None
    windows: tuple[int, ...] | None
    calendar: bool


@dataclass(frozen=True, slots=True)
class ForecastSeries:
    """One series: its name, its values in time order, and their times as int64.

    ``times`` holds integer steps, or nanoseconds since the epoch (UTC) for datetimes; it may
    run ``horizon`` steps past ``values`` (the times being forecast).
    """

    key: str
    values: np.ndarray
    times: np.ndarray

    def head(self, n: int) -> ForecastSeries:
        """The first ``n`` steps."""
        return ForecastSeries(self.key, self.values[:n], self.times[:n])

    def with_future(self, layout: FeatureLayout) -> ForecastSeries:
        """The series with the ``horizon`` times after its end appended to ``times``."""
        last = int(self.times[len(self.values) - 1])
        h = layout.horizon
        if layout.time_kind == "datetime":
            start = pd.Timestamp(last, unit="ns")
            future = pd.date_range(start, periods=h + 1, freq=layout.freq)[1:]
            extra = future.as_unit("ns").asi8
        else:
            extra = last + layout.time_step * np.arange(1, h + 1, dtype=np.int64)
        return replace(self, times=np.concatenate([self.times[: len(self.values)], extra]))


@dataclass(frozen=True, slots=True)
class FeatureLayout:
    """Which features a model uses, and how time advances; JSON-serialisable."""

    horizon: int
    quantiles: tuple[float, ...]
    season_length: int
    periods: tuple[int, ...]
    lags: tuple[int, ...]
    windows: tuple[int, ...]
    scale_window: int
    calendar: tuple[str, ...]
    time_kind: str
    """``int`` (steps) or ``datetime``."""
    time_step: int
    """Steps between consecutive integer times (1 for datetimes)."""
    freq: str | None
    """The pandas frequency of datetime times."""

    @property
    def padding(self) -> int:
        """How far before an origin features look, at most."""
        seasonal = [p * (math.ceil(self.horizon / p) + _SEASONAL_CYCLES) for p in self.periods]
        return max([self.scale_window, *self.lags, *self.windows, *seasonal]) + 1

    def feature_names(self) -> list[str]:
        names = ["step", *(f"lag_{lag}" for lag in self.lags)]
        for w in self.windows:
            names += [f"mean_{w}", f"std_{w}"]
        for p in self.periods:
            names += [f"season_{p}_{j}" for j in range(_SEASONAL_CYCLES)] + [f"season_{p}_mean"]
        return names + [f"calendar_{c}" for c in self.calendar]

    def feature_sources(self) -> list[int]:
        """The input column each feature derives from: 1 the time column, 2 the value column."""
        return [1 if n == "step" or n.startswith("calendar_") else 2 for n in self.feature_names()]

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureLayout:
        """Rebuild from ``to_state``'s output.

        Raises:
            KeyError: a member is missing.
            TypeError: a member has the wrong type.
            ValueError: a member has a wrong value.
        """
        freq = state["freq"]
        layout = cls(
            horizon=int(state["horizon"]),
            quantiles=tuple(float(q) for q in state["quantiles"]),
            season_length=int(state["season_length"]),
            periods=tuple(int(p) for p in state["periods"]),
            lags=tuple(int(lag) for lag in state["lags"]),
            windows=tuple(int(w) for w in state["windows"]),
            scale_window=int(state["scale_window"]),
            calendar=tuple(str(c) for c in state["calendar"]),
            time_kind=str(state["time_kind"]),
            time_step=int(state["time_step"]),
            freq=None if freq is None else str(freq),
        )
        layout._check()
        return layout

    def _check(self) -> None:
        """Refuse values no training writes, which would fail only when forecasting.

        Raises:
            ValueError: a step count is not positive, a quantile level is outside (0, 1), or
                the time kind, frequency or calendar fields are not ones ``build_layout`` uses.
        """
        steps = (self.horizon, self.season_length, self.scale_window, self.time_step)
        if min((*steps, *self.periods, *self.lags, *self.windows)) < 1:
            raise ValueError("step counts must be positive")
        if not self.quantiles or any(not 0.0 < q < 1.0 for q in self.quantiles):
            raise ValueError("quantile levels must lie strictly between 0 and 1")
        if self.time_kind == "int":
            if self.calendar or self.freq is not None:
                raise ValueError("integer times have no calendar and no frequency")
        elif self.time_kind == "datetime":
            if self.freq is None or not set(self.calendar) <= set(_CALENDAR_LIMITS):
                raise ValueError(
                    f"datetimes need a frequency and calendar fields among {list(_CALENDAR_LIMITS)}"
                )
            to_offset(self.freq)  # ValueError when it is not a pandas frequency
        else:
            raise ValueError(f"time_kind must be 'int' or 'datetime', not {self.time_kind!r}")


def split_series(
    df: pd.DataFrame, columns: tuple[str, str, str]
) -> tuple[list[ForecastSeries], str]:
    """Split long-format ``df`` into series sorted by time, in order of first appearance.

    Raises:
        SchemaMismatchError: a column is missing, values are not finite numbers, or timestamps
            are neither integers nor datetimes.
        InvalidParameterError: a series repeats a timestamp.
    """
    for name in columns:
        if name not in df.columns:
            raise SchemaMismatchError(
                f"Column {name!r} is missing from the data.",
                field=name,
                expected="a column of the data",
                received=f"columns {[str(c) for c in df.columns]}",
            )
    key_col, time_col, value_col = columns
    values = df[value_col]
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        raise SchemaMismatchError(
            f"Column {value_col!r} must be numeric. Got {values.dtype} instead.",
            field=value_col,
            expected="float64",
            received=str(values.dtype),
        )
    y = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(y).all():
        raise SchemaMismatchError(
            f"Column {value_col!r} must hold finite numbers. Got "
            f"{int((~np.isfinite(y)).sum())} missing or infinite values instead.",
            field=value_col,
            expected="finite numbers",
            received="missing or infinite values",
        )
    times, time_kind = read_times(df[time_col], time_col)
    keys = df[key_col].astype(str).to_numpy(dtype=object)
    codes, uniques = pd.factorize(keys)
    order = np.lexsort((times, codes))
    codes, times, y = codes[order], times[order], y[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    repeated = np.flatnonzero((np.diff(times) == 0) & (np.diff(codes) == 0))
    if len(repeated):
        name = str(uniques[codes[repeated[0]]])
        raise InvalidParameterError(
            f"Series {name!r} has two rows at the same time; each time may appear once per series.",
            field=time_col,
            expected="unique times within each series",
            received=f"a repeated time in series {name!r}",
        )
    return [
        ForecastSeries(key=str(uniques[c[0]]), values=v, times=t)
        for c, v, t in zip(
            np.split(codes, bounds), np.split(y, bounds), np.split(times, bounds), strict=True
        )
    ], time_kind


def read_times(column: pd.Series, name: str) -> tuple[np.ndarray, str]:
    """Return the timestamps as int64 (steps, or nanoseconds for datetimes) and their kind.

    Raises:
        SchemaMismatchError: the values are neither integers nor datetimes.
    """
    dtype = column.dtype
    if pd.api.types.is_integer_dtype(dtype):
        return column.to_numpy(dtype=np.int64), "int"
    if pd.api.types.is_float_dtype(dtype):
        steps = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isfinite(steps).all() and (steps % 1 == 0).all():
            return steps.astype(np.int64), "int"
    elif not pd.api.types.is_bool_dtype(dtype):
        try:
            parsed = pd.to_datetime(column, utc=True, format="ISO8601")
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None and not parsed.isna().any():
            return parsed.dt.tz_localize(None).dt.as_unit("ns").to_numpy().view(np.int64), (
                "datetime"
            )
    raise SchemaMismatchError(
        f"Column {name!r} must hold integer steps or datetimes. Got {dtype} values instead.",
        field=name,
        expected="integers or ISO 8601 datetimes",
        received=str(dtype),
    )


def build_layout(
    params: LayoutParams, series: Sequence[ForecastSeries], time_kind: str
) -> FeatureLayout:
    """Choose the features for ``series`` from ``params`` and what the data shows."""
    lengths = [len(s.values) for s in series]
    diffs = np.concatenate([np.diff(s.times) for s in series if len(s.times) > 1])
    positive = diffs[diffs > 0]
    step = int(np.median(positive)) if len(positive) else 1
    freq = _datetime_freq(series, step) if time_kind == "datetime" else None
    if params.season_length is not None:
        periods: tuple[int, ...] = (params.season_length,) if params.season_length > 1 else ()
    elif freq is not None:
        periods = _calendar_periods(freq, step, max(lengths))
    else:
        periods = detect_periods([s.values for s in series])
    m = periods[0] if periods else 1
    lags = params.lags or tuple(range(1, min(max(14, 2 * m), _MAX_DEFAULT_LAGS) + 1))
    windows = params.windows or tuple(sorted({4, 13, m, 4 * m} - {1}))
    calendar: tuple[str, ...] = ()
    if time_kind == "datetime" and params.calendar:
        days = step / _NS_PER_DAY
        calendar = tuple(c for c, limit in _CALENDAR_LIMITS.items() if days < limit)
    return FeatureLayout(
        horizon=params.horizon,
        quantiles=tuple(params.quantiles),
        season_length=m,
        periods=periods,
        lags=tuple(lags),
        windows=tuple(windows),
        scale_window=max(m, 7),
        calendar=calendar,
        time_kind=time_kind,
        time_step=1 if time_kind == "datetime" else max(step, 1),
        freq=freq,
    )


def detect_periods(values: Sequence[np.ndarray], max_lag: int = _MAX_ACF_LAG) -> tuple[int, ...]:
    """Seasonal periods shared by ``values``, from the mean autocorrelation of their changes.

    Peaks count after the autocorrelation first turns negative, and when they clear both 0.1
    and three standard errors of white noise over all the values used. The primary period is
    the shortest peak reaching 60% of the highest; the highest is a second period when it is a
    multiple of the first and clearly higher (a weekly cycle over a daily one). No peak gives
    no period.
    """
    total = np.zeros(max_lag + 2)
    count = np.zeros(max_lag + 2)
    used = 0
    for y in values[:: max(1, len(values) // 200)]:
        x = np.diff(y)
        lag = min(max_lag, len(x) // 3)
        x = x - x.mean()
        denominator = float(x @ x)
        if lag < 2 or denominator <= 0.0:
            continue
        spectrum = np.fft.rfft(x, 2 * len(x))
        acf = np.fft.irfft(spectrum * np.conj(spectrum))[: lag + 1] / denominator
        total[: lag + 1] += acf
        count[: lag + 1] += 1
        used += len(x)
    acf = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    negative = np.flatnonzero((acf[1:] < 0) & (count[1:] > 0))
    if used == 0 or len(negative) == 0:
        return ()
    threshold = max(0.1, 3.0 / math.sqrt(used))
    peaks = [
        lag
        for lag in range(int(negative[0]) + 2, max_lag + 1)
        if count[lag] > 0
        and acf[lag] > threshold
        and acf[lag] > acf[lag - 1]
        and acf[lag] >= acf[lag + 1]
    ]
    if not peaks:
        return ()
    best = max(peaks, key=lambda lag: acf[lag])
    primary = min(lag for lag in peaks if acf[lag] >= 0.6 * acf[best])
    if best % primary == 0 and acf[best] >= acf[primary] + 0.05:
        return (primary, best)
    return (primary,)


def _datetime_freq(series: Sequence[ForecastSeries], step: int) -> str:
    """The pandas frequency of datetime series whose typical step is ``step`` nanoseconds."""
    days = step / _NS_PER_DAY
    sample = pd.DatetimeIndex(series[0].times.view("datetime64[ns]"))
    if 27 <= days <= 32:
        return "MS" if (sample.day == 1).all() else "ME"
    if 88 <= days <= 93:
        return "QS" if (sample.day == 1).all() else "QE"
    if 364 <= days <= 367:
        return "YS" if (sample.day == 1).all() else "YE"
    if days == 7:
        return "W-" + str(sample[-1].day_name())[:3].upper()
    if days == 1:
        return "B" if (sample.day_of_week < 5).all() and len(sample) > 7 else "D"
    return f"{step // 10**9}s" if step % 10**9 == 0 else f"{step}ns"


def _calendar_periods(freq: str, step: int, longest: int) -> tuple[int, ...]:
    """Seasonal periods of a datetime frequency; a second one when the history covers it."""
    if freq.startswith("W-"):
        candidates: tuple[int, ...] = (52,)
    elif freq in ("MS", "ME"):
        candidates = (12,)
    elif freq in ("QS", "QE"):
        candidates = (4,)
    elif freq == "B":
        candidates = (5,)
    elif step == _NS_PER_DAY:
        candidates = (7, 365)
    elif step < _NS_PER_DAY and _NS_PER_DAY % step == 0:
        per_day = _NS_PER_DAY // step
        candidates = (per_day, 7 * per_day)
    else:
        candidates = ()
    periods = [p for p in candidates if p > 1]
    return tuple(p for i, p in enumerate(periods) if i == 0 or longest >= 2 * p)


def training_pairs(
    layout: FeatureLayout, n: int, quota: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sample at most ``quota`` (origin, step) pairs whose target lies inside ``n`` values."""
    h = layout.horizon
    first = min(n - 2, layout.scale_window - 1)
    origins = np.arange(max(first, 0), n - 1)
    per_origin = np.minimum(h, n - 1 - origins)
    total = int(per_origin.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    chosen = np.arange(total) if total <= quota else np.sort(rng.choice(total, quota, False))
    offsets = np.concatenate([[0], np.cumsum(per_origin)])
    row = np.searchsorted(offsets, chosen, side="right") - 1
    return origins[row], chosen - offsets[row] + 1


def series_features(
    layout: FeatureLayout, series: ForecastSeries, origins: np.ndarray, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows of ``series`` for targets ``origins + steps``, and each row's scale."""
    pad = layout.padding
    y = np.concatenate([np.full(pad, np.nan), series.values])
    known = np.concatenate([np.zeros(pad), np.ones(len(series.values))])
    zero = np.nan_to_num(y)
    sums = {
        "n": np.concatenate([[0.0], np.cumsum(known)]),
        "y": np.concatenate([[0.0], np.cumsum(zero)]),
        "y2": np.concatenate([[0.0], np.cumsum(zero * zero)]),
        "abs": np.concatenate([[0.0], np.cumsum(np.abs(zero))]),
    }
    at = origins + pad  # index of the origin's value in y

    def window(name: str, w: int) -> np.ndarray:
        return np.asarray(sums[name][at + 1] - sums[name][at + 1 - w])

    with np.errstate(divide="ignore", invalid="ignore"):
        scale = window("abs", layout.scale_window) / window("n", layout.scale_window)
        overall = sums["abs"][at + 1] / sums["n"][at + 1]
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, overall)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    columns = [steps.astype(np.float64)]
    columns += [y[at + 1 - lag] / scale for lag in layout.lags]
    with np.errstate(divide="ignore", invalid="ignore"):
        for w in layout.windows:
            n = window("n", w)
            mean = window("y", w) / n
            var = np.maximum(window("y2", w) / n - mean * mean, 0.0)
            columns += [mean / scale, np.sqrt(var) / scale]
    for p in layout.periods:
        back = at + steps - p * np.ceil(steps / p).astype(np.int64)
        cycles = [y[back - p * j] / scale for j in range(_SEASONAL_CYCLES)]
        stacked = np.column_stack(cycles)
        valid = np.isfinite(stacked).sum(axis=1)
        mean = np.where(valid > 0, np.nansum(stacked, axis=1) / np.maximum(valid, 1), np.nan)
        columns += [*cycles, mean]
    if layout.calendar:
        when = pd.DatetimeIndex(series.times[origins + steps].view("datetime64[ns]"))
        for field in layout.calendar:
            if field == "week":
                columns.append(when.isocalendar()["week"].to_numpy(dtype=np.float64))
            else:
                columns.append(np.asarray(getattr(when, field), dtype=np.float64))
    return np.column_stack(columns), scale
