"""Benchmark every template through the public HTTP API on real data, by the published protocols.

Usage::

    python benchmarks/templates_api.py DATA_DIR [--json FILE] [--only NAME]... [--folds N]
        [--n-jobs N] [--strict] [--job-workers N] [--keep-data]

It starts ``maas serve`` in a subprocess on a free loopback port with a throw-away data folder
(no example models; the admin key is generated here and handed over as ``MAAS_ADMIN_KEY``), then
drives it only through the SDK (``maas.Client``): every training set is uploaded as a dataset,
trained from its template by a background job (``stability_runs=1``: stability is not what is
measured), the held-out part uploaded as another dataset and predicted by a batch-prediction
job, whose Parquet results are downloaded and scored here. Nothing is trained or predicted
in-process. Frames are uploaded as Parquet, so the server sees the column types the in-process
benchmarks see. The loading, the splits, the template parameters, the official metrics and the
published tables are those of ``cmapss_rul.py``, ``tabular_templates.py`` and ``m4_forecast.py``,
imported from them (``DATA_DIR`` is laid out as they expect; read each dataset's README):

- ``cmapss_fd001``: ``remaining_useful_life`` (defaults) on ``train_FD001``; the test engines'
  histories are predicted per unit at their last cycle; RMSE, MAE and NASA score against
  ``RUL_FD001`` capped at 125 (and uncapped).
- ``ai4i2020``: ``failure_prediction`` (defaults), ``Machine failure`` without UDI, Product ID
  and the five mode flags, stratified 5-fold CV (seed 0); failure-class F1 at the template's
  threshold, precision, recall, ROC-AUC and PR-AUC, mean ± std over folds.
- ``steel_plates_faults``: ``quality_classification`` (defaults), 7 classes, stratified 10-fold
  CV (seed 0); accuracy and macro-F1, mean ± std over folds.
- ``m4_weekly``, ``m4_hourly``: ``demand_forecast`` with the official horizon (13, 48), the 2.5 %,
  50 % and 97.5 % quantiles and one thread (``--n-jobs``), trained on the train rows; the
  horizon after each series is predicted from its history; sMAPE, MASE, OWA against the
  published Naive2, and the 95 % interval's MSIS and coverage beside ETS and ARIMA.

``train_seconds`` is the wall time from submitting a training job to seeing it succeeded (polled
every 0.2 s: it includes the server reading the dataset and registering the version) per model;
for cross-validation, the mean over folds (``train_seconds_total`` sums them). ``predict_seconds``
is the same for a batch prediction, plus downloading its results. These are wall times: the
1-minute ``load_average`` after each model says how busy the machine was. Each target is
printed with PASS or FAIL; ``--strict`` makes the exit code 1 when one fails (2 when a benchmark
errs).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from maas import Client, MaasError
from maas.ml.templates.rul import rul_scores

# The in-process benchmarks live beside this file (benchmarks/ is a plain folder, not a package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cmapss_rul import PUBLISHED as CMAPSS_PUBLISHED  # noqa: E402
from cmapss_rul import RUL_CAP, load_fd001  # noqa: E402
from m4_forecast import ALPHA, SUBSETS, M4Subset, load_m4, m4_frame, m4_scores  # noqa: E402
from m4_forecast import official_scores as m4_official  # noqa: E402
from tabular_templates import (  # noqa: E402
    AI4I_PUBLISHED,
    STEEL_PUBLISHED,
    load_ai4i,
    load_steel,
)
from templates_api_server import Api, BenchmarkError, Server, Trained  # noqa: E402

__all__ = ["BENCHMARKS", "Api", "Outcome", "Server", "main"]

MAX_TRAIN_SECONDS = 120.0
"""Each model must train in under two minutes on a 2-core machine."""


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    label: str
    metric: str
    op: str
    """``<=``, ``<`` or ``>=``."""
    bound: float

    def passed(self, value: float) -> bool:
        compare = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}[self.op]
        return bool(np.isfinite(value)) and bool(compare(value, self.bound))


@dataclass
class Outcome:
    """One dataset's scores (the JSON entry), its printed table and its targets."""

    dataset: str
    metrics: dict[str, float]
    lines: list[str]
    targets: list[Target] = field(default_factory=list)

    def failed(self) -> list[Target]:
        return [t for t in self.targets if not t.passed(self.metrics[t.metric])]

    def render(self) -> str:
        lines = [*self.lines, "  targets:"]
        for t in self.targets:
            value = self.metrics[t.metric]
            verdict = "PASS" if t.passed(value) else "FAIL"
            lines.append(f"    {t.label:<44} {t.op:>2} {t.bound:<8g} got {value:<10.4g} {verdict}")
        return "\n".join(lines)


def _time_target() -> Target:
    return Target(
        "each model trains in under 2 minutes", "train_seconds_max", "<", MAX_TRAIN_SECONDS
    )


_TIMES = {
    "train_seconds",
    "train_seconds_max",
    "server_train_seconds",
    "predict_seconds",
    "load_average",
}
"""The timing entries of a model's scores (not metrics: no standard deviation over folds)."""


def _timing(trained: Trained, predict_seconds: float) -> tuple[dict[str, float], str]:
    """The times of one model (as JSON entries) and their printed line."""
    times = {
        "train_seconds": trained.seconds,
        "train_seconds_max": trained.seconds,
        "server_train_seconds": float(trained.report.get("train_seconds", np.nan)),
        "predict_seconds": predict_seconds,
        "load_average": os.getloadavg()[0],
    }
    line = (
        f"  time: train {trained.seconds:.1f} s (fit in the job {times['server_train_seconds']:.1f}"
        f" s), batch prediction {predict_seconds:.1f} s; load average {times['load_average']:.1f}"
        f" on {os.cpu_count()} cpus"
    )
    return times, line


def _held_out(report: dict[str, Any], names: list[str]) -> str:
    held, base = report.get("held_out", {}), report.get("baseline", {})
    parts = []
    for name in names:
        if name in held:
            b = base.get(f"baseline_{name}")
            note = "" if b is None else f" (baseline {b:.4g})"
            parts.append(f"{name} {held[name]:.4g}{note}")
    return ", ".join(parts)


# --- the benchmarks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the command line may change in the protocols (quick runs, threads)."""

    folds: int | None = None
    """Cross-validation folds instead of the protocol's."""
    n_jobs: int = 1
    """``demand_forecast``'s LightGBM threads (1, as in ``m4_forecast.py`` by default)."""


def bench_cmapss(api: Api, data_dir: Path, _options: Options) -> Outcome:
    """``remaining_useful_life`` on C-MAPSS FD001, the official test set."""
    train, test, true = load_fd001(data_dir)
    columns = {"unit_column": "unit", "time_column": "cycle"}
    api.upload("cmapss-fd001-train", train, **columns)
    api.upload("cmapss-fd001-test", test, **columns)
    trained = api.train("cmapss-fd001", "cmapss-fd001-train", template="remaining_useful_life")
    results, predict_seconds = api.batch(trained.ref, "cmapss-fd001-test")
    by_unit = results.set_index(pd.to_numeric(results["unit"]).astype(int))["prediction"]
    predicted = by_unit.reindex(np.arange(1, len(true) + 1)).to_numpy(dtype=np.float64)
    if np.isnan(predicted).any():
        raise BenchmarkError(
            f"no prediction for test units {np.flatnonzero(np.isnan(predicted)) + 1}"
        )
    capped = rul_scores(predicted, np.minimum(true, RUL_CAP))
    uncapped = rul_scores(predicted, true)
    times, time_line = _timing(trained, predict_seconds)
    metrics = {
        **{k: float(v) for k, v in capped.items()},
        **{f"{k}_uncapped": float(v) for k, v in uncapped.items()},
        **times,
        "n_test_units": float(len(true)),
    }
    lines = [
        f"cmapss_fd001: remaining_useful_life via the API, {len(true)} test engines at their last "
        f"cycle, true RUL capped at {RUL_CAP:g}",
        f"  {'method':<48}{'RMSE':>8}{'NASA':>10}",
    ]
    for name, rmse, score in CMAPSS_PUBLISHED:
        lines.append(f"  {name:<48}{rmse:8.2f}{'-' if score is None else f'{score:.1f}':>10}")
    lines += [
        f"  {'>> maas remaining_useful_life (API, defaults)':<48}{metrics['rmse']:8.2f}"
        f"{metrics['nasa_score']:10.1f}   MAE {metrics['mae']:.2f}",
        f"  uncapped truth: RMSE {metrics['rmse_uncapped']:.2f}, MAE {metrics['mae_uncapped']:.2f}"
        f", NASA {metrics['nasa_score_uncapped']:.1f}",
        "  report (template's own held-out engines): "
        + _held_out(trained.report, ["rmse", "mae", "rmse_last", "mae_last"]),
        time_line,
    ]
    targets = [Target("RMSE, capped truth", "rmse", "<=", 13.0), _time_target()]
    return Outcome("cmapss_fd001", metrics, lines, targets)


def _cross_validate(
    api: Api,
    key: str,
    frame: pd.DataFrame,
    target: str,
    *,
    template: str,
    folds: int,
    positive: str | None = None,
) -> dict[str, float]:
    """The in-process ``cross_validate``'s protocol, each fold trained and predicted via the API.

    Returns each metric's mean (``<metric>``) and standard deviation (``<metric>_std``) over the
    folds, the mean times per fold, and the total and slowest training times.
    """
    y = frame[target].astype(str).to_numpy()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    per_fold: list[dict[str, float]] = []
    for i, (train, test) in enumerate(splitter.split(frame, y), start=1):
        name = f"{key}-fold{i}"
        api.upload(f"{name}-train", frame.iloc[train])
        api.upload(f"{name}-test", frame.iloc[test].drop(columns=[target]))
        trained = api.train(name, f"{name}-train", template=template, target=target)
        results, predict_seconds = api.batch(trained.ref, f"{name}-test")
        if len(results) != len(test):
            raise BenchmarkError(f"{name}: {len(results)} predictions for {len(test)} rows")
        predicted = results["prediction"].astype(str).to_numpy()
        scores, _ = _timing(trained, predict_seconds)
        if positive is not None:
            p = results[f"p_{positive}"].to_numpy(dtype=np.float64)
            truth, hit = y[test] == positive, predicted == positive
            scores |= {
                "f1": float(f1_score(truth, hit)),
                "precision": float(truth[hit].mean()) if hit.any() else 0.0,
                "recall": float(hit[truth].mean()),
                "roc_auc": float(roc_auc_score(truth, p)),
                "pr_auc": float(average_precision_score(truth, p)),
            }
        else:
            scores |= {
                "accuracy": float(accuracy_score(y[test], predicted)),
                "macro_f1": float(f1_score(y[test], predicted, average="macro")),
            }
        per_fold.append(scores)
        print(
            f"  [{key}] fold {i}/{folds}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if k not in _TIMES)
            + f"; train {trained.seconds:.1f} s, predict {predict_seconds:.1f} s, load average "
            f"{scores['load_average']:.1f}",
            flush=True,
        )
    summary: dict[str, float] = {}
    for k in per_fold[0]:
        values = [f[k] for f in per_fold]
        summary[k] = float(np.mean(values))
        if k not in _TIMES:
            summary[f"{k}_std"] = float(np.std(values))
    train_times = [f["train_seconds"] for f in per_fold]
    summary |= {
        "train_seconds_total": float(np.sum(train_times)),
        "train_seconds_max": float(np.max(train_times)),
        "folds": float(folds),
    }
    return summary


def _cv_lines(title: str, summary: dict[str, float], keys: list[str], folds: int) -> list[str]:
    lines = [title]
    for k in keys:
        lines.append(f"  {'>> ' + k:<13} {summary[k]:.4f} ± {summary[f'{k}_std']:.4f}")
    lines.append(
        f"  time: train {summary['train_seconds']:.1f} s per fold (fit in the job "
        f"{summary['server_train_seconds']:.1f} s), {summary['train_seconds_total']:.1f} s for "
        f"{folds} folds, slowest {summary['train_seconds_max']:.1f} s; batch prediction "
        f"{summary['predict_seconds']:.1f} s per fold; mean load average "
        f"{summary['load_average']:.1f} on {os.cpu_count()} cpus"
    )
    return lines


def bench_ai4i(api: Api, data_dir: Path, options: Options) -> Outcome:
    """``failure_prediction`` on AI4I 2020, stratified 5-fold CV."""
    folds = options.folds or 5
    frame, target = load_ai4i(data_dir)
    summary = _cross_validate(
        api, "ai4i2020", frame, target, template="failure_prediction", folds=folds, positive="1"
    )
    lines = _cv_lines(
        f"ai4i2020: failure_prediction via the API, {len(frame)} rows, stratified {folds}-fold CV "
        "(mean ± std over folds)",
        summary,
        ["f1", "precision", "recall", "roc_auc", "pr_auc"],
        folds,
    )
    lines.append("  published:")
    for row in AI4I_PUBLISHED:
        lines.append(
            f"    {row['metric']:<9} {row['value']:.4f}  {row['method']} [{row['source']}]"
        )
    targets = [
        Target("failure-class F1 (mean over folds)", "f1", ">=", 0.85),
        Target("ROC-AUC (mean over folds)", "roc_auc", ">=", 0.97),
        _time_target(),
    ]
    return Outcome("ai4i2020", summary, lines, targets)


def bench_steel(api: Api, data_dir: Path, options: Options) -> Outcome:
    """``quality_classification`` on Steel Plates Faults, stratified 10-fold CV."""
    folds = options.folds or 10
    frame, target = load_steel(data_dir)
    summary = _cross_validate(
        api, "steel", frame, target, template="quality_classification", folds=folds
    )
    lines = _cv_lines(
        f"steel_plates_faults: quality_classification via the API, {len(frame)} rows, 7 classes, "
        f"stratified {folds}-fold CV (mean ± std over folds)",
        summary,
        ["accuracy", "macro_f1"],
        folds,
    )
    lines.append("  published accuracies:")
    for row in STEEL_PUBLISHED:
        lines.append(f"    {row['value']:.4f}  {row['method']} [{row['source']}]")
    targets = [Target("accuracy (mean over folds)", "accuracy", ">=", 0.78), _time_target()]
    return Outcome("steel_plates_faults", summary, lines, targets)


def _bench_m4(api: Api, data_dir: Path, subset: M4Subset, beat: str, n_jobs: int) -> Outcome:
    ids, train, test = load_m4(data_dir, subset)
    dataset = f"m4-{subset.name}-train"
    api.upload(dataset, m4_frame(ids, train), unit_column="series", time_column="timestamp")
    low, high = ALPHA / 2, 1.0 - ALPHA / 2
    params = {
        "horizon": subset.horizon,
        "season_length": subset.season_length,
        "quantiles": [low, 0.5, high],
        "n_jobs": n_jobs,
    }
    trained = api.train(f"m4-{subset.name}", dataset, template="demand_forecast", params=params)
    results, predict_seconds = api.batch(trained.ref, dataset)
    # One row per series and step, with the series' key: back to (series, step) grids.
    if len(results) != len(ids) * subset.horizon:
        raise BenchmarkError(f"m4 {subset.name}: {len(results)} forecasts for {len(ids)} series")
    rows = results["series"].astype(str).map({key: i for i, key in enumerate(ids)}).to_numpy()
    steps = results["step"].to_numpy(dtype=np.int64) - 1

    def grid(column: str) -> np.ndarray:
        values = np.full((len(ids), subset.horizon), np.nan)
        values[rows, steps] = results[column].to_numpy(dtype=np.float64)
        return values

    point, lower, upper = grid("prediction"), grid(f"q_{low!r}"), grid(f"q_{high!r}")
    if np.isnan(point).any():
        raise BenchmarkError(f"m4 {subset.name}: some series or steps have no forecast")
    scores = m4_scores(train, test, point, lower, upper, subset.mase_season)
    official = m4_official(data_dir, subset)
    naive2 = official["Naive2"]
    scores["owa"] = 0.5 * (scores["smape"] / naive2["smape"] + scores["mase"] / naive2["mase"])
    times, time_line = _timing(trained, predict_seconds)
    metrics = {**scores, **times, "n_series": float(len(ids))}
    lines = [
        f"m4_{subset.name}: demand_forecast via the API, {len(ids)} series, h={subset.horizon}, "
        "official split",
        f"  {'method':<22}{'sMAPE':>8}{'MASE':>8}{'OWA':>8}{'MSIS':>9}{'coverage':>10}",
        f"  {'>> demand_forecast':<22}{scores['smape']:8.3f}{scores['mase']:8.3f}"
        f"{scores['owa']:8.3f}{scores['msis']:9.3f}{scores['coverage']:10.3f}",
    ]
    for name in ("Naive2", "sNaive", "Theta", "SES", "ETS", "ARIMA", "Naive"):
        s = official[name]
        point = f"{s['smape']:8.3f}{s['mase']:8.3f}{s['owa']:8.3f}" if "owa" in s else " " * 24
        interval = f"{s['msis']:9.3f}{1.0 - ALPHA - s['acd']:10.3f}" if "msis" in s else ""
        lines.append(f"  {name:<22}{point}{interval}")
    lines += [
        "  (published coverage shown as 0.95 - ACD: the ACD's sign is not published)",
        "  report (template's backtest on the train rows): "
        + _held_out(trained.report, ["smape", "mase", "wql", "coverage"]),
        time_line,
    ]
    bound = official[beat]["owa"]
    targets = [Target(f"OWA below {beat}'s published {bound:g}", "owa", "<", bound), _time_target()]
    return Outcome(f"m4_{subset.name}", metrics, lines, targets)


def bench_m4_weekly(api: Api, data_dir: Path, options: Options) -> Outcome:
    """``demand_forecast`` on M4 Weekly (h = 13): beat Theta."""
    return _bench_m4(api, data_dir, SUBSETS["weekly"], "Theta", options.n_jobs)


def bench_m4_hourly(api: Api, data_dir: Path, options: Options) -> Outcome:
    """``demand_forecast`` on M4 Hourly (h = 48): beat seasonal naive."""
    return _bench_m4(api, data_dir, SUBSETS["hourly"], "sNaive", options.n_jobs)


BENCHMARKS: dict[str, Callable[[Api, Path, Options], Outcome]] = {
    "cmapss_fd001": bench_cmapss,
    "ai4i2020": bench_ai4i,
    "steel_plates_faults": bench_steel,
    "m4_weekly": bench_m4_weekly,
    "m4_hourly": bench_m4_hourly,
}


# --- the command --------------------------------------------------------------------------


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so the server is stopped on ``kill`` as on Ctrl-C."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> tuple[list[Outcome], dict[str, str]]:
    """Start a server, run the chosen benchmarks against it, print each; stop the server."""
    outcomes: list[Outcome] = []
    errors: dict[str, str] = {}
    options = Options(folds=args.folds, n_jobs=args.n_jobs)
    with (
        _terminate_as_exit(),
        Server(job_workers=args.job_workers, keep_data=args.keep_data) as server,
        Client(server.url, api_key=server.api_key, timeout=300.0) as client,
    ):
        print(
            f"maas serving at {server.url} (data {server.data_dir}, {args.job_workers} job "
            f"worker(s), {os.cpu_count()} cpus)",
            flush=True,
        )
        api = Api(client)
        for name in args.only or list(BENCHMARKS):
            print(f"\n== {name}", flush=True)
            try:
                outcome = BENCHMARKS[name](api, args.data_dir, options)
            except (BenchmarkError, MaasError) as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name} FAILED TO RUN: {errors[name]}", flush=True)
                print(f"server log (last lines):\n{server.log_tail()}", flush=True)
                continue
            except Exception as exc:  # a bug here must not lose the other benchmarks
                errors[name] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                continue
            outcomes.append(outcome)
            print(outcome.render(), flush=True)
        print(f"\ndataset uploads took {api.upload_seconds:.1f} s in all", flush=True)
    return outcomes, errors


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks against a fresh server; print them; write JSON when asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder holding the datasets (and READMEs)")
    parser.add_argument("--json", type=Path, default=None, help="write the scores here")
    parser.add_argument(
        "--only", action="append", choices=list(BENCHMARKS), help="run this one (repeatable)"
    )
    parser.add_argument(
        "--folds", type=int, default=None, help="CV folds instead of the protocol's (quick runs)"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=1, help="demand_forecast's threads (default 1, as in-process)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--job-workers", type=int, default=1, choices=[1, 2], help="the server's MAAS_JOB_WORKERS"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the server's data and log")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        outcomes, errors = _run(args)
    except KeyboardInterrupt:
        print("\ninterrupted: the server was stopped", file=sys.stderr)
        return 130
    print("\n== summary")
    for outcome in outcomes:
        failed = outcome.failed()
        verdict = "PASS" if not failed else "FAIL: " + "; ".join(t.label for t in failed)
        print(f"  {outcome.dataset:<22} {verdict}")
    for name, error in errors.items():
        print(f"  {name:<22} ERROR: {error.splitlines()[0]}")
    print(f"  total {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        document = {o.dataset: o.metrics for o in outcomes}
        args.json.write_text(
            json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    if errors:
        return 2
    if args.strict and any(o.failed() for o in outcomes):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
