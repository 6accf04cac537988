"""The demand-forecast template: shapes, quantiles, skill, serving round trip, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from maas.domain.signature import ColumnType, Signature, Task
from maas.errors import (
    InvalidParameterError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.ml.synthetic import production_series
from maas.ml.templates.catalog import get_template
from maas.ml.templates.forecast import DemandForecast
from maas.ml.templates.forecast_features import detect_periods
from maas.ml.templates.forecast_metrics import seasonal_naive, smape, weighted_quantile_loss
from maas.runtimes.encoding import columns_to_matrix
from maas.runtimes.template import TemplateRuntime

HORIZON = 7
FAST = {
    "n_estimators": 40,
    "learning_rate": 0.2,
    "max_train_rows": 4000,
    "value_column": "units_produced",
}
"""Small models keep the module fast; nothing tested depends on the model's size."""


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return production_series(n_series=8, length=150, seed=3)


@pytest.fixture(scope="module")
def fitted(history: pd.DataFrame) -> DemandForecast:
    return DemandForecast(horizon=HORIZON, **FAST).fit(history)


def _as_columns(frame: pd.DataFrame) -> dict[str, list[object]]:
    """The frame as a JSON body's columns: timestamps as ISO 8601 text."""
    return {
        "series": frame["series"].tolist(),
        "timestamp": [t.isoformat() for t in frame["timestamp"]],
        "units_produced": frame["units_produced"].tolist(),
    }


def test_demand_forecast_is_in_the_catalog() -> None:
    assert get_template("demand_forecast") is DemandForecast
    assert DemandForecast.spec.task is Task.FORECAST


def test_demand_forecast_shapes_and_keys(fitted: DemandForecast, history: pd.DataFrame) -> None:
    prediction = fitted.forecast(history)
    names = list(dict.fromkeys(history["series"]))
    assert prediction.predictions.shape == (len(names) * HORIZON,)
    assert prediction.keys == [{"series": s, "step": k} for s in names for k in range(1, 8)]
    assert prediction.quantiles is not None
    assert sorted(prediction.quantiles) == ["0.1", "0.5", "0.9"]
    assert all(v.shape == prediction.predictions.shape for v in prediction.quantiles.values())
    np.testing.assert_array_equal(fitted.predict(history), prediction.predictions)


def test_demand_forecast_quantiles_are_monotone(
    fitted: DemandForecast, history: pd.DataFrame
) -> None:
    quantiles = fitted.forecast(history).quantiles
    assert quantiles is not None
    low, mid, high = quantiles["0.1"], quantiles["0.5"], quantiles["0.9"]
    assert (low <= mid).all()
    assert (mid <= high).all()
    np.testing.assert_array_equal(mid, fitted.predict(history))


def test_demand_forecast_beats_seasonal_naive(history: pd.DataFrame) -> None:
    cut = history["timestamp"].max() - pd.Timedelta(days=HORIZON)
    past, future = history[history["timestamp"] <= cut], history[history["timestamp"] > cut]
    template = DemandForecast(horizon=HORIZON, **FAST).fit(past)
    forecast = template.predict(past)
    actual = future["units_produced"].to_numpy()  # series-major, in time order
    naive = np.concatenate(
        [
            seasonal_naive(g["units_produced"].to_numpy(), HORIZON, 7, [0.5])[0]
            for _, g in past.groupby("series", sort=False)
        ]
    )
    assert smape(actual, forecast) < smape(actual, naive)
    metrics = template.metrics_
    assert template.metrics_["season_length"] == 7
    for name in ("mase", "smape", "wql"):
        assert metrics[name] < metrics[f"baseline_{name}"], name
    assert 0.0 <= metrics["coverage"] <= 1.0
    assert metrics["coverage_nominal"] == pytest.approx(0.8)


def test_demand_forecast_served_like_fitted(fitted: DemandForecast, history: pd.DataFrame) -> None:
    trained = fitted.to_trained_model()
    assert (trained.format, trained.template) == ("template", "demand_forecast")
    signature = trained.signature
    assert (signature.group_by, signature.order_by) == ("series", "timestamp")
    assert (signature.horizon, signature.quantiles, signature.task) == (
        HORIZON,
        [0.1, 0.5, 0.9],
        Task.FORECAST,
    )
    assert [c.dtype for c in signature.inputs] == [ColumnType.STRING] * 2 + [ColumnType.FLOAT]
    predictor = TemplateRuntime().load(trained.artifact, signature)
    served = predictor.predict(columns_to_matrix(_as_columns(history), signature), explain=True)
    own = fitted.forecast(history)
    np.testing.assert_allclose(served.predictions, own.predictions, rtol=1e-12)
    assert served.keys == own.keys
    assert served.quantiles is not None
    assert own.quantiles is not None
    for level, values in own.quantiles.items():
        np.testing.assert_allclose(served.quantiles[level], values, rtol=1e-12)
    np.testing.assert_allclose(served.contributions, fitted.explain(history), rtol=1e-9)


def test_demand_forecast_artifact_is_json_and_deterministic(
    fitted: DemandForecast, history: pd.DataFrame
) -> None:
    artifact = fitted.to_trained_model().artifact
    assert not artifact.startswith(b"\x80")  # no pickle
    assert json.loads(artifact)["template"] == "demand_forecast"
    again = DemandForecast(horizon=HORIZON, **FAST).fit(history).to_trained_model().artifact
    assert again == artifact
    other = DemandForecast(horizon=HORIZON, **FAST, seed=1).fit(history).to_trained_model()
    assert other.artifact != artifact


def test_demand_forecast_reports_params_and_importance(fitted: DemandForecast) -> None:
    trained = fitted.to_trained_model()
    assert trained.params["target"] == "units_produced"
    assert trained.params["features"] == ["series", "timestamp", "units_produced"]
    assert trained.params["horizon"] == HORIZON
    assert set(trained.feature_importance) == {"series", "timestamp", "units_produced"}
    assert sum(trained.feature_importance.values()) == pytest.approx(1.0)


def test_demand_forecast_explanations_add_up(fitted: DemandForecast, history: pd.DataFrame) -> None:
    contributions = fitted.explain(history)
    assert contributions.shape == (8 * HORIZON, 4)
    assert (contributions[:, 0] == 0.0).all()  # the series name itself carries no signal
    np.testing.assert_allclose(contributions.sum(axis=1), fitted.predict(history), rtol=1e-9)


def test_demand_forecast_forecasts_a_new_series_with_integer_steps() -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(240)
    frame = pd.DataFrame(
        {
            "series": np.repeat([1, 2, 3], 240),
            "timestamp": np.tile(steps, 3),
            "value": np.concatenate(
                [
                    level * (1.0 + 0.5 * np.sin(2 * np.pi * steps / 12)) + rng.normal(0, 2, 240)
                    for level in (50.0, 100.0, 400.0)
                ]
            ),
        }
    )
    template = DemandForecast(horizon=6, n_estimators=40, max_train_rows=4000).fit(frame)
    assert template.metrics_["season_length"] == 12
    assert template.signature_.inputs[0].dtype is ColumnType.INT
    assert template.signature_.inputs[1].dtype is ColumnType.INT
    unseen = frame[frame["series"] == 3].assign(series=9, value=lambda f: f["value"] / 4)
    prediction = template.forecast(unseen)
    assert prediction.keys == [{"series": "9", "step": k} for k in range(1, 7)]
    truth = 100.0 * (1.0 + 0.5 * np.sin(2 * np.pi * np.arange(240, 246) / 12))
    np.testing.assert_allclose(prediction.predictions, truth, rtol=0.15)


def test_demand_forecast_unfitted_raises(history: pd.DataFrame) -> None:
    template = DemandForecast(horizon=HORIZON)
    for call in (
        lambda: template.predict(history),
        lambda: template.explain(history),
        template.to_trained_model,
    ):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "horizon"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": 7, "quantiles": (0.5, 1.2)}, "quantiles"),
        ({"horizon": 7, "backtest_folds": 0}, "backtest_folds"),
        ({"horizon": 7, "lags": (0, 1)}, "lags"),
    ],
)
def test_demand_forecast_rejects_invalid_params(
    history: pd.DataFrame, params: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        DemandForecast(**params, value_column="units_produced").fit(history)
    assert caught.value.field == field


def test_demand_forecast_rejects_a_horizon_longer_than_history(
    fitted: DemandForecast, history: pd.DataFrame
) -> None:
    short = history.groupby("series").head(HORIZON - 1)
    with pytest.raises(InvalidParameterError) as caught:
        fitted.forecast(short)
    assert caught.value.expected == f">= {HORIZON} steps of history"
    assert caught.value.received == HORIZON - 1
    with pytest.raises(InvalidParameterError) as caught:
        DemandForecast(horizon=200, **FAST).fit(history)
    assert (caught.value.field, caught.value.received) == ("series", 150)


def test_demand_forecast_rejects_too_short_a_history_for_the_backtest(
    history: pd.DataFrame,
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        DemandForecast(horizon=40, backtest_folds=3, **FAST).fit(history)
    assert caught.value.field == "backtest_folds"


def test_demand_forecast_rejects_bad_frames(history: pd.DataFrame) -> None:
    template = DemandForecast(horizon=HORIZON, **FAST)
    with pytest.raises(SchemaMismatchError) as caught:
        template.fit(history.drop(columns="timestamp"))
    assert caught.value.field == "timestamp"
    with pytest.raises(SchemaMismatchError) as caught:
        template.fit(history, target="no_such_column")
    assert caught.value.field == "no_such_column"
    with pytest.raises(SchemaMismatchError) as caught:
        template.fit(history.assign(units_produced="many"))
    assert caught.value.field == "units_produced"
    with pytest.raises(SchemaMismatchError) as caught:
        template.fit(history.assign(timestamp="yesterday"))
    assert caught.value.field == "timestamp"
    with pytest.raises(InvalidParameterError) as caught:
        template.fit(pd.concat([history, history.head(1)]))
    assert caught.value.field == "timestamp"
    with pytest.raises(InvalidParameterError) as caught:
        template.fit(history, features=["series"])
    assert caught.value.field == "features"


def test_demand_forecast_forecast_checks_the_history(
    fitted: DemandForecast, history: pd.DataFrame
) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.forecast(history.drop(columns="units_produced"))
    assert caught.value.field == "units_produced"
    steps = history.assign(timestamp=history.groupby("series").cumcount())
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.forecast(steps)  # trained on datetimes
    assert (caught.value.field, caught.value.received) == ("timestamp", "int")


def test_demand_forecast_refuses_a_foreign_state(fitted: DemandForecast) -> None:
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    with pytest.raises(UnsupportedFormatError):
        DemandForecast.from_state({**state, "state_version": 99}, fitted.signature_)


def _booster_of_one_feature() -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 1))
    data = lgb.Dataset(x, label=x[:, 0], params={"verbose": -1})
    return lgb.train({"verbose": -1}, data, num_boost_round=2).model_to_string()


BOOSTER_DEFECTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "not a mapping": lambda b: "x",
    "none": lambda b: {},
    "no median": lambda b: {k: v for k, v in b.items() if k != "0.5"},
    "an extra level": lambda b: {**b, "0.75": b["0.5"]},
    "a level that is no number": lambda b: {**b, "high": b["0.5"]},
    "a booster that is no text": lambda b: {**b, "0.5": 7},
    "a booster of other features": lambda b: {**b, "0.5": _booster_of_one_feature()},
}
"""Boosters a forecast cannot serve from, by what is wrong with them."""


@pytest.mark.parametrize("defect", sorted(BOOSTER_DEFECTS))
def test_demand_forecast_refuses_boosters_that_cannot_serve(
    fitted: DemandForecast, defect: str
) -> None:
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    state["boosters"] = BOOSTER_DEFECTS[defect](state["boosters"])
    with pytest.raises(UnsupportedFormatError) as caught:
        DemandForecast.from_state(state, fitted.signature_)
    assert caught.value.field == "state"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("calendar", ["phase_of_moon"]),
        ("time_kind", "fortnights"),
        ("freq", "every so often"),
        ("freq", None),
        ("lags", [0, 1]),
        ("windows", [-4]),
        ("horizon", 0),
        ("quantiles", [0.1, 1.5]),
    ],
)
def test_demand_forecast_refuses_a_layout_no_training_writes(
    fitted: DemandForecast, key: str, value: object
) -> None:
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    state["layout"][key] = value
    with pytest.raises(UnsupportedFormatError):
        DemandForecast.from_state(state, fitted.signature_)


@pytest.mark.parametrize("stretch", [[1.0, float("nan"), 1.0], [1.0, -2.0, 1.0]])
def test_demand_forecast_refuses_a_stretch_that_is_no_factor(
    fitted: DemandForecast, stretch: list[float]
) -> None:
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    with pytest.raises(UnsupportedFormatError):
        DemandForecast.from_state({**state, "stretch": stretch}, fitted.signature_)


def _retyped(described: dict[str, Any], position: int, dtype: str) -> dict[str, Any]:
    inputs = [dict(column) for column in described["inputs"]]
    inputs[position]["dtype"] = dtype
    return {"inputs": inputs}


SIGNATURE_DEFECTS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "one input fewer": (lambda d: {"inputs": d["inputs"][:2]}, "inputs"),
    "one input more": (lambda d: {"inputs": [*d["inputs"], {"name": "shift"}]}, "inputs"),
    "integer times for datetimes": (lambda d: _retyped(d, 1, "int64"), "inputs"),
    "boolean series": (lambda d: _retyped(d, 0, "bool"), "inputs"),
    "another horizon": (lambda d: {"horizon": HORIZON + 1}, "horizon"),
    "other quantiles": (lambda d: {"quantiles": [0.05, 0.5, 0.95]}, "quantiles"),
}
"""Changes to the trained signature, each with the field the refusal names."""


@pytest.mark.parametrize("defect", sorted(SIGNATURE_DEFECTS))
def test_demand_forecast_refuses_a_signature_that_does_not_fit(
    fitted: DemandForecast, defect: str
) -> None:
    """A served forecast reads the series, time and value columns by position, so an uploaded
    artifact with another signature is refused when loading, not when forecasting."""
    trained = fitted.to_trained_model()
    described = trained.signature.model_dump(mode="json")
    change, field = SIGNATURE_DEFECTS[defect]
    signature = Signature.model_validate({**described, **change(described)})
    with pytest.raises(UnsupportedFormatError) as caught:
        TemplateRuntime().load(trained.artifact, signature)
    assert caught.value.field == field


def test_demand_forecast_importance_is_largest_first(fitted: DemandForecast) -> None:
    shares = list(fitted.to_trained_model().feature_importance.values())
    assert shares == sorted(shares, reverse=True)
    assert shares[-1] == 0.0  # the series column: no feature comes from it


def test_detect_periods_finds_a_daily_and_weekly_cycle() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(24 * 7 * 8)
    daily = 1.0 + np.sin(2 * np.pi * t / 24)
    weekends_off = np.array([1, 1, 1, 1, 1, 0, 0])[(t // 24) % 7]
    noise = [rng.normal(0, 0.1, len(t)) for _ in range(5)]
    assert detect_periods([daily + e for e in noise]) == (24,)
    assert detect_periods([daily * weekends_off + e for e in noise]) == (24, 168)
    assert detect_periods(noise) == ()
    assert detect_periods([np.cumsum(e) for e in noise]) == ()


def test_forecast_metrics_helpers() -> None:
    assert smape(np.array([100.0, 0.0]), np.array([100.0, 0.0])) == 0.0
    assert smape(np.array([100.0]), np.array([50.0])) == pytest.approx(200 * 50 / 150)
    history = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    point, bands = seasonal_naive(history, 4, 3, [0.1, 0.9])
    np.testing.assert_array_equal(point, [1.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(bands, np.column_stack([point, point]))  # no past change
    actual = np.array([10.0, 10.0])
    perfect = np.column_stack([actual, actual])
    assert weighted_quantile_loss(actual, perfect, [0.1, 0.9]) == 0.0
