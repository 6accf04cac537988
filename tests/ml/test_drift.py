"""Drift statistics on generated data: no drift stays ok, shifts are caught, gaps are handled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from maas.ml.drift import (
    Thresholds,
    compare,
    compare_sample,
    js_divergence,
    ks_binned,
    ks_exact,
    overall_state,
    psi,
)
from maas.ml.live_metrics import classification_metrics, regression_metrics
from maas.ml.report import training_profile


def training_frame(n: int = 5_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "torque_nm": rng.normal(40, 10, n),
            "tool_wear_min": rng.uniform(0, 250, n),
            "type": rng.choice(["L", "M", "H"], n, p=[0.6, 0.3, 0.1]),
            "constant": np.full(n, 7.0),
        }
    )


def profile(frame: pd.DataFrame) -> dict:
    return training_profile(frame, list(frame.columns))["columns"]


def live(frame: pd.DataFrame) -> dict[str, list]:
    return {c: frame[c].tolist() for c in frame.columns}


def by_name(drifts: list) -> dict:
    return {d.name: d for d in drifts}


def test_drift_same_distribution_is_ok() -> None:
    ref = profile(training_frame(seed=0))
    drifts = by_name(compare(ref, live(training_frame(n=2_000, seed=1))))
    assert {d.state for d in drifts.values()} == {"ok"}
    assert drifts["torque_nm"].psi < 0.05
    assert drifts["torque_nm"].ks < 0.05
    assert drifts["type"].js < 0.01
    assert overall_state(d.state for d in drifts.values()) == "ok"


def test_drift_shifted_mean_is_an_alert() -> None:
    ref = profile(training_frame(seed=0))
    shifted = training_frame(n=2_000, seed=1)
    shifted["torque_nm"] += 15  # 1.5 standard deviations
    drifts = by_name(compare(ref, live(shifted)))
    assert drifts["torque_nm"].state == "alert"
    assert drifts["torque_nm"].psi > 0.25
    assert drifts["torque_nm"].ks > 0.4
    assert drifts["tool_wear_min"].state == "ok"
    assert overall_state(d.state for d in drifts.values()) == "alert"


def test_drift_small_shift_is_a_warning() -> None:
    ref = profile(training_frame(seed=0))
    shifted = training_frame(n=20_000, seed=1)
    shifted["torque_nm"] += 3.5
    torque = by_name(compare(ref, live(shifted)))["torque_nm"]
    assert 0.1 <= torque.psi < 0.25, torque.psi
    assert torque.state == "warning"


def test_drift_values_beyond_the_training_range_count() -> None:
    ref = profile(training_frame(seed=0))
    frame = training_frame(n=1_000, seed=1)
    frame["tool_wear_min"] = 400.0  # never seen in training: all in the last bin
    assert by_name(compare(ref, live(frame)))["tool_wear_min"].state == "alert"


def test_drift_categorical_shift_is_detected() -> None:
    ref = profile(training_frame(seed=0))
    frame = training_frame(n=2_000, seed=1)
    rng = np.random.default_rng(2)
    frame["type"] = rng.choice(["L", "M", "H"], len(frame), p=[0.1, 0.3, 0.6])
    drift = by_name(compare(ref, live(frame)))["type"]
    assert drift.kind == "categorical"
    assert drift.state == "alert"
    assert drift.js > 0.1
    assert drift.ks is None


def test_drift_unseen_category_is_detected_and_noted() -> None:
    ref = profile(training_frame(seed=0))
    frame = training_frame(n=500, seed=1)
    frame["type"] = "X"
    drift = by_name(compare(ref, live(frame)))["type"]
    assert drift.state == "alert"
    assert "never seen" in (drift.note or "")


def test_drift_missing_features_are_handled() -> None:
    ref = profile(training_frame(seed=0))
    frame = training_frame(n=500, seed=1).drop(columns=["tool_wear_min"])
    current = live(frame)
    current["new_sensor"] = [1.0] * 500
    current["torque_nm"] = [None] * 500  # the sensor went silent
    drifts = by_name(compare(ref, current))
    assert drifts["tool_wear_min"].state == "no_data"
    assert drifts["tool_wear_min"].note == "not in the logged inputs"
    assert drifts["new_sensor"].state == "no_data"
    assert drifts["new_sensor"].note == "not profiled"
    assert drifts["torque_nm"].state == "alert"  # all missing where training had none
    assert drifts["torque_nm"].ks is None
    assert drifts["type"].state == "ok"


def test_drift_constant_training_column_catches_any_change() -> None:
    ref = profile(training_frame(seed=0))
    same = by_name(compare(ref, {"constant": [7.0] * 300}))["constant"]
    moved = by_name(compare(ref, {"constant": [8.0] * 300}))["constant"]
    assert same.state == "ok"
    assert moved.state == "alert"


def test_drift_against_a_sample_uses_exact_ks() -> None:
    rng = np.random.default_rng(0)
    reference = {"x": rng.normal(0, 1, 1_000).tolist(), "c": rng.choice(["a", "b"], 1_000).tolist()}
    same = {"x": rng.normal(0, 1, 1_000).tolist(), "c": rng.choice(["a", "b"], 1_000).tolist()}
    moved = {"x": rng.normal(1, 1, 1_000).tolist(), "c": ["a"] * 1_000}
    ok = by_name(compare_sample(reference, same))
    bad = by_name(compare_sample(reference, moved))
    assert ok["x"].state == ok["c"].state == "ok"
    assert bad["x"].state == bad["c"].state == "alert"
    exact = ks_exact(np.asarray(reference["x"]), np.asarray(moved["x"]))
    assert bad["x"].ks == pytest.approx(exact, abs=1e-6)
    assert 0.3 < exact < 0.5  # one standard deviation apart: about 0.38


def test_drift_thresholds_are_configurable_and_checked() -> None:
    strict = Thresholds(psi_warning=0.001, psi_alert=0.002)
    ref = profile(training_frame(seed=0))
    drifts = compare(ref, live(training_frame(n=300, seed=1)), strict)
    assert "alert" in {d.state for d in drifts}
    with pytest.raises(ValueError, match="psi_warning < psi_alert"):
        Thresholds(psi_warning=0.3, psi_alert=0.2)


def test_drift_statistics_basic_properties() -> None:
    p = [0.2, 0.3, 0.5]
    assert psi(p, p) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0, abs=5e-3)
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(psi([0.9, 0.1], [0.5, 0.5]), rel=0.5)
    assert psi([1.0, 0.0], [0.0, 1.0]) < 50  # finite thanks to the epsilon
    assert ks_binned([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert ks_binned([1.0, 0.0], [0.0, 1.0]) == 1.0
    assert overall_state(["no_data", "ok", "warning"]) == "warning"
    assert overall_state(["no_data"]) == "no_data"
    assert overall_state([]) == "no_data"


def test_live_metrics_classification_and_regression() -> None:
    m = classification_metrics(["1", "0", "1", "0"], ["1", "0", "0", "1"], ["0", "1"])
    assert m == {
        "count": 4,
        "accuracy": 0.5,
        "positive_class": "1",
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
    }
    r = regression_metrics(
        [10.0, 20.0, 30.0],
        [12.0, 18.0, 30.0],
        {"0.1": [8.0, 15.0, 25.0], "0.9": [11.0, 25.0, 35.0]},
    )
    assert r["count"] == 3
    assert r["rmse"] == pytest.approx(np.sqrt(8 / 3), abs=1e-6)
    assert r["mae"] == pytest.approx(4 / 3, abs=1e-6)
    assert r["bias"] == 0.0
    assert r["coverage"] == {"0.1": 0.0, "0.9": pytest.approx(2 / 3, abs=1e-6)}
    assert r["interval_coverage"] == pytest.approx(2 / 3, abs=1e-6)
    assert classification_metrics([], [], None) == {"count": 0}
