"""The template contract over the tabular templates, plus failure prediction's own rules.

The contract runs over ``EXAMPLES`` (failure prediction and tabular regression); the templates
with their own data shapes have their own files (``test_quality``, ``test_anomaly``,
``test_text``, ``test_rul``, ``test_forecast``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, model_validator

from maas.domain.signature import ColumnType, Signature, Task
from maas.errors import (
    InvalidParameterError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.ml.features import encode_frame, infer_columns, select_features
from maas.ml.synthetic import machine_conditions, tool_life
from maas.ml.templates.base import MIN_ROWS, Template, TemplateSpec, validate_params
from maas.ml.templates.catalog import TEMPLATES, get_template
from maas.ml.templates.failure import FailurePrediction
from maas.ml.templates.interactions import Interaction, as_written, derive, pairs_of, to_inputs
from maas.ml.templates.regression import TabularRegression
from maas.runtimes.catalog import get_runtime
from maas.runtimes.template import TemplateRuntime

EXAMPLES: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "failure_prediction": (partial(machine_conditions, n=1500, seed=1), "machine_failure"),
    "tabular_regression": (partial(tool_life, n=600, seed=1), "remaining_tool_life_min"),
}
"""Example data per tabular template of the contract below."""

SMALL = {"n_estimators": 40}
"""Fewer trees than the default keep the suite fast; the contract does not depend on it."""

INVALID_PARAMS: dict[str, list[tuple[dict[str, object], str]]] = {
    "failure_prediction": [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"n_estimators": "many"}, "n_estimators"),
        ({"cv_folds": 1}, "cv_folds"),
        ({"num_leaves": 1}, "num_leaves"),
        ({"max_interaction_inputs": 1}, "max_interaction_inputs"),
    ],
    "tabular_regression": [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"n_estimators": "many"}, "n_estimators"),
        ({"validation_fraction": 0.9}, "validation_fraction"),
        ({"num_leaves": 1}, "num_leaves"),
    ],
}


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def example(request: pytest.FixtureRequest) -> tuple[type[Template], pd.DataFrame, str]:
    make_frame, target = EXAMPLES[request.param]
    return TEMPLATES[request.param], make_frame(), target


@pytest.fixture(scope="module")
def fitted(example: tuple[type[Template], pd.DataFrame, str]) -> tuple[Template, pd.DataFrame]:
    cls, frame, target = example
    return cls(**SMALL).fit(frame, target), frame


def _raw_score(template: Template, frame: pd.DataFrame) -> np.ndarray:
    """What ``explain`` must add up to: the log-odds (of the predicted class when multiclass)
    for a classifier, the prediction for a regressor."""
    if not hasattr(template, "decision_function"):
        return np.asarray(template.predict(frame))
    raw = np.asarray(template.decision_function(frame))
    if raw.ndim == 2:
        chosen = np.searchsorted(template.classes_, template.predict(frame))
        raw = raw[np.arange(len(raw)), chosen]
    return raw


# --- the contract, for every template ---------------------------------------------------------


def test_template_catalog_names_match_specs() -> None:
    for name, cls in TEMPLATES.items():
        assert cls.spec.name == name
        assert get_template(name) is cls


def test_template_catalog_lists_the_built_in_templates() -> None:
    assert {
        "failure_prediction",
        "tabular_regression",
        "quality_classification",
        "anomaly_detection",
        "text_classification",
    } <= set(TEMPLATES)


def test_template_catalog_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        get_template("crystal_ball")
    assert caught.value.field == "template"
    assert caught.value.expected == sorted(TEMPLATES)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_init_takes_exactly_the_spec_params(name: str) -> None:
    cls = TEMPLATES[name]
    init = {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    fields = cls.spec.params.model_fields
    assert set(init) == set(fields)
    for key, field in fields.items():
        if field.is_required():  # no default, or None: validated (and refused) in fit
            assert init[key].default in (inspect.Parameter.empty, None), key
        else:
            assert init[key].default == field.get_default(call_default_factory=True), key
    if not any(f.is_required() for f in fields.values()):
        assert cls().get_params() == {k: p.default for k, p in init.items()}
        assert cls(seed=7).get_params()["seed"] == 7


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_template_unfitted_raises_not_fitted(name: str) -> None:
    template = TEMPLATES[name]()
    frame = EXAMPLES[name][0]()
    for call in (
        lambda: template.predict(frame),
        lambda: template.explain(frame),
        template.to_trained_model,
    ):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()


def test_template_fit_returns_self(example: tuple[type[Template], pd.DataFrame, str]) -> None:
    cls, frame, target = example
    template = cls(**SMALL)
    assert template.fit(frame, target) is template


def test_template_predictions_have_the_right_shape_and_type(
    fitted: tuple[Template, pd.DataFrame],
) -> None:
    template, frame = fitted
    predictions = template.predict(frame)
    assert predictions.shape == (len(frame),)
    if template.spec.task is Task.CLASSIFICATION:
        assert set(predictions.tolist()) <= set(template.signature_.classes)
    else:
        assert predictions.dtype == np.float64


def test_template_artifact_is_json_not_pickle(fitted: tuple[Template, pd.DataFrame]) -> None:
    trained = fitted[0].to_trained_model()
    assert not trained.artifact.startswith(b"\x80")  # every pickle protocol >= 2 starts so
    envelope = json.loads(trained.artifact.decode("utf-8"))
    assert envelope["maas_artifact"] == trained.format
    assert trained.template == fitted[0].spec.name


def test_template_artifact_loads_with_the_same_predictions(
    fitted: tuple[Template, pd.DataFrame],
) -> None:
    template, frame = fitted
    trained = template.to_trained_model()
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    predictor = get_runtime(trained.format).load(trained.artifact, signature)
    served = predictor.predict(encode_frame(frame, signature), explain=True)
    assert served.predictions.tolist() == template.predict(frame).tolist()
    np.testing.assert_allclose(served.contributions, template.explain(frame))
    if template.spec.task is Task.CLASSIFICATION:
        np.testing.assert_allclose(served.probabilities, template.predict_proba(frame))


def test_template_same_seed_gives_the_same_bytes(
    example: tuple[type[Template], pd.DataFrame, str], fitted: tuple[Template, pd.DataFrame]
) -> None:
    cls, frame, target = example
    again = cls(**SMALL).fit(frame, target).to_trained_model()
    assert again.artifact == fitted[0].to_trained_model().artifact
    other = cls(**SMALL, seed=1).fit(frame, target).to_trained_model()
    assert other.artifact != again.artifact


def test_template_explanations_add_up(fitted: tuple[Template, pd.DataFrame]) -> None:
    template, frame = fitted
    contributions = template.explain(frame)
    assert contributions.shape == (len(frame), len(template.signature_.inputs) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), _raw_score(template, frame), atol=1e-9)


SKILL_METRICS = {"f1": 1, "pr_auc": 1, "macro_f1": 1, "rmse": -1, "mae": -1}
"""Metrics a trained model must beat its naive baseline on (1: higher is better). Accuracy is
not one: on rare failures, always answering "no failure" is hard to beat on accuracy."""


def test_template_beats_its_naive_baseline(fitted: tuple[Template, pd.DataFrame]) -> None:
    metrics = fitted[0].to_trained_model().metrics
    compared = [m for m in SKILL_METRICS if m in metrics]
    assert compared  # every template reports at least one skill metric
    for name in compared:
        assert SKILL_METRICS[name] * (metrics[name] - metrics[f"baseline_{name}"]) > 0, name


def test_template_reports_inputs_params_and_importance(
    example: tuple[type[Template], pd.DataFrame, str], fitted: tuple[Template, pd.DataFrame]
) -> None:
    _, frame, target = example
    trained = fitted[0].to_trained_model()
    features = [c for c in frame.columns if c != target]
    assert trained.signature.input_names == features
    assert trained.params == {**fitted[0].get_params(), "target": target, "features": features}
    assert set(trained.feature_importance) == set(features)
    assert sum(trained.feature_importance.values()) == pytest.approx(1.0)
    assert min(trained.feature_importance.values()) >= 0.0


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [(name, p, f) for name, cases in INVALID_PARAMS.items() for p, f in cases],
)
def test_template_rejects_invalid_params(name: str, params: dict[str, object], field: str) -> None:
    make_frame, target = EXAMPLES[name]
    with pytest.raises(InvalidParameterError) as caught:
        TEMPLATES[name](**params).fit(make_frame(), target)
    assert caught.value.field == field
    assert caught.value.received == params[field]


def test_template_rejects_a_missing_target(
    example: tuple[type[Template], pd.DataFrame, str],
) -> None:
    cls, frame, _ = example
    with pytest.raises(SchemaMismatchError) as caught:
        cls().fit(frame, "no_such_column")
    assert caught.value.field == "no_such_column"


def test_template_rejects_too_few_rows(example: tuple[type[Template], pd.DataFrame, str]) -> None:
    cls, frame, target = example
    with pytest.raises(InvalidParameterError) as caught:
        cls().fit(frame.head(MIN_ROWS - 1), target)
    assert (caught.value.field, caught.value.received) == ("rows", MIN_ROWS - 1)


def test_template_rejects_a_free_text_column(
    example: tuple[type[Template], pd.DataFrame, str],
) -> None:
    cls, frame, target = example
    frame = frame.assign(operator_note=[f"note {i}" for i in range(len(frame))])
    with pytest.raises(SchemaMismatchError) as caught:
        cls().fit(frame, target)
    assert caught.value.field == "operator_note"


def test_template_predict_rejects_an_unknown_category(
    fitted: tuple[Template, pd.DataFrame],
) -> None:
    template, frame = fitted
    column = next(c for c in template.signature_.inputs if c.dtype is ColumnType.CATEGORY)
    bad = frame.head(3).astype({column.name: object})
    bad.loc[bad.index[0], column.name] = "unobtanium"
    with pytest.raises(SchemaMismatchError) as caught:
        template.predict(bad)
    assert (caught.value.field, caught.value.received) == (column.name, "unobtanium")


class _Window(BaseModel):
    """Parameters with rules across them, for ``validate_params``."""

    model_config = ConfigDict(extra="forbid")

    start: int = 0
    stop: int = 10
    step: int = 1

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        if self.start >= self.stop:
            raise ValueError("start must come before stop")
        if self.step > self.stop - self.start:
            raise ValueError("the window is shorter than its stride")
        return self


_WINDOW = TemplateSpec(name="window", task=Task.REGRESSION, description="", params=_Window)


@pytest.mark.parametrize(
    ("params", "field", "received"),
    [
        ({"start": 0, "stop": 10, "step": "big"}, "step", "big"),
        ({"start": 0, "stop": 0, "step": 1}, "stop", {"start": 0, "stop": 0}),  # stop was given
        ({"start": 20, "stop": 10, "step": 1}, "start", {"start": 20, "stop": 10}),
        ({"start": 0, "stop": 10, "step": 50}, "params", {"start": 0, "stop": 10, "step": 50}),
    ],
)
def test_validate_params_names_a_parameter_of_a_rule_across_them(
    params: dict[str, object], field: str, received: object
) -> None:
    """A rule across parameters is located nowhere by pydantic; the error still names one the
    caller gave (else ``params``) so that the problem document points somewhere."""
    with pytest.raises(InvalidParameterError) as caught:
        validate_params(_WINDOW, params)
    assert (caught.value.field, caught.value.received) == (field, received)
    assert [e["field"] for e in caught.value.details["errors"]] == [field]
    assert repr(field) in str(caught.value)


# --- failure prediction -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def failures() -> pd.DataFrame:
    return machine_conditions(n=1500, seed=2)


@pytest.fixture(scope="module")
def failure_model(failures: pd.DataFrame) -> FailurePrediction:
    return FailurePrediction(**SMALL).fit(failures)


def test_failure_prediction_serves_as_a_template_artifact(
    failure_model: FailurePrediction,
) -> None:
    trained = failure_model.to_trained_model()
    envelope = json.loads(trained.artifact)
    assert (trained.format, envelope["template"]) == ("template", "failure_prediction")
    state = envelope["state"]
    assert len(state["members"]) == failure_model.cv_folds
    assert state["threshold"] == failure_model.threshold_
    assert state["positive"] == 1  # failures are the rarer class
    assert state["classes"] == ["0", "1"]


def test_failure_prediction_threshold_is_reported(failure_model: FailurePrediction) -> None:
    assert 0.0 < failure_model.threshold_ < 1.0
    assert failure_model.to_trained_model().metrics["threshold"] == failure_model.threshold_


def test_failure_prediction_labels_follow_the_threshold(
    failure_model: FailurePrediction, failures: pd.DataFrame
) -> None:
    p = failure_model.predict_proba(failures)[:, 1]
    expected = np.where(p >= failure_model.threshold_, "1", "0")
    assert failure_model.predict(failures).tolist() == expected.tolist()


def test_failure_prediction_probabilities_are_calibrated(
    failure_model: FailurePrediction, failures: pd.DataFrame
) -> None:
    proba = failure_model.predict_proba(failures)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    share = float(failures["machine_failure"].mean())
    assert proba[:, 1].mean() == pytest.approx(share, rel=0.5)
    logit = np.log(proba[:, 1] / proba[:, 0])
    np.testing.assert_allclose(failure_model.decision_function(failures), logit, rtol=1e-6)


def test_failure_prediction_reports_honest_metrics(failure_model: FailurePrediction) -> None:
    metrics = failure_model.metrics_
    assert metrics["n_rows"] == 1500
    assert metrics["cv_folds"] == 5
    confusion = [metrics[f"confusion.{t}.{p}"] for t in "01" for p in "01"]
    assert sum(confusion) == 1500
    assert metrics["recall"] == pytest.approx(metrics["recall.1"])
    assert metrics["baseline_pr_auc"] == pytest.approx(0.0, abs=0.1)
    assert 0.5 < metrics["roc_auc"] <= 1.0


def test_failure_prediction_derives_interactions_of_numeric_inputs(
    failure_model: FailurePrediction,
) -> None:
    names = failure_model.interactions_[0]
    assert "process_temperature_k - tool_wear_min" in names
    assert "torque_nm * tool_wear_min" in names
    assert "tool_wear_min / torque_nm" in names
    assert not any("type" in n for n in names)  # the category is not paired
    assert len(names) == 4 * 10  # 5 numeric inputs: 10 pairs, 4 interactions each


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("threshold", -1.0),
        ("threshold", 1e308),
        ("threshold", float("nan")),
        ("scale", -1.0),  # would invert the model: the least likely failure predicted first
        ("scale", 0.0),  # would answer the same for every row
        ("scale", float("inf")),
        ("bias", [0.0, float("nan")]),
        ("positive", 1.0),
        ("positive", True),
        ("positive", 2),
    ],
)
def test_failure_prediction_refuses_a_calibration_no_training_writes(
    failure_model: FailurePrediction, key: str, value: object
) -> None:
    """An uploaded state whose threshold is no probability, or whose scale would invert or
    flatten the scores, is refused when loading (JSON reads NaN and 1e308 as numbers)."""
    trained = failure_model.to_trained_model()
    envelope = json.loads(trained.artifact)
    envelope["state"][key] = value
    with pytest.raises(UnsupportedFormatError) as caught:
        TemplateRuntime().load(json.dumps(envelope).encode(), trained.signature)
    assert caught.value.field == "state"


def test_failure_prediction_without_interactions(failures: pd.DataFrame) -> None:
    template = FailurePrediction(**SMALL, interactions=False).fit(failures)
    assert template.interactions_ == [[]] * 5
    state = json.loads(template.to_trained_model().artifact)["state"]
    assert all(m["interactions"] == [] for m in state["members"])


def test_failure_prediction_pairs_only_the_strongest_inputs(failures: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    noisy = failures.assign(**{f"noise_{i}": rng.normal(size=len(failures)) for i in range(4)})
    template = FailurePrediction(n_estimators=10, max_interaction_inputs=3).fit(noisy)
    for names in template.interactions_:
        assert len(names) == 4 * 3


def test_failure_prediction_multiclass_target(failures: pd.DataFrame) -> None:
    frame = failures.drop(columns="machine_failure")
    template = FailurePrediction(n_estimators=10).fit(frame, target="type")
    assert template.classes_ == ["L", "M", "H"]  # a categorical target keeps its order
    frame = frame.head(300)
    assert template.predict_proba(frame).shape == (len(frame), 3)
    assert template.threshold_ is None
    assert "threshold" not in template.metrics_
    trained = template.to_trained_model()
    served = (
        get_runtime(trained.format)
        .load(trained.artifact, trained.signature)
        .predict(encode_frame(frame, trained.signature), explain=True)
    )
    assert served.predictions.tolist() == template.predict(frame).tolist()
    np.testing.assert_allclose(served.contributions, template.explain(frame))
    np.testing.assert_allclose(
        template.explain(frame).sum(axis=1), _raw_score(template, frame), atol=1e-9
    )


def test_failure_prediction_names_classes_from_values(failures: pd.DataFrame) -> None:
    as_text = failures.assign(machine_failure=failures["machine_failure"].map({0: "ok", 1: "fail"}))
    template = FailurePrediction(**SMALL).fit(as_text)
    assert template.classes_ == ["fail", "ok"]
    assert template.positive_ == 0  # "fail" is the rarer class, whatever its name
    as_float = failures.assign(machine_failure=failures["machine_failure"].astype(float))
    assert FailurePrediction(**SMALL).fit(as_float).classes_ == ["0", "1"]


def test_failure_prediction_rejects_a_single_class(failures: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        FailurePrediction().fit(failures.assign(machine_failure=0))
    assert caught.value.field == "machine_failure"


def test_failure_prediction_rejects_a_class_too_rare(failures: pd.DataFrame) -> None:
    frame = failures.assign(machine_failure=0)
    frame.loc[frame.index[:3], "machine_failure"] = 1
    with pytest.raises(InvalidParameterError, match="at least 5 rows") as caught:
        FailurePrediction().fit(frame)
    assert caught.value.field == "machine_failure"


def test_failure_prediction_rejects_a_class_rarer_than_the_folds(failures: pd.DataFrame) -> None:
    frame = failures.assign(machine_failure=0)
    frame.loc[frame.index[:6], "machine_failure"] = 1
    with pytest.raises(InvalidParameterError, match="cv_folds=8") as caught:
        FailurePrediction(cv_folds=8).fit(frame)
    assert (caught.value.field, caught.value.expected) == ("machine_failure", ">= 8 rows per class")


def test_failure_prediction_rejects_missing_target_values(failures: pd.DataFrame) -> None:
    frame = failures.astype({"machine_failure": float})
    frame.loc[frame.index[0], "machine_failure"] = np.nan
    with pytest.raises(InvalidParameterError) as caught:
        FailurePrediction().fit(frame)
    assert caught.value.field == "machine_failure"


def test_failure_prediction_served_rejects_a_matrix_of_the_wrong_width(
    failure_model: FailurePrediction,
) -> None:
    trained = failure_model.to_trained_model()
    predictor = TemplateRuntime().load(trained.artifact, trained.signature)
    with pytest.raises(SchemaMismatchError) as caught:
        predictor.predict(np.zeros((2, 3), dtype=np.float32))
    assert (caught.value.field, caught.value.expected) == ("inputs", "(n, 6)")


def test_failure_prediction_served_handles_an_empty_batch(
    failure_model: FailurePrediction,
) -> None:
    trained = failure_model.to_trained_model()
    predictor = TemplateRuntime().load(trained.artifact, trained.signature)
    served = predictor.predict(np.zeros((0, 6), dtype=np.float32), explain=True)
    assert served.predictions.shape == (0,)
    assert served.contributions is not None
    assert served.contributions.shape == (0, 7)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"state_version": 99}, id="version"),
        pytest.param({"classes": ["no", "yes"]}, id="classes"),
        pytest.param({"bias": [0.0]}, id="bias"),
        pytest.param({"members": []}, id="no-members"),
        pytest.param({"threshold": None}, id="threshold-without-positive"),
    ],
)
def test_failure_prediction_state_is_checked_on_load(
    failure_model: FailurePrediction, change: dict[str, object]
) -> None:
    state = {**failure_model.state_, **change}
    with pytest.raises(UnsupportedFormatError) as caught:
        FailurePrediction.from_state(state, failure_model.signature_)
    assert caught.value.field == "state"


def test_failure_prediction_state_refuses_an_interaction_out_of_range(
    failure_model: FailurePrediction,
) -> None:
    member = {**failure_model.state_["members"][0], "interactions": [["product", 0, 99]]}
    state = {**failure_model.state_, "members": [member]}
    with pytest.raises(UnsupportedFormatError, match="not an interaction"):
        FailurePrediction.from_state(state, failure_model.signature_)


# --- interactions -----------------------------------------------------------------------------


def test_as_written_recovers_the_decimal_readings() -> None:
    x = np.asarray([[298.1, 308.6], [0.1, np.nan]], dtype=np.float32)
    clean = as_written(x)
    assert clean[0].tolist() == [298.1, 308.6]
    assert clean[1, 0] == 0.1
    assert np.isnan(clean[1, 1])


def test_derive_appends_each_operation() -> None:
    x = np.asarray([[6.0, 3.0], [1.0, 0.0], [np.nan, 2.0]])
    ops = [Interaction(op, 0, 1) for op in ("difference", "product", "ratio", "inverse_ratio")]
    out = derive(x, ops)
    np.testing.assert_array_equal(out[0], [6.0, 3.0, 3.0, 18.0, 2.0, 0.5])
    np.testing.assert_array_equal(out[1, 2:4], [1.0, 0.0])
    assert np.isnan(out[1, 4])  # a ratio by zero is missing
    assert out[1, 5] == 0.0
    assert np.isnan(out[2, 2:]).all()  # so is anything of a missing input


def test_pairs_of_keeps_the_inputs_with_the_most_gain() -> None:
    pairs = pairs_of([0, 2, 3, 5], max_inputs=2, gain=[9.0, 0.0, 1.0, 5.0, 0.0, 0.5])
    assert {(p.left, p.right) for p in pairs} == {(0, 3)}
    assert len(pairs_of([0, 1, 2], max_inputs=5)) == 3 * 4
    with pytest.raises(ValueError, match="need a gain"):
        pairs_of([0, 1, 2], max_inputs=2)


def test_to_inputs_splits_a_derived_feature_between_its_inputs() -> None:
    m = to_inputs(3, [Interaction("product", 0, 2)])
    contributions = np.asarray([[1.0, 2.0, 3.0, 4.0, 0.5]])  # 3 inputs, 1 derived, bias
    np.testing.assert_array_equal(contributions @ m, [[3.0, 2.0, 5.0, 0.5]])


# --- tabular regression -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"remaining_tool_life_min": "long"}, id="text"),
        pytest.param({"remaining_tool_life_min": 5.0}, id="constant"),
        pytest.param({"remaining_tool_life_min": np.nan}, id="missing"),
    ],
)
def test_tabular_regression_rejects_an_unlearnable_target(change: dict[str, object]) -> None:
    frame = tool_life(n=200, seed=0).assign(**change)
    with pytest.raises(InvalidParameterError) as caught:
        TabularRegression().fit(frame, "remaining_tool_life_min")
    assert caught.value.field == "remaining_tool_life_min"


def test_tabular_regression_uses_only_the_named_features() -> None:
    frame = tool_life(n=300, seed=0)
    template = TabularRegression(**SMALL).fit(
        frame, "remaining_tool_life_min", features=["rotational_speed_rpm", "material"]
    )
    assert template.signature_.input_names == ["rotational_speed_rpm", "material"]
    assert template.predict(frame[["material", "rotational_speed_rpm"]]).shape == (300,)


# --- features ---------------------------------------------------------------------------------


def test_infer_columns_types_each_column() -> None:
    frame = pd.DataFrame(
        {
            "speed": [1, 2, 3],
            "temp": [1.5, np.nan, 2.0],
            "coolant": [True, False, True],
            "grade": pd.Series(["b", "a", None], dtype=object),
            "kind": pd.Categorical(["x", "y", "x"]),
        }
    )
    columns = {c.name: c for c in infer_columns(frame, list(frame.columns))}
    assert columns["speed"].dtype is ColumnType.FLOAT
    assert (columns["temp"].dtype, columns["temp"].nullable) == (ColumnType.FLOAT, True)
    assert columns["coolant"].dtype is ColumnType.BOOL
    assert (columns["grade"].categories, columns["grade"].nullable) == (["a", "b"], True)
    assert columns["kind"].categories == ["x", "y"]


def test_infer_columns_rejects_dates() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    with pytest.raises(SchemaMismatchError) as caught:
        infer_columns(frame, ["when"])
    assert caught.value.field == "when"


def test_encode_frame_maps_categories_booleans_and_missing_values() -> None:
    frame = pd.DataFrame(
        {
            "grade": ["b", None, "a"],
            "coolant": pd.Series([True, None, False], dtype=object),
            "temp": [1.5, np.nan, 2.0],
            "target": [0, 1, 0],
        }
    )
    columns = infer_columns(frame, ["temp", "grade", "coolant"])
    x = encode_frame(frame, Signature(inputs=columns))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(
        x, np.array([[1.5, 1, 1], [np.nan, np.nan, np.nan], [2.0, 0, 0]], dtype=np.float32)
    )


def test_encode_frame_names_a_missing_column() -> None:
    signature = Signature(inputs=infer_columns(pd.DataFrame({"a": [1.0]}), ["a"]))
    with pytest.raises(SchemaMismatchError) as caught:
        encode_frame(pd.DataFrame({"b": [1.0]}), signature)
    assert (caught.value.field, caught.value.received) == ("a", "nothing")


def test_encode_frame_rejects_text_in_a_numeric_column() -> None:
    signature = Signature(inputs=infer_columns(pd.DataFrame({"a": [1.0]}), ["a"]))
    with pytest.raises(SchemaMismatchError) as caught:
        encode_frame(pd.DataFrame({"a": ["hot"]}), signature)
    assert caught.value.field == "a"


def test_select_features_refuses_the_target_as_a_feature() -> None:
    frame = pd.DataFrame({"a": [1.0], "y": [0]})
    assert select_features(frame, "y", None) == ["a"]
    with pytest.raises(SchemaMismatchError) as caught:
        select_features(frame, "y", ["a", "y"])
    assert caught.value.field == "y"
