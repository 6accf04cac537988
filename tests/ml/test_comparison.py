"""Champion against challenger: held-out splits that favour no one, scores both can be read
on, and a decision in the metric's own direction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from maas.domain.signature import Signature
from maas.errors import InvalidParameterError
from maas.jobs.kinds import frame_to_matrix
from maas.ml import synthetic
from maas.ml.comparison import comparable_metrics, decide, score, split_holdout
from maas.ml.prediction import Prediction
from maas.ml.templates.forecast import DemandForecast
from maas.ml.templates.rul import RemainingUsefulLife
from maas.runtimes.template import TemplateRuntime


def _served(template: Any) -> Any:
    """The way a job predicts with a model: its artifact through the runtime, by columns."""
    trained = template.to_trained_model()
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    predictor = TemplateRuntime().load(trained.artifact, signature)

    def predict(frame: pd.DataFrame) -> Prediction:
        return predictor.predict(frame_to_matrix(frame, signature, "test"))

    return predict


def test_rows_hold_out_part_of_the_new_rows_when_there_are_enough() -> None:
    frame = synthetic.machine_conditions(n=1_000, seed=1)
    holdout = split_holdout(
        frame, "failure_prediction", {}, "machine_failure", fraction=0.2, seed=0, new_from=700
    )
    assert holdout.new_data_only
    assert holdout.held_out.index.min() >= 700
    # Half the 300 new rows at most: the challenger learns from the other half.
    assert len(holdout.held_out) == 150
    assert len(holdout.fit) == 850
    assert (holdout.fit.index >= 700).sum() == 150
    assert not set(holdout.fit.index) & set(holdout.held_out.index)


def test_rows_fall_back_to_a_stratified_random_share_and_say_so() -> None:
    frame = synthetic.machine_conditions(n=1_000, seed=1)
    holdout = split_holdout(
        frame, "failure_prediction", {}, "machine_failure", fraction=0.2, seed=0, new_from=None
    )
    assert not holdout.new_data_only
    assert len(holdout.held_out) == 200
    share = frame["machine_failure"].mean()
    assert holdout.held_out["machine_failure"].mean() == pytest.approx(share, abs=0.01)


def test_too_few_rows_to_compare_is_a_clear_error() -> None:
    frame = synthetic.machine_conditions(n=30, seed=1)
    with pytest.raises(InvalidParameterError) as info:
        split_holdout(
            frame,
            "quality_classification",
            {},
            "machine_failure",
            fraction=0.2,
            seed=0,
            new_from=None,
        )
    assert info.value.field == "dataset"


def test_classifier_scores_match_what_was_predicted() -> None:
    frame = pd.DataFrame({"x": np.arange(40.0), "label": ["ok"] * 30 + ["fail"] * 10})
    holdout = split_holdout(
        frame, "quality_classification", {}, "label", fraction=0.5, seed=0, new_from=20
    )
    truth = holdout.held_out["label"].to_numpy()
    perfect = Prediction(
        predictions=truth,
        probabilities=np.column_stack([truth == "fail", truth == "ok"]).astype(float),
    )
    scores = score(holdout, lambda _df: perfect, ["fail", "ok"])
    assert scores["accuracy"] == 1.0
    assert scores["f1"] == 1.0
    assert scores["roc_auc"] == 1.0
    wrong = Prediction(predictions=np.where(truth == "ok", "fail", "ok"))
    assert score(holdout, lambda _df: wrong, ["fail", "ok"])["accuracy"] == 0.0


@pytest.mark.parametrize(
    ("metric", "champion", "challenger", "promote"),
    [
        ("rmse", 10.0, 9.0, True),
        ("rmse", 9.0, 10.0, False),
        ("f1", 0.8, 0.85, True),
        ("f1", 0.85, 0.8, False),
        ("f1", 0.8, 0.8, False),
    ],
)
def test_decide_knows_which_way_is_better(
    metric: str, champion: float, challenger: float, promote: bool
) -> None:
    promoted, improvement, reason = decide(metric, {metric: champion}, {metric: challenger})
    assert promoted is promote
    assert (improvement > 0) is promote
    assert metric in reason


def test_decide_needs_the_improvement_asked_for() -> None:
    promoted, improvement, _ = decide(
        "roc_auc", {"roc_auc": 0.90}, {"roc_auc": 0.91}, min_improvement=0.05
    )
    assert not promoted
    assert improvement == pytest.approx(0.01)


def test_decide_refuses_a_metric_without_a_direction() -> None:
    with pytest.raises(InvalidParameterError):
        decide("n_train", {"n_train": 1.0}, {"n_train": 2.0})


def test_comparable_metrics_drop_binary_ones_for_many_classes() -> None:
    assert "f1" in comparable_metrics("failure_prediction", 2)
    assert "f1" not in comparable_metrics("quality_classification", 7)
    assert "accuracy" in comparable_metrics("quality_classification", 7)
    assert comparable_metrics("remaining_useful_life")[0] == "mae"


def test_rul_champion_and_challenger_are_scored_on_whole_held_out_units() -> None:
    old = synthetic.run_to_failure(n_units=12, seed=0)
    new = synthetic.run_to_failure(n_units=6, seed=1)
    new["unit"] = new["unit"] + 100
    frame = pd.concat([old, new], ignore_index=True)
    params = {"unit_column": "unit", "time_column": "cycle", "rul_cap": 125.0}
    holdout = split_holdout(
        frame, "remaining_useful_life", params, None, fraction=0.2, seed=0, new_from=len(old)
    )
    assert holdout.new_data_only
    assert set(holdout.held_out["unit"]) <= set(new["unit"])
    assert not set(holdout.fit["unit"]) & set(holdout.held_out["unit"])
    small = {"n_estimators": 30, "windows": (5, 10)}
    champion = RemainingUsefulLife(**small).fit(old)
    challenger = RemainingUsefulLife(**small).fit(holdout.fit)
    scores = {
        side: score(holdout, _served(model), None)
        for side, model in (("champion", champion), ("challenger", challenger))
    }
    for scored in scores.values():
        assert {"rmse", "mae", "nasa_score", "rmse_last"} <= set(scored)
        assert 0 < scored["rmse"] < 125
    # Scoring is deterministic: the same model gives the same figures twice.
    assert score(holdout, _served(champion), None) == scores["champion"]


def test_forecasts_are_compared_on_the_held_out_tail_of_every_series() -> None:
    frame = synthetic.production_series(n_series=6, length=120, seed=3)
    params = {
        "series_column": "series",
        "time_column": "timestamp",
        "value_column": "units_produced",
        "horizon": 8,
        "season_length": None,
    }
    holdout = split_holdout(
        frame, "demand_forecast", params, "units_produced", fraction=0.2, seed=0, new_from=None
    )
    assert len(holdout.held_out) == 6 * 8
    assert len(holdout.fit) == 6 * 112
    model = DemandForecast(horizon=8, n_estimators=30, backtest_folds=1).fit(
        holdout.fit, target="units_produced"
    )
    scores = score(holdout, _served(model), None)
    assert {"smape", "mase", "wql", "coverage", "coverage_error"} <= set(scores)
    assert 0 <= scores["coverage"] <= 1
