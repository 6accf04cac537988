"""M4 Weekly and Hourly: the demand-forecast template against the official M4 scores.

Usage::

    python benchmarks/m4_forecast.py DATA_DIR [--json FILE] [--subset weekly|hourly|both]

``DATA_DIR/m4_weekly_hourly`` holds the organisers' ``*-train.csv`` / ``*-test.csv`` files and
the official score tables (see its README). The template is trained on the train rows only
(integer time steps), forecasts the official horizon, and is scored as the organisers' R code
does: sMAPE, MASE (lag 1 weekly, 24 hourly), OWA against the published Naive2 figures, and the
95 % interval's MSIS and coverage beside the ETS and ARIMA benchmarks.

The evaluation functions (``load_m4``, ``m4_frame``, ``m4_scores``, ``official_scores``,
``evaluate``) are importable, so the same protocol can run through the HTTP API.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maas.ml.templates.forecast import DemandForecast

__all__ = ["SUBSETS", "M4Subset", "evaluate", "load_m4", "m4_frame", "m4_scores", "official_scores"]


@dataclass(frozen=True, slots=True)
class M4Subset:
    """One M4 frequency's protocol."""

    name: str
    file_prefix: str
    horizon: int
    mase_season: int
    """The M4 "Frequency": the lag of MASE's and MSIS's in-sample scale."""
    season_length: int | None
    """The template's season length (None: its own detection)."""


SUBSETS = {
    "weekly": M4Subset("weekly", "Weekly", 13, 1, None),
    "hourly": M4Subset("hourly", "Hourly", 48, 24, None),
}
ALPHA = 0.05
"""The official prediction intervals are 95 %."""


def load_m4(data_dir: Path, subset: M4Subset) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Return the ids, the training series and the test values (shape ``(n, horizon)``)."""
    root = data_dir / "m4_weekly_hourly"
    train = _read_wide(root / f"{subset.file_prefix}-train.csv")
    test = _read_wide(root / f"{subset.file_prefix}-test.csv")
    if [k for k, _ in train] != [k for k, _ in test]:
        raise ValueError("the train and test rows are not in the same order")
    return [k for k, _ in train], [v for _, v in train], np.vstack([v for _, v in test])


def _read_wide(path: Path) -> list[tuple[str, np.ndarray]]:
    rows = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            values = np.array([float(v) for v in row[1:] if v != ""], dtype=np.float64)
            rows.append((row[0], values))
    return rows


def m4_frame(ids: list[str], series: list[np.ndarray]) -> pd.DataFrame:
    """Long format: ``series``, ``timestamp`` (0, 1, ... per series) and ``value``."""
    return pd.DataFrame(
        {
            "series": np.repeat(ids, [len(v) for v in series]),
            "timestamp": np.concatenate([np.arange(len(v)) for v in series]),
            "value": np.concatenate(series),
        }
    )


def m4_scores(
    train: list[np.ndarray],
    test: np.ndarray,
    point: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    season: int,
) -> dict[str, float]:
    """The organisers' sMAPE, MASE, MSIS (alpha 0.05) and coverage, averaged over series.

    ``point``, ``lower`` and ``upper`` have the shape of ``test``.
    """
    scale = np.array([np.mean(np.abs(y[season:] - y[:-season])) for y in train])[:, None]
    smape = 200.0 * np.abs(test - point) / (np.abs(test) + np.abs(point))
    mase = np.abs(test - point) / scale
    penalty = (2.0 / ALPHA) * ((lower - test) * (test < lower) + (test - upper) * (test > upper))
    msis = (upper - lower + penalty) / scale
    coverage = float(((test >= lower) & (test <= upper)).mean())
    return {
        "smape": float(smape.mean(axis=1).mean()),
        "mase": float(mase.mean(axis=1).mean()),
        "msis": float(msis.mean(axis=1).mean()),
        "coverage": coverage,
        "acd": abs(coverage - (1.0 - ALPHA)),
    }


def official_scores(data_dir: Path, subset: M4Subset) -> dict[str, dict[str, float]]:
    """The published scores of the M4 benchmarks on ``subset``: method → metric → value."""
    root = data_dir / "m4_weekly_hourly"
    out: dict[str, dict[str, float]] = {}
    for kind, metrics in (("point", ("smape", "mase", "owa")), ("interval", ("msis", "acd"))):
        with (root / f"m4_official_{kind}_scores_weekly_hourly.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                scores = {m: float(row[f"{subset.name}_{m}"]) for m in metrics}
                out.setdefault(row["method_id"], {}).update(scores)
    return out


def evaluate(data_dir: Path, subset: M4Subset, **params: Any) -> dict[str, Any]:
    """Train the template on ``subset``'s train rows, forecast, and score it like M4 does."""
    ids, train, test = load_m4(data_dir, subset)
    frame = m4_frame(ids, train)
    template = DemandForecast(
        horizon=subset.horizon,
        season_length=subset.season_length,
        quantiles=(ALPHA / 2, 0.5, 1.0 - ALPHA / 2),
        **params,
    )
    started, cpu = time.perf_counter(), time.process_time()
    template.fit(frame)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    prediction = template.forecast(frame)
    assert prediction.quantiles is not None
    assert prediction.keys is not None
    order = {key: i for i, key in enumerate(ids)}
    rows = np.array([order[k["series"]] for k in prediction.keys[:: subset.horizon]])
    shape = (len(ids), subset.horizon)
    point = np.empty(shape)
    lower, upper = np.empty(shape), np.empty(shape)
    point[rows] = prediction.predictions.reshape(-1, subset.horizon)
    lower[rows] = prediction.quantiles[repr(ALPHA / 2)].reshape(-1, subset.horizon)
    upper[rows] = prediction.quantiles[repr(1.0 - ALPHA / 2)].reshape(-1, subset.horizon)
    scores = m4_scores(train, test, point, lower, upper, subset.mase_season)
    official = official_scores(data_dir, subset)
    naive2 = official["Naive2"]
    scores["owa"] = 0.5 * (scores["smape"] / naive2["smape"] + scores["mase"] / naive2["mase"])
    return {
        "subset": subset.name,
        "n_series": len(ids),
        "horizon": subset.horizon,
        "train_seconds": seconds,
        "train_cpu_seconds": cpu,
        "template": scores,
        "backtest": template.metrics_,
        "official": {
            k: official[k] for k in ("Naive2", "sNaive", "Theta", "SES", "ETS", "ARIMA", "Naive")
        },
    }


def _report(result: dict[str, Any]) -> str:
    ours, official = result["template"], result["official"]
    lines = [
        f"M4 {result['subset']} ({result['n_series']} series, h={result['horizon']}): "
        f"trained in {result['train_seconds']:.1f} s ({result['train_cpu_seconds']:.1f} s CPU)",
        f"  {'method':<22}{'sMAPE':>8}{'MASE':>8}{'OWA':>8}{'MSIS':>9}{'coverage':>10}",
        f"  {'demand_forecast':<22}{ours['smape']:8.3f}{ours['mase']:8.3f}{ours['owa']:8.3f}"
        f"{ours['msis']:9.3f}{ours['coverage']:10.3f}",
    ]
    for name in ("Naive2", "sNaive", "Theta", "SES", "ETS", "ARIMA"):
        s = official[name]
        point = f"{s['smape']:8.3f}{s['mase']:8.3f}{s['owa']:8.3f}" if "owa" in s else " " * 24
        interval = f"{s['msis']:9.3f}{1.0 - ALPHA - s['acd']:10.3f}" if "msis" in s else ""
        lines.append(f"  {name:<22}{point}{interval}")
    lines.append("  (published coverage shown as 0.95 - ACD: the ACD's sign is not published)")
    backtest = result["backtest"]
    lines.append(
        "  template backtest (train rows only): "
        + ", ".join(f"{k}={v:.3f}" for k, v in sorted(backtest.items()) if k[:2] != "n_")
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--subset", choices=["weekly", "hourly", "both"], default="both")
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    names = ["weekly", "hourly"] if args.subset == "both" else [args.subset]
    results = []
    for name in names:
        result = evaluate(args.data_dir, SUBSETS[name], n_jobs=args.n_jobs)
        print(_report(result), flush=True)
        results.append(result)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
