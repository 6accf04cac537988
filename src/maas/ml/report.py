"""The evaluation report stored with every trained version, and the training-data profile
that drift checks compare live inputs with."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["stability", "training_profile"]

_BINS = 10
_TOP = 20


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def training_profile(df: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """Per input column: its distribution in the training data.

    Numbers: decile edges (11 values) with the share of rows in each bin, mean, std, min, max
    and the missing share. Categories and strings: the share of each of the 20 most frequent
    values. Drift checks bin live inputs on the same edges (PSI) or compare the shares.
    """
    profile: dict[str, Any] = {"rows": len(df), "columns": {}}
    for name in columns:
        if name not in df.columns:
            continue
        series = df[name]
        missing = float(series.isna().mean()) if len(series) else 0.0
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            counts = series.astype("string").value_counts(normalize=True, dropna=True)
            profile["columns"][name] = {
                "kind": "categorical",
                "missing": round(missing, 6),
                "shares": {str(k): round(float(v), 6) for k, v in counts.head(_TOP).items()},
            }
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size == 0:
            profile["columns"][name] = {"kind": "numeric", "missing": 1.0}
            continue
        edges = np.unique(np.quantile(values, np.linspace(0, 1, _BINS + 1)))
        if edges.size < 2:
            edges = np.array([values[0], values[0]])
        if edges[0] != edges[-1]:
            counts, _ = np.histogram(values, bins=edges)
        else:  # a constant column: one bin holds everything
            counts = np.array([values.size])
        profile["columns"][name] = {
            "kind": "numeric",
            "missing": round(missing, 6),
            "edges": [_clean(e) for e in edges.tolist()],
            "shares": [round(float(c) / values.size, 6) for c in counts.tolist()],
            "mean": _clean(float(values.mean())),
            "std": _clean(float(values.std())),
            "min": _clean(float(values.min())),
            "max": _clean(float(values.max())),
        }
    return profile


def stability(
    runs: Sequence[dict[str, float]],
) -> dict[str, dict[str, float | None]]:
    """Mean and standard deviation of each metric over several runs (seeds and splits)."""
    keys = sorted({k for run in runs for k, v in run.items() if isinstance(v, int | float)})
    out: dict[str, dict[str, float | None]] = {}
    for key in keys:
        values = np.array(
            [float(run[key]) for run in runs if isinstance(run.get(key), int | float)]
        )
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        out[key] = {
            "mean": _clean(float(values.mean())),
            "std": _clean(float(values.std(ddof=1))) if values.size > 1 else 0.0,
            "runs": int(values.size),
        }
    return out
