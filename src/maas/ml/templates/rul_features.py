"""Unit histories and their features, for the remaining-useful-life template.

``HistoryLayout.histories`` groups the rows of an input matrix by unit and sorts them by time;
``FeatureRecipe.features`` turns a unit's history up to a row into that row's features (looking
at nothing after it); ``OperatingConditions`` finds operating conditions in the settings
columns, so sensors can be normalised per condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from maas.domain.signature import ColumnType, Signature
from maas.errors import InvalidParameterError, SchemaMismatchError
from maas.ml.features import encode_frame

__all__ = [
    "SILHOUETTE_MIN",
    "FeatureRecipe",
    "HistoryLayout",
    "OperatingConditions",
    "UnitHistories",
    "encode_units",
]

SILHOUETTE_MIN = 0.7
"""Operating settings whose best KMeans clustering scores below this are one condition."""


@dataclass(frozen=True, slots=True)
class UnitHistories:
    """The rows of a matrix grouped by unit and sorted by time within each unit."""

    labels: list[Any]
    """Unit ids, in order of first appearance (``codes`` index them)."""
    codes: np.ndarray
    """Unit index of each sorted row."""
    order: np.ndarray
    """Input row of each sorted row."""
    starts: np.ndarray
    """First sorted row of each unit."""
    elapsed: np.ndarray
    """Time since the unit's first row."""
    sensors: np.ndarray
    """Candidate sensor values, ``(n_rows, n_candidates)``, float32 precision."""
    settings: np.ndarray
    """Operating-setting values, ``(n_rows, n_settings)``."""

    @property
    def n_units(self) -> int:
        return len(self.labels)

    @property
    def ends(self) -> np.ndarray:
        """Last sorted row of each unit."""
        return np.asarray(np.r_[self.starts[1:], len(self.codes)] - 1)

    @property
    def first_row(self) -> np.ndarray:
        """Each sorted row's unit's first row."""
        return np.asarray(self.starts[self.codes])


@dataclass(frozen=True, slots=True)
class HistoryLayout:
    """Where the unit, time, settings and candidate sensors sit in the input matrix."""

    unit: str
    time: str
    unit_is_text: bool
    settings: tuple[str, ...]
    candidates: tuple[str, ...]
    inputs: tuple[str, ...]

    @classmethod
    def of(
        cls,
        signature: Signature,
        *,
        unit: str,
        time: str,
        settings: Sequence[str],
        candidates: Sequence[str],
    ) -> HistoryLayout:
        """The layout of ``signature``'s matrix, whose ``unit`` input is text or numbers."""
        (unit_column,) = (c for c in signature.inputs if c.name == unit)
        return cls(
            unit=unit,
            time=time,
            unit_is_text=unit_column.dtype is ColumnType.STRING,
            settings=tuple(settings),
            candidates=tuple(candidates),
            inputs=tuple(signature.input_names),
        )

    def index(self, names: Sequence[str]) -> list[int]:
        return [self.inputs.index(n) for n in names]

    def histories(self, x: np.ndarray) -> UnitHistories:
        """Group and sort the rows of ``x`` (signature order).

        Raises:
            SchemaMismatchError: a unit or time is missing, or a unit has two rows at one time.
        """
        i_unit, i_time = self.index([self.unit, self.time])
        raw_units = x[:, i_unit]
        if not self.unit_is_text:
            raw_units = raw_units.astype(np.float64)
        if pd.isna(raw_units).any():
            raise SchemaMismatchError(
                f"Column {self.unit!r} must name the unit of every row. Got a missing value.",
                field=self.unit,
                expected="a unit id on every row",
                received="a missing value",
            )
        codes, uniques = pd.factorize(raw_units)
        labels = [str(u) if self.unit_is_text else int(u) for u in uniques]
        time = x[:, i_time].astype(np.float64)
        if not np.isfinite(time).all():
            raise SchemaMismatchError(
                f"Column {self.time!r} must be a finite number on every row. Got a missing "
                "value instead.",
                field=self.time,
                expected="a finite number",
                received="a missing value",
            )
        order = np.lexsort((time, codes))
        codes, time = codes[order], time[order]
        new_unit = np.r_[True, codes[1:] != codes[:-1]]
        repeated = ~new_unit & (time == np.r_[np.nan, time[:-1]])
        if repeated.any():
            at = int(np.argmax(repeated))
            raise SchemaMismatchError(
                f"Unit {labels[codes[at]]!r} has two rows at {self.time} {time[at]:g}; each "
                "unit needs one row per time.",
                field=self.time,
                expected="one row per unit and time",
                received=f"unit {labels[codes[at]]!r} twice at {time[at]:g}",
            )
        starts = np.flatnonzero(new_unit)
        rows = x[order]
        return UnitHistories(
            labels=labels,
            codes=codes,
            order=order,
            starts=starts,
            elapsed=time - time[starts[codes]],
            sensors=_floats(rows[:, self.index(self.candidates)]),
            settings=_floats(rows[:, self.index(self.settings)]),
        )


def _floats(block: np.ndarray) -> np.ndarray:
    # float32 first: served inputs arrive as float32, so training must see the same values.
    return np.asarray(block.astype(np.float32), dtype=np.float64)


def encode_units(df: pd.DataFrame, signature: Signature) -> np.ndarray:
    """Encode ``df`` as the runtime's input matrix (object dtype when units are text).

    Raises:
        SchemaMismatchError: a column is missing or holds values of the wrong type.
    """
    text = [c for c in signature.inputs if c.dtype is ColumnType.STRING]
    if not text:
        return encode_frame(df, signature)
    unit = text[0].name
    if unit not in df.columns:
        raise SchemaMismatchError(
            f"Column {unit!r} is missing.", field=unit, expected="string", received="nothing"
        )
    rest = Signature(inputs=[c for c in signature.inputs if c.name != unit])
    out = np.empty((len(df), len(signature.inputs)), dtype=object)
    j = signature.input_names.index(unit)
    out[:, j] = df[unit].astype(str).to_numpy(dtype=object)
    out[:, [i for i in range(len(signature.inputs)) if i != j]] = encode_frame(df, rest)
    return out


@dataclass(frozen=True, slots=True)
class FeatureRecipe:
    """How rows become features: conditions, normaliser, kept sensors and windows."""

    layout: HistoryLayout
    conditions: OperatingConditions | None
    mean: np.ndarray
    """Per condition and kept sensor, ``(n_conditions, n_sensors)``."""
    scale: np.ndarray
    sensors: tuple[str, ...]
    windows: tuple[int, ...]
    drift_window: int
    baseline_cycles: int

    @classmethod
    def fit(
        cls,
        layout: HistoryLayout,
        hist: UnitHistories,
        rows: np.ndarray,
        *,
        windows: Sequence[int],
        drift_window: int,
        baseline_cycles: int,
        max_conditions: int,
        seed: int,
    ) -> FeatureRecipe:
        """Find the conditions and the normaliser on the sorted ``rows`` (indices).

        Raises:
            InvalidParameterError: no sensor varies within the operating conditions.
        """
        conditions = OperatingConditions.fit(hist.settings[rows], max_conditions, seed)
        labels = np.zeros(len(rows), dtype=np.intp)
        if conditions is not None:
            labels = conditions.assign(hist.settings[rows])
        k = 1 if conditions is None else len(conditions.centres)
        mean, scale, varies = _normaliser(hist.sensors[rows], labels, k)
        if not varies.any():
            raise InvalidParameterError(
                "No sensor column varies within the operating conditions; there is nothing to "
                "learn the remaining life from.",
                field="features",
                expected="at least one varying sensor",
                received=list(layout.candidates),
            )
        return cls(
            layout=layout,
            conditions=conditions,
            mean=mean[:, varies],
            scale=scale[:, varies],
            sensors=tuple(s for s, v in zip(layout.candidates, varies, strict=True) if v),
            windows=tuple(windows),
            drift_window=drift_window,
            baseline_cycles=baseline_cycles,
        )

    @property
    def sources(self) -> np.ndarray:
        """The input column (signature index) each feature is derived from."""
        inputs = self.layout.inputs
        per_sensor = 2 + 2 * len(self.windows)
        return np.array(
            [inputs.index(self.layout.time)]
            + [inputs.index(s) for s in self.sensors for _ in range(per_sensor)]
        )

    def features(self, hist: UnitHistories, rows: np.ndarray) -> np.ndarray:
        """The feature matrix at sorted ``rows``, each from its unit's rows up to it only.

        Columns: the age, then per sensor the last value, the mean and slope over each window,
        and the drift (recent mean minus the unit's baseline), as ``sources`` lists them.
        """
        z = self._normalised(hist)
        first = hist.first_row
        pos = (np.arange(len(z)) - first).astype(np.float64)[:, None]
        csum = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
        cpos = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(pos * z, axis=0)])
        start = first[rows]

        def window(w: int) -> tuple[np.ndarray, np.ndarray]:
            lo = np.maximum(start, rows - w + 1)
            m = (rows - lo + 1).astype(np.float64)[:, None]
            total = csum[rows + 1] - csum[lo]
            weighted = cpos[rows + 1] - cpos[lo]
            positions = ((lo - start) + (rows - start)).astype(np.float64)[:, None] * m / 2
            spread = m * m * (m * m - 1) / 12  # m Σi² - (Σi)² over m consecutive positions
            slope = np.divide(
                m * weighted - positions * total, spread, out=np.zeros_like(total), where=m > 1
            )
            return total / m, slope

        blocks: list[np.ndarray] = [z[rows]]
        for w in self.windows:
            blocks.extend(window(w))
        recent = window(self.drift_window)[0]
        base_end = np.minimum(rows, start + self.baseline_cycles - 1)
        baseline = (csum[base_end + 1] - csum[start]) / (base_end - start + 1)[:, None]
        blocks.append(recent - baseline)
        per_sensor = np.stack(blocks, axis=2).reshape(len(rows), -1)
        return np.column_stack([hist.elapsed[rows], per_sensor]).astype(np.float32)

    def _normalised(self, hist: UnitHistories) -> np.ndarray:
        labels = np.zeros(len(hist.codes), dtype=np.intp)
        if self.conditions is not None:
            labels = self.conditions.assign(hist.settings)
        kept = [self.layout.candidates.index(s) for s in self.sensors]
        z = (hist.sensors[:, kept] - self.mean[labels]) / self.scale[labels]
        missing = np.isnan(z)
        if missing.any():  # carry the unit's last reading forward; none yet: the mean (0)
            seen = np.where(missing, -1, np.arange(len(z))[:, None])
            seen = np.maximum.accumulate(seen, axis=0)
            own = seen >= hist.first_row[:, None]
            z = np.where(own, z[np.maximum(seen, 0), np.arange(z.shape[1])], 0.0)
        return np.asarray(z)

    def to_state(self) -> dict[str, Any]:
        layout = self.layout
        return {
            "unit": layout.unit,
            "time": layout.time,
            "unit_is_text": layout.unit_is_text,
            "settings": list(layout.settings),
            "candidates": list(layout.candidates),
            "conditions": None if self.conditions is None else self.conditions.to_state(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "sensors": list(self.sensors),
            "windows": list(self.windows),
            "drift_window": self.drift_window,
            "baseline_cycles": self.baseline_cycles,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> FeatureRecipe:
        layout = HistoryLayout(
            unit=str(state["unit"]),
            time=str(state["time"]),
            unit_is_text=bool(state["unit_is_text"]),
            settings=tuple(state["settings"]),
            candidates=tuple(state["candidates"]),
            inputs=tuple(signature.input_names),
        )
        layout.index([layout.unit, layout.time, *layout.settings, *layout.candidates])
        conditions = state["conditions"]
        recipe = cls(
            layout=layout,
            conditions=None if conditions is None else OperatingConditions.from_state(conditions),
            mean=np.asarray(state["mean"], dtype=np.float64),
            scale=np.asarray(state["scale"], dtype=np.float64),
            sensors=tuple(str(s) for s in state["sensors"]),
            windows=tuple(int(w) for w in state["windows"]),
            drift_window=int(state["drift_window"]),
            baseline_cycles=int(state["baseline_cycles"]),
        )
        recipe._check()
        return recipe

    def _check(self) -> None:
        """Refuse a recipe no training writes, which would fail only when predicting.

        Raises:
            ValueError: the columns overlap, the sensors are not candidates, the normaliser or
                the conditions do not fit the sensors and settings, or a window is not positive.
        """
        layout = self.layout
        roles = [layout.unit, layout.time, *layout.settings, *layout.candidates]
        if len(set(roles)) != len(roles):
            raise ValueError("unit, time, settings and candidates must be distinct columns")
        if not self.sensors or not set(self.sensors) <= set(layout.candidates):
            raise ValueError("the sensors must be some of the candidate columns")
        k = 1 if self.conditions is None else len(self.conditions.centres)
        shape = (k, len(self.sensors))
        if self.mean.shape != shape or self.scale.shape != shape:
            raise ValueError(f"mean and scale must be of shape {shape}")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.scale).all()):
            raise ValueError("mean and scale must be finite")
        if not (self.scale > 0).all():
            raise ValueError("scale must be positive")
        if self.conditions is not None:
            self.conditions.check(len(layout.settings))
        if min((*self.windows, self.drift_window, self.baseline_cycles), default=0) < 1:
            raise ValueError("windows, drift_window and baseline_cycles must be positive")


@dataclass(frozen=True, slots=True)
class OperatingConditions:
    """Operating conditions: KMeans centres in the standardised space of the settings."""

    centre: np.ndarray
    spread: np.ndarray
    centres: np.ndarray

    @classmethod
    def fit(cls, settings: np.ndarray, max_k: int, seed: int) -> OperatingConditions | None:
        """The conditions of ``settings``, or ``None`` when they do not form tight clusters."""
        settings = settings[np.isfinite(settings).all(axis=1)]
        if settings.shape[1] == 0 or max_k < 2 or len(settings) < 50:
            return None
        centre, spread = settings.mean(axis=0), settings.std(axis=0)
        spread[spread == 0] = 1.0
        rng = np.random.default_rng(seed)
        sample = (settings[rng.permutation(len(settings))[:1000]] - centre) / spread
        distinct = len(np.unique(sample, axis=0))
        best, best_score = None, SILHOUETTE_MIN
        # One thread: on a few thousand points OpenMP's start-up and spinning cost ~100x the
        # work, and training runs beside live serving (see BoostedTemplate).
        with threadpool_limits(limits=1):
            for k in range(2, min(max_k, distinct - 1) + 1):
                km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(sample)
                score = float(silhouette_score(sample, km.labels_))
                if score > best_score:
                    best, best_score = km.cluster_centers_, score
        if best is None:
            return None
        best = best[np.lexsort(best.T[::-1])]  # a stable numbering of the conditions
        return cls(centre=centre, spread=spread, centres=best)

    def assign(self, settings: np.ndarray) -> np.ndarray:
        """The condition of each row (missing settings count as the overall mean)."""
        s = np.nan_to_num((settings - self.centre) / self.spread, nan=0.0)
        distances = ((s[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(np.argmin(distances, axis=1))

    def to_state(self) -> dict[str, Any]:
        return {
            "centre": self.centre.tolist(),
            "spread": self.spread.tolist(),
            "centres": self.centres.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OperatingConditions:
        return cls(**{k: np.asarray(state[k], dtype=np.float64) for k in cls.__slots__})

    def check(self, n_settings: int) -> None:
        """Raise ``ValueError`` unless these are finite conditions of ``n_settings`` settings."""
        if (
            self.centre.shape != (n_settings,)
            or self.spread.shape != (n_settings,)
            or self.centres.ndim != 2
            or self.centres.shape[1] != n_settings
            or len(self.centres) < 1
        ):
            raise ValueError(f"the operating conditions do not fit {n_settings} settings")
        parts = (self.centre, self.spread, self.centres)
        if not all(np.isfinite(a).all() for a in parts) or not (self.spread > 0).all():
            raise ValueError("the operating conditions must be finite, with positive spreads")


def _normaliser(
    sensors: np.ndarray, labels: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per condition and sensor mean and spread, and which sensors vary within a condition.

    Missing readings are skipped; a condition with no reading of a sensor takes its overall
    mean. A sensor that never varies within a condition (or is never read) does not vary.
    """
    finite = np.isfinite(sensors)
    values = np.where(finite, sensors, 0.0)

    def moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        seen = finite[rows].sum(axis=0)
        m = values[rows].sum(axis=0) / np.maximum(seen, 1)
        squares = np.where(finite[rows], values[rows] - m, 0.0) ** 2
        return seen, m, np.sqrt(squares.sum(axis=0) / np.maximum(seen, 1))

    overall = moments(np.ones(len(sensors), dtype=bool))[1]
    mean = np.empty((k, sensors.shape[1]))
    scale = np.empty((k, sensors.shape[1]))
    for c in range(k):
        seen, m, s = moments(labels == c)
        mean[c] = np.where(seen > 0, m, overall)
        scale[c] = np.where(seen > 1, s, 0.0)
    tolerance = 1e-6 * np.maximum(np.abs(mean).max(axis=0), 1.0)
    flat = scale <= tolerance
    scale[flat] = 1.0
    return mean, scale, ~flat.all(axis=0)
