"""The plot data of every template's evaluation report: keys per task, sizes, and agreement with
the held-out metrics it is drawn from; plus the train job storing it in the version's report."""

from __future__ import annotations

import io
import json
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.model_selection import train_test_split

from maas.ml import synthetic
from maas.ml.plots import (
    MAX_POINTS,
    SCORE_BINS,
    clean,
    forecast_plot,
    predicted_vs_true_plot,
    score_histogram,
    thin,
)
from maas.ml.templates.anomaly import AnomalyDetection
from maas.ml.templates.base import TrainedModel
from maas.ml.templates.failure import FailurePrediction
from maas.ml.templates.forecast import DemandForecast
from maas.ml.templates.quality import QualityClassification
from maas.ml.templates.regression import TabularRegression
from maas.ml.templates.rul import RemainingUsefulLife
from maas.ml.templates.text import TextClassification
from tests.ml.test_anomaly import pump_readings
from tests.ml.test_quality import moulded_parts

SMALL = {"n_estimators": 40}
"""Fewer trees keep the module fast; the plots' consistency does not depend on them."""

_PARALLEL = {
    "roc": ("fpr", "tpr"),
    "pr": ("recall", "precision"),
    "predicted_vs_true": ("true", "predicted"),
    "forecast": ("t", "history", "actual", "median", "lower", "upper"),
}
"""Lists of one plot that are drawn against each other, so have the same length."""


def _checked(trained: TrainedModel, keys: set[str]) -> dict[str, Any]:
    """The plots, after checking the keys, JSON safety, list sizes and finite numbers."""
    plots = trained.plots
    assert set(plots) == keys
    assert json.loads(json.dumps(plots, allow_nan=False)) == plots
    for name, lists in _PARALLEL.items():
        if name in plots:
            lengths = {len(plots[name][k]) for k in lists}
            assert len(lengths) == 1, (name, lengths)
            assert 0 < lengths.pop() <= MAX_POINTS
    for name in ("roc", "pr", "predicted_vs_true"):
        for values in plots.get(name, {}).values():
            if isinstance(values, list):
                assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    return plots


def _assert_confusion_matches(plots: dict[str, Any], metrics: dict[str, float]) -> None:
    labels, matrix = plots["confusion"]["labels"], plots["confusion"]["matrix"]
    assert len(matrix) == len(labels)
    for i, true in enumerate(labels):
        assert len(matrix[i]) == len(labels)
        for j, guess in enumerate(labels):
            assert isinstance(matrix[i][j], int)
            assert matrix[i][j] == metrics[f"confusion.{true}.{guess}"]


def _assert_curves_match(plots: dict[str, Any], metrics: dict[str, float], positive: str) -> None:
    roc, pr = plots["roc"], plots["pr"]
    assert roc["positive"] == pr["positive"] == positive
    assert roc["auc"] == pytest.approx(metrics["roc_auc"], abs=1e-6)
    assert pr["average_precision"] == pytest.approx(metrics["pr_auc"], abs=1e-6)
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(roc["fpr"]) >= 0)
    assert np.all(np.diff(roc["tpr"]) >= 0)
    assert all(0.0 <= v <= 1.0 for v in [*pr["recall"], *pr["precision"]])


def _rmse(plot: dict[str, Any]) -> float:
    true, predicted = np.asarray(plot["true"]), np.asarray(plot["predicted"])
    return float(np.sqrt(np.mean((true - predicted) ** 2)))


# --- classifiers ------------------------------------------------------------------------------


def test_failure_prediction_plots_match_its_out_of_fold_metrics() -> None:
    frame = synthetic.machine_conditions(n=1500, seed=1)
    trained = FailurePrediction(**SMALL).fit(frame, "machine_failure").to_trained_model()
    plots = _checked(trained, {"confusion", "roc", "pr"})
    _assert_confusion_matches(plots, trained.metrics)
    _assert_curves_match(plots, trained.metrics, positive="1")  # the rarer class
    # Out-of-fold: every row is in the confusion matrix, each scored by a model that did not
    # see it.
    assert sum(map(sum, plots["confusion"]["matrix"])) == len(frame)


def test_failure_prediction_multiclass_plots_a_confusion_matrix_only() -> None:
    frame = synthetic.machine_conditions(n=600, seed=2).drop(columns="machine_failure")
    trained = FailurePrediction(**SMALL, interactions=False).fit(frame, "type").to_trained_model()
    plots = _checked(trained, {"confusion"})
    assert plots["confusion"]["labels"] == ["L", "M", "H"]
    _assert_confusion_matches(plots, trained.metrics)


def test_quality_classification_plots_match_its_validation_metrics() -> None:
    trained = QualityClassification(**SMALL).fit(moulded_parts()).to_trained_model()
    plots = _checked(trained, {"confusion"})
    assert plots["confusion"]["labels"] == ["flash", "ok", "short_shot", "sink_mark"]
    _assert_confusion_matches(plots, trained.metrics)
    assert sum(map(sum, plots["confusion"]["matrix"])) == trained.metrics["n_validation"]


def test_quality_classification_pass_fail_plots_curves_of_the_second_class() -> None:
    parts = moulded_parts()
    parts["defect"] = np.where(parts["defect"] == "ok", "pass", "fail")
    trained = QualityClassification(**SMALL).fit(parts).to_trained_model()
    plots = _checked(trained, {"confusion", "roc", "pr"})
    _assert_confusion_matches(plots, trained.metrics)
    assert plots["roc"]["auc"] == pytest.approx(trained.metrics["roc_auc"], abs=1e-6)
    assert plots["roc"]["positive"] == plots["pr"]["positive"] == "pass"


def test_text_classification_plots_its_validation_confusion() -> None:
    logs = synthetic.maintenance_logs(n=600, seed=0)
    trained = TextClassification().fit(logs).to_trained_model()
    plots = _checked(trained, {"confusion"})
    _assert_confusion_matches(plots, trained.metrics)
    assert sum(map(sum, plots["confusion"]["matrix"])) == trained.metrics["n_validation"]


def test_text_classification_binary_plots_curves_too() -> None:
    logs = synthetic.maintenance_logs(n=600, seed=0)
    two = logs[logs["failure_mode"].isin(["bearing", "hydraulic"])]
    trained = TextClassification().fit(two).to_trained_model()
    plots = _checked(trained, {"confusion", "roc", "pr"})
    _assert_confusion_matches(plots, trained.metrics)
    assert plots["roc"]["positive"] == "hydraulic"
    assert 0.5 < plots["roc"]["auc"] <= 1.0


# --- regressors -------------------------------------------------------------------------------


def test_tabular_regression_plots_exactly_its_validation_rows() -> None:
    frame = synthetic.tool_life(n=600, seed=1)
    target = "remaining_tool_life_min"
    trained = TabularRegression(**SMALL).fit(frame, target).to_trained_model()
    plot = _checked(trained, {"predicted_vs_true"})["predicted_vs_true"]
    # The same split as the template's: the plot holds the held-out rows, never training ones.
    _, valid = train_test_split(np.arange(len(frame)), test_size=0.2, random_state=0)
    assert plot["true"] == clean(frame[target].to_numpy()[valid])
    assert _rmse(plot) == pytest.approx(trained.metrics["rmse"], rel=1e-6)


def test_remaining_useful_life_plots_its_held_out_truncations() -> None:
    frame = synthetic.run_to_failure(n_units=14, seed=0)
    trained = RemainingUsefulLife(**SMALL, windows=(5, 10)).fit(frame).to_trained_model()
    plot = _checked(trained, {"predicted_vs_true"})["predicted_vs_true"]
    assert len(plot["true"]) == trained.metrics["n_truncations"] <= MAX_POINTS
    assert _rmse(plot) == pytest.approx(trained.metrics["rmse"], rel=1e-6)
    assert all(0.0 <= v <= 125.0 for v in plot["true"])  # the capped RUL


# --- forecast and anomaly ---------------------------------------------------------------------


@pytest.mark.parametrize("integer_time", [False, True])
def test_demand_forecast_plots_one_backtest_forecast(integer_time: bool) -> None:
    horizon, folds = 7, 3
    history = synthetic.production_series(n_series=8, length=150, seed=3)
    if integer_time:
        history["timestamp"] = (history["timestamp"] - pd.Timestamp("2024-01-01")).dt.days
    trained = (
        DemandForecast(
            horizon=horizon,
            value_column="units_produced",
            n_estimators=40,
            learning_rate=0.2,
            max_train_rows=4000,
            backtest_folds=folds,
        )
        .fit(history)
        .to_trained_model()
    )
    plot = _checked(trained, {"forecast"})["forecast"]
    assert (plot["lower_level"], plot["upper_level"]) == (0.1, 0.9)
    n = len(plot["t"])
    assert n == 4 * horizon  # three horizons of history, then the horizon
    past, future = slice(0, n - horizon), slice(n - horizon, n)
    assert all(v is None for v in plot["history"][future])
    for key in ("actual", "median", "lower", "upper"):
        assert all(v is None for v in plot[key][past])
        assert all(isinstance(v, float) for v in plot[key][future])
    assert all(isinstance(v, float) for v in plot["history"][past])
    band = zip(plot["lower"][future], plot["median"][future], plot["upper"][future], strict=True)
    assert all(lo <= mid <= hi for lo, mid, hi in band)
    # Real values of one series, at one of the backtest's origins (held out of its model).
    rows = history[history["series"] == plot["series"]].reset_index(drop=True)
    if integer_time:
        assert all(isinstance(t, int) for t in plot["t"])
        start = rows.index[rows["timestamp"] == plot["t"][0]][0]
    else:
        assert all(isinstance(t, str) for t in plot["t"])
        start = rows.index[rows["timestamp"] == pd.Timestamp(plot["t"][0])][0]
    values = rows["units_produced"].to_numpy()[start : start + n]
    assert plot["history"][past] == values[: n - horizon].tolist()
    assert plot["actual"][future] == values[n - horizon :].tolist()
    origin = start + n - horizon - 1
    assert origin in {len(rows) - (folds - f) * horizon - 1 for f in range(folds)}


def test_anomaly_detection_plots_scores_and_curves_with_labels() -> None:
    template = AnomalyDetection(contamination=0.02).fit(pump_readings(), target="anomaly")
    trained = template.to_trained_model()
    plots = _checked(trained, {"scores", "confusion", "roc", "pr"})
    _assert_confusion_matches(plots, trained.metrics)
    _assert_curves_match(plots, trained.metrics, positive="1")
    scores = plots["scores"]
    assert scores["threshold"] == 1.0  # the served score flags from 1 up
    assert len(scores["bins"]) == len(scores["counts"]) + 1 == SCORE_BINS + 1
    assert np.all(np.diff(scores["bins"]) > 0)
    assert sum(scores["counts"]) == trained.metrics["n_validation"]
    matrix = plots["confusion"]["matrix"]
    assert sum(scores["counts_anomalous"]) == sum(matrix[1])
    assert all(a <= c for a, c in zip(scores["counts_anomalous"], scores["counts"], strict=True))


def test_anomaly_detection_without_labels_plots_the_scores_only() -> None:
    readings = pump_readings().drop(columns="anomaly")
    trained = AnomalyDetection(contamination=0.02).fit(readings).to_trained_model()
    scores = _checked(trained, {"scores"})["scores"]
    assert "counts_anomalous" not in scores
    assert sum(scores["counts"]) == trained.metrics["n_validation"]


# --- the pure helpers -------------------------------------------------------------------------


def test_thin_keeps_the_ends_and_caps_the_count() -> None:
    assert thin(5).tolist() == [0, 1, 2, 3, 4]
    kept = thin(10_000)
    assert len(kept) == MAX_POINTS
    assert (kept[0], kept[-1]) == (0, 9_999)
    assert np.all(np.diff(kept) > 0)


def test_clean_rounds_and_drops_what_json_cannot_hold() -> None:
    assert clean([1.23456789, np.nan, np.inf, None, 3]) == [1.234568, None, None, None, 3.0]


def test_predicted_vs_true_is_thinned_pairwise() -> None:
    true = np.arange(1000.0)
    plot = predicted_vs_true_plot(true, true + 0.5)["predicted_vs_true"]
    assert len(plot["true"]) == len(plot["predicted"]) == MAX_POINTS
    assert np.allclose(np.asarray(plot["predicted"]) - np.asarray(plot["true"]), 0.5)


def test_score_histogram_counts_every_row_even_beyond_the_tail() -> None:
    scores = np.r_[np.linspace(0.0, 1.5, 990), np.full(10, 1e6)]
    labels = np.r_[np.zeros(990), np.ones(10)]
    plot = score_histogram(scores, 1.0, labels)["scores"]
    assert sum(plot["counts"]) == 1000
    assert plot["counts_anomalous"][-1] == 10  # the extreme rows sit in the last bin
    assert plot["bins"][-1] < 1e6


def test_forecast_plot_with_a_long_horizon_is_thinned_in_step() -> None:
    h = 100
    plot = forecast_plot(
        series="a",
        times=list(range(4 * h)),
        history=np.ones(3 * h),
        actual=np.full(h, 2.0),
        median=np.full(h, 2.0),
        lower=np.full(h, 1.0),
        upper=np.full(h, 3.0),
        levels=(0.1, 0.9),
    )["forecast"]
    assert len(plot["t"]) == MAX_POINTS
    for t, past, future in zip(plot["t"], plot["history"], plot["median"], strict=True):
        assert (past is None) == (t >= 3 * h)
        assert (future is None) == (t < 3 * h)


# --- the train job ----------------------------------------------------------------------------


def _wait(client: TestClient, job_id: str, seconds: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_train_job_stores_the_plots_in_the_version_report(client: TestClient) -> None:
    buf = io.StringIO()
    synthetic.machine_conditions(n=1_000, seed=1).to_csv(buf, index=False)
    r = client.post(
        "/v1/datasets/press-shop/versions",
        content=buf.getvalue().encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/models/press-failure/train",
        json={
            "template": "failure_prediction",
            "dataset": "press-shop",
            "target": "machine_failure",
            "params": {"n_estimators": 30},
            "stability_runs": 1,
        },
    )
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"])
    assert job["status"] == "succeeded", job
    report = client.get("/v1/models/press-failure/versions/1").json()["report"]
    plots = report["plots"]
    assert set(plots) == {"confusion", "roc", "pr"}
    assert plots["roc"]["auc"] == pytest.approx(report["held_out"]["roc_auc"], abs=1e-6)
    assert sum(map(sum, plots["confusion"]["matrix"])) == 1_000
