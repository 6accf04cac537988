"""The template contract, run over every template in the catalog, plus each template's own rules."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import pytest

from maas.domain.signature import ColumnType, Signature, Task
from maas.errors import InvalidParameterError, NotFittedError, SchemaMismatchError
from maas.ml.features import encode_frame, infer_columns, select_features
from maas.ml.synthetic import machine_conditions, tool_life
from maas.ml.templates.base import MIN_ROWS, Template
from maas.ml.templates.catalog import TEMPLATES, get_template
from maas.ml.templates.failure import FailurePrediction
from maas.ml.templates.regression import TabularRegression
from maas.runtimes.lightgbm import LightGBMRuntime

EXAMPLES: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "failure_prediction": (partial(machine_conditions, n=1500, seed=1), "machine_failure"),
    "tabular_regression": (partial(tool_life, n=600, seed=1), "remaining_tool_life_min"),
}
"""Example data per template; a template added to the catalog must add its example here."""

SMALL = {"n_estimators": 40}
"""Fewer trees than the default keep the suite fast; the contract does not depend on it."""


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def example(request: pytest.FixtureRequest) -> tuple[type[Template], pd.DataFrame, str]:
    make_frame, target = EXAMPLES[request.param]
    return TEMPLATES[request.param], make_frame(), target


@pytest.fixture(scope="module")
def fitted(example: tuple[type[Template], pd.DataFrame, str]) -> tuple[Template, pd.DataFrame]:
    cls, frame, target = example
    return cls(**SMALL).fit(frame, target), frame


def _raw_score(template: Template, frame: pd.DataFrame) -> np.ndarray:
    x = encode_frame(frame, template.signature_)
    raw = np.asarray(template.booster_.predict(x, raw_score=True))
    if raw.ndim == 2:  # multiclass: the raw score of each row's predicted class
        chosen = np.argmax(template.booster_.predict(x), axis=1)
        raw = raw[np.arange(len(x)), chosen]
    return raw


# --- the contract, for every template ---------------------------------------------------------


def test_template_catalog_names_match_specs() -> None:
    for name, cls in TEMPLATES.items():
        assert cls.spec.name == name
        assert get_template(name) is cls


def test_template_catalog_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        get_template("crystal_ball")
    assert caught.value.field == "template"
    assert caught.value.expected == sorted(TEMPLATES)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_init_takes_exactly_the_spec_params(name: str) -> None:
    cls = TEMPLATES[name]
    init = inspect.signature(cls.__init__).parameters
    defaults = {k: p.default for k, p in init.items() if k != "self"}
    assert defaults == cls.spec.params().model_dump()
    assert cls().get_params() == defaults
    assert cls(seed=7).get_params()["seed"] == 7


@pytest.mark.parametrize("name", sorted(TEMPLATES))
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
    assert envelope["maas_artifact"] == trained.format == "lightgbm"
    assert trained.template == fitted[0].spec.name


def test_template_artifact_loads_with_the_same_predictions(
    fitted: tuple[Template, pd.DataFrame],
) -> None:
    template, frame = fitted
    trained = template.to_trained_model()
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    predictor = LightGBMRuntime().load(trained.artifact, signature)
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


SKILL_METRICS = {"f1": 1, "pr_auc": 1, "rmse": -1, "mae": -1}
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
    ("params", "field"),
    [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"n_estimators": "many"}, "n_estimators"),
        ({"validation_fraction": 0.9}, "validation_fraction"),
        ({"num_leaves": 1}, "num_leaves"),
    ],
)
def test_template_rejects_invalid_params(
    example: tuple[type[Template], pd.DataFrame, str], params: dict[str, object], field: str
) -> None:
    cls, frame, target = example
    with pytest.raises(InvalidParameterError) as caught:
        cls(**params).fit(frame, target)
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


# --- failure prediction -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def failures() -> pd.DataFrame:
    return machine_conditions(n=1500, seed=2)


def test_failure_prediction_threshold_is_reported(failures: pd.DataFrame) -> None:
    template = FailurePrediction(**SMALL).fit(failures)
    assert 0.0 < template.threshold_ < 1.0
    assert template.to_trained_model().metrics["threshold"] == template.threshold_
    envelope = json.loads(template.to_trained_model().artifact)
    assert envelope["threshold"] == template.threshold_
    assert envelope["classes"] == ["0", "1"]


def test_failure_prediction_labels_follow_the_threshold(failures: pd.DataFrame) -> None:
    template = FailurePrediction(**SMALL).fit(failures)
    p = template.predict_proba(failures)[:, 1]
    expected = np.where(p >= template.threshold_, "1", "0")
    assert template.predict(failures).tolist() == expected.tolist()


def test_failure_prediction_multiclass_target(failures: pd.DataFrame) -> None:
    frame = failures.drop(columns="machine_failure")
    template = FailurePrediction(**SMALL).fit(frame, target="type")
    assert template.classes_ == ["L", "M", "H"]  # a categorical target keeps its order
    assert template.predict_proba(frame).shape == (len(frame), 3)
    assert "threshold" not in template.metrics_
    trained = template.to_trained_model()
    served = (
        LightGBMRuntime()
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
    assert FailurePrediction(**SMALL).fit(as_text).classes_ == ["fail", "ok"]
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


def test_failure_prediction_rejects_missing_target_values(failures: pd.DataFrame) -> None:
    frame = failures.astype({"machine_failure": float})
    frame.loc[frame.index[0], "machine_failure"] = np.nan
    with pytest.raises(InvalidParameterError) as caught:
        FailurePrediction().fit(frame)
    assert caught.value.field == "machine_failure"


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
