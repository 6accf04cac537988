"""Drift between a reference distribution and recent values, per feature: pure numerics.

The reference is either a *profile* (``ml.report.training_profile``'s shape: numeric decile
``edges`` and bin ``shares``, or categorical value ``shares``, each with a ``missing`` share)
or a *sample* of values (the first logged window of a version that has no training profile).

Statistics, per feature:

- **PSI** (population stability index), always: ``sum((a - e) * ln(a / e))`` over the
  reference's bins, with one extra bin for missing values, and every share floored at
  ``EPSILON`` (then renormalised) so an empty bin does not make it infinite. Live numbers
  outside the training range fall into the outermost bins.
- **KS** (Kolmogorov–Smirnov statistic) for numbers: against a profile, the largest gap
  between the two *binned* CDFs at the profile's bin edges — a lower bound of the exact
  statistic, which would need the training values themselves; against a sample, the exact
  two-sample statistic.
- **JS** (Jensen–Shannon divergence, base 2, so 0–1) for categories, over the profile's values
  plus one bucket for every value outside them (the profile keeps the 20 most frequent) and
  one for missing values.

A feature's state comes from its PSI: ``ok`` below ``psi_warning``, ``warning`` below
``psi_alert``, ``alert`` beyond (0.1 and 0.25 by default: the usual rule of thumb). A feature
without a reference or without live values is ``no_data`` and does not count towards the
overall state, which is the worst of the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from maas.ml.report import training_profile

__all__ = [
    "EPSILON",
    "STATES",
    "FeatureDrift",
    "Thresholds",
    "compare",
    "compare_sample",
    "js_divergence",
    "ks_binned",
    "ks_exact",
    "overall_state",
    "profile_sample",
    "psi",
]

EPSILON = 1e-4
"""Floor of every share in PSI and JS, so that an empty bin gives a large but finite value."""

STATES = ("ok", "warning", "alert")
"""Drift states from best to worst (``no_data`` stands apart)."""

NO_DATA = "no_data"
_OTHER = "__other__"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """PSI thresholds of the ``warning`` and ``alert`` states."""

    psi_warning: float = 0.1
    psi_alert: float = 0.25

    def __post_init__(self) -> None:
        if not (0 < self.psi_warning < self.psi_alert):
            raise ValueError(
                f"thresholds must satisfy 0 < psi_warning < psi_alert; got "
                f"{self.psi_warning} and {self.psi_alert}"
            )

    def state(self, value: float | None) -> str:
        """The state of a PSI value (``no_data`` for ``None``)."""
        if value is None or not math.isfinite(value):
            return NO_DATA
        if value >= self.psi_alert:
            return "alert"
        if value >= self.psi_warning:
            return "warning"
        return "ok"


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """The drift of one feature (or of the predictions)."""

    name: str
    kind: str
    """``numeric`` or ``categorical``."""
    psi: float | None
    state: str
    rows: int
    ks: float | None = None
    js: float | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "psi": self.psi}
        if self.kind == "numeric":
            out["ks"] = self.ks
        else:
            out["js"] = self.js
        out.update(state=self.state, rows=self.rows)
        if self.note:
            out["note"] = self.note
        return out


# the statistics ----------------------------------------------------------------------------


def _normalised(shares: np.ndarray) -> np.ndarray:
    floored = np.maximum(np.asarray(shares, dtype=np.float64), EPSILON)
    return floored / floored.sum()


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """Population stability index of ``actual`` shares against ``expected`` (same bins)."""
    e = _normalised(np.asarray(expected))
    a = _normalised(np.asarray(actual))
    return float(np.sum((a - e) * np.log(a / e)))


def js_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Jensen–Shannon divergence (base 2: between 0 and 1) of two share vectors."""
    pp = _normalised(np.asarray(p))
    qq = _normalised(np.asarray(q))
    m = (pp + qq) / 2
    value = 0.5 * np.sum(pp * np.log2(pp / m)) + 0.5 * np.sum(qq * np.log2(qq / m))
    return float(min(1.0, max(0.0, value)))


def ks_binned(
    expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray
) -> float:
    """Largest gap between two binned CDFs, at the bin edges (a lower bound of the exact KS)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = e / e.sum() if e.sum() > 0 else e
    a = a / a.sum() if a.sum() > 0 else a
    return float(np.max(np.abs(np.cumsum(e) - np.cumsum(a)))) if e.size else 0.0


def ks_exact(reference: np.ndarray, current: np.ndarray) -> float:
    """The exact two-sample Kolmogorov–Smirnov statistic (NaNs dropped)."""
    r = np.sort(reference[np.isfinite(reference)])
    c = np.sort(current[np.isfinite(current)])
    if r.size == 0 or c.size == 0:
        return 0.0
    grid = np.concatenate([r, c])
    cdf_r = np.searchsorted(r, grid, side="right") / r.size
    cdf_c = np.searchsorted(c, grid, side="right") / c.size
    return float(np.max(np.abs(cdf_r - cdf_c)))


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


# one feature against a profile -------------------------------------------------------------


def _as_floats(values: Iterable[Any]) -> np.ndarray:
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append(1.0 if v else 0.0)
        elif isinstance(v, int | float) and math.isfinite(float(v)):
            out.append(float(v))
        else:  # None, NaN, a string where a number was expected: missing
            out.append(math.nan)
    return np.asarray(out, dtype=np.float64)


def _as_labels(values: Iterable[Any]) -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append(None)
        else:
            out.append(str(v))
    return out


def _numeric_shares(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Shares of ``x`` (finite values only) in the bins ``edges`` make; the outermost bins
    take everything below or above the edges."""
    k = max(edges.size - 1, 1)
    idx = np.searchsorted(edges[1:-1], x, side="right") if edges.size > 2 else np.zeros(x.size)
    counts = np.bincount(idx.astype(np.int64), minlength=k)[:k].astype(np.float64)
    return counts / x.size if x.size else counts


def _compare_numeric(
    name: str, col: Mapping[str, Any], x: np.ndarray, thresholds: Thresholds
) -> FeatureDrift:
    rows = int(x.size)
    finite = x[np.isfinite(x)]
    missing_live = 1.0 - finite.size / rows
    missing_ref = float(col.get("missing") or 0.0)
    edges_raw = col.get("edges")
    if not edges_raw:  # a column that was always missing in training
        expected = np.array([0.0, 1.0])
        actual = np.array([1.0 - missing_live, missing_live])
        value = psi(expected, actual)
        return FeatureDrift(name, "numeric", _round(value), thresholds.state(value), rows, ks=None)
    edges = np.asarray([math.nan if e is None else e for e in edges_raw], dtype=np.float64)
    ref_shares = np.asarray(col.get("shares") or [1.0], dtype=np.float64)
    if edges[0] == edges[-1]:  # constant in training: below, equal, above
        ref_shares = np.array([0.0, 1.0, 0.0])
        live = np.array(
            [
                np.mean(finite < edges[0]) if finite.size else 0.0,
                np.mean(finite == edges[0]) if finite.size else 0.0,
                np.mean(finite > edges[0]) if finite.size else 0.0,
            ]
        )
    else:
        live = _numeric_shares(edges, finite)
    expected = np.append(ref_shares * (1.0 - missing_ref), missing_ref)
    actual = np.append(live * (1.0 - missing_live), missing_live)
    value = psi(expected, actual)
    ks = ks_binned(ref_shares, live) if finite.size else None
    return FeatureDrift(
        name, "numeric", _round(value), thresholds.state(value), rows, ks=_round(ks)
    )


def _compare_categorical(
    name: str, col: Mapping[str, Any], labels: list[str | None], thresholds: Thresholds
) -> FeatureDrift:
    rows = len(labels)
    shares: dict[str, float] = {str(k): float(v) for k, v in (col.get("shares") or {}).items()}
    missing_ref = float(col.get("missing") or 0.0)
    other_ref = max(0.0, 1.0 - sum(shares.values()))
    keys = [*shares, _OTHER]
    counts = dict.fromkeys(keys, 0)
    missing = 0
    for label in labels:
        if label is None:
            missing += 1
        elif label in shares:
            counts[label] += 1
        else:
            counts[_OTHER] += 1
    present = rows - missing
    expected = np.array([*(shares[k] for k in shares), other_ref]) * (1.0 - missing_ref)
    expected = np.append(expected, missing_ref)
    live = np.array([counts[k] for k in keys], dtype=np.float64)
    actual = np.append(live / rows, missing / rows) if rows else np.zeros(len(keys) + 1)
    value = psi(expected, actual)
    js = js_divergence(expected, actual)
    note = None
    if present and counts[_OTHER] and other_ref < EPSILON:
        note = f"{counts[_OTHER]} values never seen in the reference"
    return FeatureDrift(
        name, "categorical", _round(value), thresholds.state(value), rows, js=_round(js), note=note
    )


def compare(
    profile: Mapping[str, Any],
    values: Mapping[str, Sequence[Any]],
    thresholds: Thresholds | None = None,
) -> list[FeatureDrift]:
    """Compare recent values, column by column, with a profile.

    Args:
        profile: ``training_profile``'s ``columns`` member (column name → its profile).
        values: column name → recent values (``None`` or NaN for missing); columns of the
            profile absent here, or here but absent from the profile, are reported as
            ``no_data`` with a note rather than raising.
        thresholds: the PSI thresholds of the states.

    Returns:
        One ``FeatureDrift`` per column of ``values`` and of ``profile``, in ``values``' order
        then the profile's.
    """
    th = thresholds or Thresholds()
    out: list[FeatureDrift] = []
    for name, column_values in values.items():
        col = profile.get(name)
        rows = len(column_values)
        if col is None:
            out.append(FeatureDrift(name, "numeric", None, NO_DATA, rows, note="not profiled"))
        elif rows == 0:
            kind = str(col.get("kind", "numeric"))
            out.append(FeatureDrift(name, kind, None, NO_DATA, 0, note="no recent values"))
        elif col.get("kind") == "categorical":
            out.append(_compare_categorical(name, col, _as_labels(column_values), th))
        else:
            out.append(_compare_numeric(name, col, _as_floats(column_values), th))
    for name, col in profile.items():
        if name not in values:
            kind = str(col.get("kind", "numeric"))
            out.append(FeatureDrift(name, kind, None, NO_DATA, 0, note="not in the logged inputs"))
    return out


# one feature against a sample --------------------------------------------------------------


def _is_numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )


def profile_sample(values: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Profile a reference sample the way training data is profiled (``training_profile``)."""
    frame = pd.DataFrame(
        {
            name: pd.Series(_as_floats(col)) if _is_numeric(col) else pd.Series(col, dtype=object)
            for name, col in values.items()
        }
    )
    return dict(training_profile(frame, list(values))["columns"])


def compare_sample(
    reference: Mapping[str, Sequence[Any]],
    current: Mapping[str, Sequence[Any]],
    thresholds: Thresholds | None = None,
) -> list[FeatureDrift]:
    """Compare recent values with a reference *sample*, column by column: PSI on the sample's
    deciles (or values), the exact KS statistic for numbers, JS for categories."""
    th = thresholds or Thresholds()
    profile = profile_sample(reference)
    out = []
    for drift in compare(profile, current, th):
        ref = reference.get(drift.name)
        cur = current.get(drift.name)
        if drift.kind == "numeric" and drift.psi is not None and ref is not None and cur:
            exact = ks_exact(_as_floats(ref), _as_floats(cur))
            drift = FeatureDrift(
                drift.name,
                drift.kind,
                drift.psi,
                drift.state,
                drift.rows,
                ks=_round(exact),
                note=drift.note,
            )
        out.append(drift)
    return out


def overall_state(states: Iterable[str]) -> str:
    """The worst of ``states`` (``no_data`` when none of them is ok, warning or alert)."""
    worst = -1
    for state in states:
        if state in STATES:
            worst = max(worst, STATES.index(state))
    return STATES[worst] if worst >= 0 else NO_DATA
