"""The remaining-useful-life template: per-unit answers, honest splits, serving, bad input."""

from __future__ import annotations

import inspect
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from maas.domain.signature import Signature
from maas.errors import (
    InvalidParameterError,
    MaasError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.ml.synthetic import run_to_failure
from maas.ml.templates.catalog import get_template
from maas.ml.templates.rul import MIN_UNITS, RemainingUsefulLife, nasa_score, rul_scores
from maas.ml.templates.rul_features import encode_units
from maas.runtimes.encoding import rows_to_matrix
from maas.runtimes.template import TemplateRuntime

SMALL: dict[str, Any] = {"n_estimators": 40, "windows": (5, 10)}
"""Fewer trees and windows keep the suite fast; the behaviour tested does not depend on them."""


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return run_to_failure(n_units=14, seed=0)


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> RemainingUsefulLife:
    return RemainingUsefulLife(**SMALL).fit(frame)


def _serve(template: RemainingUsefulLife, x: np.ndarray, *, explain: bool = False):
    trained = template.to_trained_model()
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    return TemplateRuntime().load(trained.artifact, signature).predict(x, explain=explain)


def test_rul_is_in_the_catalog_with_its_params_as_init_defaults() -> None:
    assert get_template("remaining_useful_life") is RemainingUsefulLife
    init = inspect.signature(RemainingUsefulLife.__init__).parameters
    defaults = {k: p.default for k, p in init.items() if k != "self"}
    assert defaults == RemainingUsefulLife.spec.params().model_dump()


def test_rul_predicts_once_per_unit_at_its_latest_row(
    fitted: RemainingUsefulLife, frame: pd.DataFrame
) -> None:
    shuffled = frame.sample(frac=1.0, random_state=1)
    predictions = fitted.predict(shuffled)
    assert predictions.shape == (14,)
    assert predictions.dtype == np.float64
    by_unit = fitted.predict_by_unit(shuffled)
    assert by_unit.index.tolist() == list(pd.unique(shuffled["unit"]))
    np.testing.assert_array_equal(by_unit.to_numpy(), predictions)
    # row order does not matter, only time order within each unit
    np.testing.assert_array_equal(fitted.predict_by_unit(frame).loc[by_unit.index], by_unit)


def test_rul_splits_by_unit_never_by_row(fitted: RemainingUsefulLife) -> None:
    train, valid = set(fitted.training_units_), set(fitted.validation_units_)
    assert train.isdisjoint(valid)
    assert train | valid == set(range(1, 15))
    assert fitted.metrics_["n_validation_units"] == len(valid) == math.ceil(0.2 * 14)


def test_rul_reports_scores_beside_a_naive_baseline(fitted: RemainingUsefulLife) -> None:
    metrics = fitted.to_trained_model().metrics
    for suffix in ("", "_last"):
        for name in ("rmse", "mae", "nasa_score", "nasa_score_mean"):
            assert f"{name}{suffix}" in metrics
            assert f"baseline_{name}{suffix}" in metrics
    assert metrics["rmse"] < metrics["baseline_rmse"]
    assert metrics["rmse_last"] < metrics["baseline_rmse_last"]
    assert metrics["n_truncations"] == 10 * metrics["n_validation_units"]


def test_rul_artifact_serves_the_same_answers(
    fitted: RemainingUsefulLife, frame: pd.DataFrame
) -> None:
    trained = fitted.to_trained_model()
    assert trained.format == "template"
    assert trained.template == "remaining_useful_life"
    assert (trained.signature.group_by, trained.signature.order_by) == ("unit", "cycle")
    envelope = json.loads(trained.artifact)
    assert envelope["template"] == "remaining_useful_life"
    # The API's own encoding of JSON rows, then the template runtime.
    rows = frame.to_dict(orient="records")
    served = _serve(fitted, rows_to_matrix(rows, trained.signature), explain=True)
    np.testing.assert_array_equal(served.predictions, fitted.predict(frame))
    assert served.keys == [{"unit": u} for u in range(1, 15)]
    np.testing.assert_allclose(served.contributions, fitted.explain(frame))


def test_rul_explanations_add_up_per_input(
    fitted: RemainingUsefulLife, frame: pd.DataFrame
) -> None:
    contributions = fitted.explain(frame)
    names = fitted.signature_.input_names
    assert contributions.shape == (14, len(names) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), fitted.predict(frame), atol=1e-9)
    silent = [names.index(n) for n in ("unit", "setting1", "setting2", "s8")]
    assert np.all(contributions[:, silent] == 0.0)


def test_rul_drops_constant_sensors_and_ranks_inputs(fitted: RemainingUsefulLife) -> None:
    trained = fitted.to_trained_model()
    assert trained.params["sensors"] == ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]
    assert trained.params["settings"] == ["setting1", "setting2"]
    assert set(trained.feature_importance) == set(trained.signature.input_names)
    assert sum(trained.feature_importance.values()) == pytest.approx(1.0)
    assert trained.feature_importance["s8"] == 0.0
    assert max(trained.feature_importance, key=trained.feature_importance.__getitem__) == "s1"


def test_rul_prediction_from_a_truncated_history_uses_only_the_past(
    fitted: RemainingUsefulLife, frame: pd.DataFrame
) -> None:
    model = fitted.model_
    hist = model.recipe.layout.histories(encode_units(frame, fitted.signature_))
    at_cycle_30 = model.predict_rows(hist, hist.starts + 29)
    truncated = fitted.predict(frame[frame["cycle"] <= 30])
    np.testing.assert_allclose(truncated, at_cycle_30, rtol=1e-9)


def test_rul_same_seed_gives_the_same_bytes(frame: pd.DataFrame) -> None:
    params: dict[str, Any] = {**SMALL, "bagging_fraction": 0.8}
    first = RemainingUsefulLife(**params).fit(frame).to_trained_model()
    again = RemainingUsefulLife(**params).fit(frame).to_trained_model()
    other = RemainingUsefulLife(**params, seed=1).fit(frame).to_trained_model()
    assert first.artifact == again.artifact
    assert first.metrics == again.metrics
    assert other.artifact != first.artifact


def test_rul_normalises_per_operating_condition() -> None:
    frame = run_to_failure(n_units=12, seed=3, n_conditions=3)
    template = RemainingUsefulLife(**SMALL).fit(frame)
    assert template.metrics_["n_conditions"] == 3
    assert template.metrics_["rmse"] < template.metrics_["baseline_rmse"]


def test_rul_learns_a_given_target_like_run_to_failure(
    fitted: RemainingUsefulLife, frame: pd.DataFrame
) -> None:
    life = frame.groupby("unit")["cycle"].transform("max")
    template = RemainingUsefulLife(**SMALL).fit(frame.assign(rul=life - frame["cycle"]), "rul")
    assert template.signature_.input_names == fitted.signature_.input_names
    np.testing.assert_array_equal(template.predict(frame), fitted.predict(frame))


def test_rul_takes_text_unit_ids(frame: pd.DataFrame) -> None:
    named = frame.assign(unit="engine-" + frame["unit"].astype(str))
    template = RemainingUsefulLife(**SMALL).fit(named)
    by_unit = template.predict_by_unit(named)
    assert by_unit.index[0] == "engine-1"
    served = _serve(template, rows_to_matrix(named.to_dict("records"), template.signature_))
    assert served.keys[0] == {"unit": "engine-1"}
    np.testing.assert_array_equal(served.predictions, by_unit.to_numpy())


def test_rul_tolerates_missing_readings(frame: pd.DataFrame) -> None:
    gappy = frame.assign(s9=np.nan)
    gappy.loc[gappy.index % 7 == 3, "s2"] = np.nan
    template = RemainingUsefulLife(**SMALL).fit(gappy)
    assert "s9" not in template.to_trained_model().params["sensors"]
    predictions = template.predict(gappy)
    assert np.isfinite(predictions).all()
    rows = gappy.astype(object).where(gappy.notna(), None).to_dict("records")  # JSON nulls
    served = _serve(template, rows_to_matrix(rows, template.signature_))
    np.testing.assert_array_equal(served.predictions, predictions)


def _one_cycle_unit(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.head(1).assign(unit=99)], ignore_index=True)


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        pytest.param(lambda f: f.drop(columns="unit"), SchemaMismatchError, "unit", id="no-unit"),
        pytest.param(
            lambda f: f.assign(s3=np.where(f["cycle"] % 2 == 0, "hot", "cold")),
            SchemaMismatchError,
            "s3",
            id="text-sensor",
        ),
        pytest.param(
            lambda f: f[f["unit"] < MIN_UNITS], InvalidParameterError, "unit", id="few-units"
        ),
        pytest.param(_one_cycle_unit, InvalidParameterError, "unit", id="one-cycle-unit"),
        pytest.param(
            lambda f: f.assign(cycle=f["cycle"] // 2), SchemaMismatchError, "cycle", id="same-time"
        ),
        pytest.param(
            lambda f: f.assign(cycle=f["cycle"].astype(str)),
            SchemaMismatchError,
            "cycle",
            id="text-time",
        ),
    ],
)
def test_rul_rejects_bad_data(frame: pd.DataFrame, change, error, field) -> None:
    with pytest.raises(error) as caught:
        RemainingUsefulLife(**SMALL).fit(change(frame))
    assert caught.value.field == field
    assert caught.value.expected is not None
    assert caught.value.received is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"windows": (1, 5)}, "windows"),
        ({"rul_cap": 0}, "rul_cap"),
        ({"validation_fraction": 0.9}, "validation_fraction"),
        ({"time_column": "unit"}, "time_column"),  # a rule across parameters names the one given
    ],
)
def test_rul_rejects_bad_params(frame: pd.DataFrame, params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        RemainingUsefulLife(**params).fit(frame)
    assert caught.value.field == field


def test_rul_predict_names_a_missing_column(
    fitted: RemainingUsefulLife, frame: pd.DataFrame
) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.predict(frame.drop(columns="s2"))
    assert (caught.value.field, caught.value.received) == ("s2", "nothing")


def test_rul_unfitted_raises_not_fitted(frame: pd.DataFrame) -> None:
    template = RemainingUsefulLife()
    for call in (lambda: template.predict(frame), template.to_trained_model):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()


def test_rul_from_state_refuses_a_foreign_state(fitted: RemainingUsefulLife) -> None:
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    with pytest.raises(UnsupportedFormatError):
        RemainingUsefulLife.from_state({**state, "state_version": 99}, fitted.signature_)
    other = Signature.model_validate({"inputs": [{"name": "unit"}, {"name": "cycle"}]})
    with pytest.raises(UnsupportedFormatError):
        RemainingUsefulLife.from_state(state, other)


RECIPE_DEFECTS: dict[str, dict[str, Any]] = {
    "a sensor that is no candidate": {"sensors": ["s1", "unobtanium"]},
    "a normaliser of other sensors": {"mean": [[0.0]]},
    "a scale of zero": {"scale": [[0.0] * 7]},
    "a window of no rows": {"windows": [0, 10]},
    "a setting that is also a sensor": {"settings": ["setting1", "s1"]},
}
"""Recipe members no training writes, which would fail (or mislead) only when predicting."""


@pytest.mark.parametrize("defect", sorted(RECIPE_DEFECTS))
def test_rul_from_state_refuses_a_recipe_no_training_writes(
    fitted: RemainingUsefulLife, defect: str
) -> None:
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    state["recipe"] |= RECIPE_DEFECTS[defect]
    with pytest.raises(UnsupportedFormatError) as caught:
        RemainingUsefulLife.from_state(state, fitted.signature_)
    assert caught.value.field == "state"


@pytest.mark.parametrize("booster", [7, None, [], "", "tree"])
def test_rul_from_state_refuses_a_booster_that_is_no_model_text(
    fitted: RemainingUsefulLife, booster: object
) -> None:
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    with pytest.raises(UnsupportedFormatError) as caught:
        RemainingUsefulLife.from_state({**state, "booster": booster}, fitted.signature_)
    assert caught.value.field == "state"


def test_rul_from_state_refuses_a_booster_of_other_features(
    fitted: RemainingUsefulLife, frame: pd.DataFrame
) -> None:
    """A booster trained with other windows takes other features than the recipe gives."""
    other = RemainingUsefulLife(**{**SMALL, "windows": (5,)}).fit(frame)
    state = json.loads(fitted.to_trained_model().artifact)["state"]
    booster = json.loads(other.to_trained_model().artifact)["state"]["booster"]
    with pytest.raises(UnsupportedFormatError, match="features"):
        RemainingUsefulLife.from_state({**state, "booster": booster}, fitted.signature_)


def test_rul_from_state_refuses_a_signature_with_an_extra_input(
    fitted: RemainingUsefulLife,
) -> None:
    trained = fitted.to_trained_model()
    described = trained.signature.model_dump(mode="json")
    extra = {**described, "inputs": [*described["inputs"], {"name": "operator"}]}
    with pytest.raises(UnsupportedFormatError) as caught:
        TemplateRuntime().load(trained.artifact, Signature.model_validate(extra))
    assert caught.value.field == "inputs"
    assert caught.value.received[-1] == "operator"


@pytest.mark.parametrize(("column", "dtype"), [("unit", "string"), ("cycle", "string")])
def test_rul_from_state_refuses_a_signature_of_other_types(
    fitted: RemainingUsefulLife, column: str, dtype: str
) -> None:
    """Units read as integers in training and numeric times cannot be served as text."""
    trained = fitted.to_trained_model()
    described = trained.signature.model_dump(mode="json")
    inputs = [{**c, "dtype": dtype} if c["name"] == column else c for c in described["inputs"]]
    signature = Signature.model_validate({**described, "inputs": inputs})
    with pytest.raises(UnsupportedFormatError) as caught:
        TemplateRuntime().load(trained.artifact, signature)
    assert (caught.value.field, caught.value.received) == (column, dtype)


def test_nasa_score_punishes_late_more_than_early() -> None:
    assert nasa_score(np.array([0.0]), np.array([13.0])) == pytest.approx(math.e - 1)
    assert nasa_score(np.array([10.0]), np.array([0.0])) == pytest.approx(math.e - 1)
    late, early = (
        rul_scores(np.array([20.0]), np.array([10.0])),
        rul_scores(np.array([0.0]), np.array([10.0])),
    )
    assert late["rmse"] == early["rmse"] == 10.0
    assert late["nasa_score"] > early["nasa_score"]


def test_run_to_failure_is_seeded_and_shaped() -> None:
    frame = run_to_failure(n_units=5, seed=4)
    assert frame.equals(run_to_failure(n_units=5, seed=4))
    assert frame["unit"].nunique() == 5
    assert frame.columns.tolist() == [
        "unit", "cycle", "setting1", "setting2", *[f"s{i}" for i in range(1, 9)]
    ]  # fmt: skip
    assert (frame.groupby("unit")["cycle"].min() == 1).all()
    assert frame["s8"].nunique() == 1
    with pytest.raises(MaasError):
        run_to_failure(n_units=0)
