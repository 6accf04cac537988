"""The template contract (``maas.ml.templates.base``), run over every template in the catalogue.

Each template in ``TEMPLATES`` needs a ``Case`` below: small, fast parameters and generated data
it can learn from. A template added to the catalogue without one fails here, so no template
escapes the contract. The served path is the one the serving service takes: JSON rows →
``rows_to_matrix`` → the runtime that the trained model's format names.

Known template defects are marked ``xfail(strict=True)`` in ``KNOWN_DEFECTS``; fixing one makes
its test pass, and strictness then asks for the mark to go.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from maas.domain.signature import Signature
from maas.errors import InvalidParameterError, MaasError, NotFittedError, UnsupportedFormatError
from maas.ml.prediction import Prediction
from maas.ml.synthetic import (
    machine_conditions,
    maintenance_logs,
    production_series,
    run_to_failure,
    tool_life,
)
from maas.ml.templates.base import Template
from maas.ml.templates.catalog import TEMPLATES
from maas.runtimes.catalog import RUNTIMES, get_runtime
from maas.runtimes.encoding import rows_to_matrix

Keyed = dict[Hashable, float]
"""Predictions of a grouped template by what they are for (unit, series and step)."""


# --- data ---------------------------------------------------------------------------------------


def graded_tools(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """Cutting set-ups graded by tool life: three classes learnt from speed, material, coolant."""
    frame = tool_life(n=n, seed=seed)
    life = frame.pop("remaining_tool_life_min")
    low, high = life.quantile([0.3, 0.7])
    grade = np.select([life < low, life > high], ["short", "long"], "typical")
    return frame.assign(grade=grade)


def pump_readings(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Pump sensor rows; 5% anomalies, whose pressure is off what their flow gives (a leak)."""
    rng = np.random.default_rng(seed)
    flow = rng.normal(50.0, 5.0, n)
    pressure = 0.2 * flow + rng.normal(0.0, 0.3, n)
    anomaly = np.zeros(n, dtype=np.int64)
    rows = rng.choice(n, size=n // 20, replace=False)
    anomaly[rows] = 1
    pressure[rows] -= 2.5
    return pd.DataFrame(
        {
            "flow_l_min": flow.round(2),
            "pressure_bar": pressure.round(3),
            "temperature_c": rng.normal(60.0, 2.0, n).round(2),
            "anomaly": anomaly,
        }
    )


def held_constant(make: Callable[[], pd.DataFrame], *keep: str) -> pd.DataFrame:
    """``make()`` with every column but ``keep`` (label, series, time) held at its first value:
    data a template can fit but learns nothing from."""
    frame = make()
    return frame.assign(**{c: frame[c].iloc[0] for c in frame.columns if c not in keep})


def rul_by_unit(template: Any, frame: pd.DataFrame) -> Keyed:
    by_unit = template.predict_by_unit(frame)
    return {(("unit", unit),): float(v) for unit, v in by_unit.items()}


def forecast_by_series_step(template: Any, frame: pd.DataFrame) -> Keyed:
    forecast = template.forecast(frame)
    return _keyed(forecast.keys, forecast.predictions)


# --- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """How to run one template through the contract, quickly."""

    params: dict[str, Any]
    """Small, fast parameters (few trees): the contract does not depend on the model's size."""
    frame: Callable[[], pd.DataFrame]
    target: str | None
    invalid: list[tuple[str, Any]]
    """Parameters ``spec.params`` refuses, each with a value it refuses."""
    baselines: frozenset[str]
    """Naive-baseline metrics the template promises, next to the model's own."""
    by_key: Callable[[Any, pd.DataFrame], Keyed] | None = None
    """For templates answering per group: their in-process predictions by key."""
    importance_of_terms: bool = False
    """Feature importance is per ``"<class>: <term>"`` rather than per input column."""
    additive: bool = True
    """``explain`` promises rows that add up to the raw score."""
    invalid_together: dict[str, Any] | None = None
    """Parameters each valid alone but refused together (a cross-field rule), if any."""
    uninformative: Callable[[], pd.DataFrame] | None = None
    """Data the template fits but learns nothing from (every input constant), whose feature
    importance must say "no information"; ``None`` when the template refuses such data."""


CASES: dict[str, Case] = {
    "failure_prediction": Case(
        params={"n_estimators": 20, "cv_folds": 3},
        frame=partial(machine_conditions, n=800, seed=1),
        target="machine_failure",
        invalid=[("cv_folds", 1), ("max_interaction_inputs", "eight")],
        baselines=frozenset({"baseline_f1", "baseline_pr_auc", "baseline_accuracy"}),
        uninformative=partial(
            held_constant, partial(machine_conditions, n=800, seed=1), "machine_failure"
        ),
    ),
    "tabular_regression": Case(
        params={"n_estimators": 20},
        frame=partial(tool_life, n=300, seed=1),
        target="remaining_tool_life_min",
        invalid=[("learning_rate", 0.0), ("validation_fraction", 0.9)],
        baselines=frozenset({"baseline_rmse", "baseline_mae"}),
        uninformative=partial(
            held_constant, partial(tool_life, n=300, seed=1), "remaining_tool_life_min"
        ),
    ),
    "quality_classification": Case(
        params={"n_estimators": 20},
        frame=graded_tools,
        target="grade",
        invalid=[("num_leaves", 1), ("n_estimators", 0)],
        baselines=frozenset({"baseline_accuracy", "baseline_macro_f1"}),
        uninformative=partial(held_constant, graded_tools, "grade"),
    ),
    "anomaly_detection": Case(
        params={"contamination": 0.05},
        frame=pump_readings,
        target="anomaly",
        invalid=[("contamination", 0.0), ("contamination", 0.9)],
        baselines=frozenset({"baseline_pr_auc", "baseline_f1"}),
        uninformative=partial(held_constant, pump_readings, "anomaly"),
    ),
    "text_classification": Case(
        params={"max_features": 2000},
        frame=partial(maintenance_logs, n=300, seed=1),
        target="failure_mode",
        invalid=[("ngram_max", 4), ("c", -1.0)],
        baselines=frozenset({"baseline_accuracy", "baseline_macro_f1"}),
        importance_of_terms=True,
        uninformative=partial(
            held_constant, partial(maintenance_logs, n=300, seed=1), "failure_mode"
        ),
    ),
    "remaining_useful_life": Case(
        params={"n_estimators": 20, "windows": (5, 10), "truncations_per_unit": 3},
        frame=partial(run_to_failure, n_units=12, seed=1),
        target=None,
        invalid=[("windows", (1,)), ("drift_window", 0)],
        baselines=frozenset({"baseline_rmse", "baseline_rmse_last", "baseline_nasa_score"}),
        by_key=rul_by_unit,
        invalid_together={"unit_column": "engine", "setting_columns": ("engine",)},
    ),
    "demand_forecast": Case(
        params={
            "horizon": 5,
            "value_column": "units_produced",
            "n_estimators": 20,
            "learning_rate": 0.2,
            "max_train_rows": 1000,
        },
        frame=partial(production_series, n_series=4, length=80, seed=1),
        target=None,
        invalid=[("horizon", None), ("quantiles", (0.5, 1.5))],
        baselines=frozenset({"baseline_mase", "baseline_smape", "baseline_wql"}),
        by_key=forecast_by_series_step,
        uninformative=partial(
            held_constant,
            partial(production_series, n_series=4, length=80, seed=1),
            "series",
            "timestamp",
        ),
    ),
}
"""One case per template of the catalogue; ``test_contract_covers_the_whole_catalog``."""

KNOWN_DEFECTS: dict[tuple[str, str], str] = {}
"""(check, template) → the defect that makes the check fail today."""


def _known_defect(request: pytest.FixtureRequest, check: str, name: str) -> None:
    reason = KNOWN_DEFECTS.get((check, name))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def name(request: pytest.FixtureRequest) -> str:
    if request.param not in CASES:
        pytest.fail(
            f"Template {request.param!r} is in the catalogue but has no Case in "
            "tests/ml/test_template_contract.py: add one so the contract runs over it."
        )
    return str(request.param)


@pytest.fixture(scope="module")
def case(name: str) -> Case:
    return CASES[name]


@pytest.fixture(scope="module")
def frame(case: Case) -> pd.DataFrame:
    return case.frame()


@pytest.fixture(scope="module")
def fitted(name: str, case: Case, frame: pd.DataFrame) -> Template:
    return TEMPLATES[name](**case.params).fit(frame, case.target)


@pytest.fixture(scope="module")
def served(fitted: Template, frame: pd.DataFrame) -> Prediction:
    """What the serving path answers for ``frame``, asked to explain."""
    trained = fitted.to_trained_model()
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    predictor = get_runtime(trained.format).load(trained.artifact, signature)
    x = rows_to_matrix(_wire_rows(frame, signature), signature, model="the contract model")
    return predictor.predict(x, explain=True)


# --- helpers ------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _wire_rows(frame: pd.DataFrame, signature: Signature) -> list[dict[str, Any]]:
    """The frame's input columns as a client sends them: JSON rows, ISO 8601 times, nulls."""
    records = frame[signature.input_names].astype(object).to_dict(orient="records")
    rows = [{k: _json_value(v) for k, v in record.items()} for record in records]
    return json.loads(json.dumps(rows, allow_nan=False))  # type: ignore[no-any-return]


def _keyed(keys: list[dict[str, Any]] | None, values: np.ndarray) -> Keyed:
    assert keys is not None
    assert len(keys) == len(values)
    out = {tuple(sorted(k.items())): float(v) for k, v in zip(keys, values, strict=True)}
    assert len(out) == len(keys)  # every prediction is for something else
    return out


def _raw_score(template: Template, frame: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """What ``explain`` adds up to: the log-odds (or the predicted class's logit) of a
    classifier, else the prediction itself (``labels``)."""
    decision = getattr(template, "decision_function", None)
    if decision is None:
        return np.asarray(labels, dtype=np.float64)
    raw = np.asarray(decision(frame))
    if raw.ndim == 2:
        classes = list(template.signature_.classes or [])
        raw = raw[np.arange(len(raw)), [classes.index(label) for label in labels]]
    return raw


def _loads_and_predicts(fitted: Template, data: bytes, frame: pd.DataFrame) -> None:
    trained = fitted.to_trained_model()
    predictor = get_runtime(trained.format).load(data, trained.signature)
    x = rows_to_matrix(_wire_rows(frame, trained.signature), trained.signature)
    predictor.predict(x, explain=True)


def _refuse_nan(constant: str) -> float:
    raise AssertionError(f"the artifact holds {constant}, which is not JSON")


# --- parameters ---------------------------------------------------------------------------------


def test_contract_covers_the_whole_catalog() -> None:
    assert sorted(CASES) == sorted(TEMPLATES)
    for template_name, cls in TEMPLATES.items():
        assert cls.spec.name == template_name


def test_contract_init_defaults_are_the_spec_defaults(name: str) -> None:
    cls = TEMPLATES[name]
    init = {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    fields = cls.spec.params.model_fields
    assert list(init) == list(fields)
    for key, spec_field in fields.items():
        assert init[key].kind is inspect.Parameter.KEYWORD_ONLY, key
        if spec_field.is_required():  # "not given": refused by fit, named in the error
            assert init[key].default is None, key
        else:
            assert init[key].default == spec_field.get_default(call_default_factory=True), key
    assert cls().get_params() == {k: p.default for k, p in init.items()}


def test_contract_get_params_round_trips(name: str, case: Case) -> None:
    cls = TEMPLATES[name]
    template = cls(**case.params)
    params = template.get_params()
    assert list(params) == list(cls.spec.params.model_fields)
    for key, value in case.params.items():
        assert params[key] is value  # stored as given, validated only in fit
        assert getattr(template, key) is value
    assert cls(**params).get_params() == params
    cls.spec.params.model_validate(params)  # the case's parameters are valid ones
    assert repr(template).startswith(f"{cls.__name__}(")


def test_contract_unknown_parameter_is_refused_by_name(name: str, case: Case) -> None:
    cls = TEMPLATES[name]
    with pytest.raises(TypeError, match="no_such_parameter"):
        cls(**case.params, no_such_parameter=1)
    with pytest.raises(ValidationError) as caught:
        cls.spec.params.model_validate({**case.params, "no_such_parameter": 1})
    assert [e["loc"] for e in caught.value.errors()] == [("no_such_parameter",)]


def test_contract_invalid_parameter_raises_invalid_parameter_error(
    name: str, case: Case, frame: pd.DataFrame
) -> None:
    cls = TEMPLATES[name]
    for key, value in [*case.invalid, ("seed", -1)]:
        template = cls(**{**case.params, key: value})
        assert template.get_params()[key] == value  # the constructor takes it as given
        with pytest.raises(InvalidParameterError) as caught:
            template.fit(frame, case.target)
        assert caught.value.field == key
        assert caught.value.received == value
        assert key in str(caught.value)
        assert not hasattr(template, "signature_")  # nothing was learnt


@pytest.mark.parametrize(
    "template_name", sorted(n for n, c in CASES.items() if c.invalid_together is not None)
)
def test_contract_invalid_combination_names_a_parameter(
    request: pytest.FixtureRequest, template_name: str
) -> None:
    _known_defect(request, "invalid_together", template_name)
    case = CASES[template_name]
    assert case.invalid_together is not None
    template = TEMPLATES[template_name](**{**case.params, **case.invalid_together})
    with pytest.raises(InvalidParameterError) as caught:
        template.fit(case.frame(), case.target)
    assert caught.value.field in case.invalid_together
    assert caught.value.field in str(caught.value)
    received = caught.value.received
    assert {k: received[k] for k in case.invalid_together} == case.invalid_together


# --- fitting ------------------------------------------------------------------------------------


def test_contract_unfitted_raises_not_fitted(name: str, case: Case, frame: pd.DataFrame) -> None:
    template = TEMPLATES[name](**case.params)
    for call in (
        partial(template.predict, frame),
        partial(template.explain, frame),
        template.to_trained_model,
    ):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()


def test_contract_fit_returns_self_and_same_seed_gives_the_same_bytes(
    name: str, case: Case, frame: pd.DataFrame, fitted: Template
) -> None:
    template = TEMPLATES[name](**case.params)
    assert template.fit(frame, case.target) is template
    assert template.get_params() == TEMPLATES[name](**case.params).get_params()  # untouched
    again, first = template.to_trained_model(), fitted.to_trained_model()
    assert again.artifact == first.artifact
    assert again.metrics == first.metrics
    assert fitted.to_trained_model().artifact == first.artifact  # packaging is repeatable


def test_contract_trained_model_describes_the_model(
    name: str, case: Case, fitted: Template
) -> None:
    trained = fitted.to_trained_model()
    assert trained.template == name
    assert trained.format in RUNTIMES
    assert trained.signature == fitted.signature_
    assert trained.signature.task is fitted.spec.task
    assert Signature.model_validate_json(trained.signature.model_dump_json()) == trained.signature
    validated = fitted.spec.params.model_validate(fitted.get_params()).model_dump()
    assert {k: trained.params[k] for k in validated} == validated
    assert "target" in trained.params
    if case.target is not None:
        assert trained.params["target"] == case.target


def test_contract_metrics_are_finite_floats_with_their_baselines(
    case: Case, fitted: Template
) -> None:
    metrics = fitted.to_trained_model().metrics
    assert metrics
    for key, value in metrics.items():
        assert isinstance(key, str)
        assert type(value) is float, (key, type(value))
        assert math.isfinite(value), key
    assert case.baselines <= set(metrics)
    for key in metrics:
        if key.startswith("baseline_"):
            assert key.removeprefix("baseline_") in metrics, key
    json.dumps(metrics, allow_nan=False)


def test_contract_feature_importance_sums_to_one(case: Case, fitted: Template) -> None:
    trained = fitted.to_trained_model()
    importance = trained.feature_importance
    assert importance
    assert all(type(v) is float and v >= 0.0 for v in importance.values())
    assert sum(importance.values()) == pytest.approx(1.0)
    if case.importance_of_terms:
        classes = set(trained.signature.classes or [])
        assert all(k.partition(": ")[0] in classes for k in importance)
    else:
        assert set(importance) <= set(trained.signature.input_names)


def test_contract_feature_importance_is_all_zeros_without_information(
    name: str, case: Case
) -> None:
    """Data with nothing to learn give importance that says so: all zeros ("no information",
    ``TrainedModel.feature_importance``), never a made-up share such as a uniform one."""
    if case.uninformative is None:
        pytest.skip("the template refuses data it cannot learn from")
    fitted = TEMPLATES[name](**case.params).fit(case.uninformative(), case.target)
    trained = fitted.to_trained_model()
    importance = trained.feature_importance
    assert all(type(v) is float for v in importance.values())
    assert list(importance.values()) == [0.0] * len(importance)
    if not case.importance_of_terms:  # per term, no term is listed: none has a weight
        assert sorted(importance) == sorted(trained.signature.input_names)


def test_contract_feature_importance_is_largest_first(
    request: pytest.FixtureRequest, name: str, fitted: Template
) -> None:
    _known_defect(request, "importance_order", name)
    shares = list(fitted.to_trained_model().feature_importance.values())
    assert shares == sorted(shares, reverse=True)


# --- serving ------------------------------------------------------------------------------------


def test_contract_artifact_is_json_not_pickle(name: str, fitted: Template) -> None:
    trained = fitted.to_trained_model()
    assert not trained.artifact.startswith(b"\x80")  # every pickle protocol >= 2 starts so
    envelope = json.loads(trained.artifact.decode("utf-8"), parse_constant=_refuse_nan)
    assert isinstance(envelope, dict)
    assert envelope["maas_artifact"] == trained.format
    assert type(envelope["artifact_version"]) is int
    if trained.format == "template":
        assert envelope["template"] == name


def test_contract_served_predictions_equal_the_template(
    case: Case, fitted: Template, frame: pd.DataFrame, served: Prediction
) -> None:
    if case.by_key is not None:
        served_by_key = _keyed(served.keys, served.predictions)
        local = case.by_key(fitted, frame)
        assert sorted(served_by_key, key=repr) == sorted(local, key=repr)
        for key, value in local.items():
            assert served_by_key[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
        return
    assert served.keys is None
    local = fitted.predict(frame)
    assert served.predictions.shape == (len(frame),)
    if fitted.signature_.classes is not None:
        assert served.predictions.tolist() == local.tolist()
        assert set(local.tolist()) <= set(fitted.signature_.classes)
        assert served.probabilities is not None
        assert served.probabilities.shape == (len(frame), len(fitted.signature_.classes))
        np.testing.assert_allclose(served.probabilities, fitted.predict_proba(frame), rtol=1e-9)
    else:
        assert local.dtype == np.float64
        np.testing.assert_allclose(served.predictions, local, rtol=1e-9, atol=1e-9)


def test_contract_served_explanations_have_a_column_per_input(
    case: Case, fitted: Template, frame: pd.DataFrame, served: Prediction
) -> None:
    contributions = served.contributions
    assert contributions is not None
    width = len(fitted.signature_.inputs) + 1
    assert contributions.shape == (len(served.predictions), width)
    local = fitted.explain(frame)
    assert local.shape == contributions.shape
    if case.by_key is not None:
        local_keys = case.by_key(fitted, frame)  # keyed rows of the same frame, same order
        assert [tuple(sorted(k.items())) for k in served.keys or []] == list(local_keys)
    np.testing.assert_allclose(contributions, local, rtol=1e-7, atol=1e-9)


def test_contract_served_explanations_add_up_to_the_raw_score(
    case: Case, fitted: Template, frame: pd.DataFrame, served: Prediction
) -> None:
    if not case.additive:
        pytest.skip("this template does not promise additive explanations")
    assert served.contributions is not None
    raw = _raw_score(fitted, frame, served.predictions)
    assert raw.shape == (len(served.predictions),)
    np.testing.assert_allclose(served.contributions.sum(axis=1), raw, rtol=1e-6, atol=1e-6)


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "pickle": lambda data: b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94s.",
    "not utf-8": lambda data: b"\xff\xfe" + data,
    "not an object": lambda data: b"[" + data + b"]",
    "other format tag": lambda data: _edit(data, maas_artifact="onnx"),
    "future version": lambda data: _edit(data, artifact_version=99),
    "no payload": lambda data: _edit(data, state=None, booster=None),
}


def _edit(data: bytes, **changes: Any) -> bytes:
    envelope = json.loads(data)
    envelope.update({k: v for k, v in changes.items() if k in envelope})
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_contract_corrupted_artifact_is_refused(corruption: str, fitted: Template) -> None:
    trained = fitted.to_trained_model()
    data = CORRUPTIONS[corruption](trained.artifact)
    assert data != trained.artifact
    with pytest.raises(UnsupportedFormatError):
        get_runtime(trained.format).load(data, trained.signature)


def test_contract_artifact_of_an_unknown_template_is_refused(fitted: Template) -> None:
    trained = fitted.to_trained_model()
    if trained.format != "template":
        pytest.skip("only template artifacts name their template")
    data = _edit(trained.artifact, template="crystal_ball")
    with pytest.raises(UnsupportedFormatError):
        get_runtime(trained.format).load(data, trained.signature)


@pytest.mark.parametrize("change", ["one input fewer", "one input more"])
def test_contract_signature_that_does_not_fit_is_refused_at_load(
    change: str, fitted: Template
) -> None:
    """An uploaded artifact's signature is the caller's word: one that does not fit the model
    is refused when loading, not found out when predicting."""
    trained = fitted.to_trained_model()
    inputs = trained.signature.model_dump()["inputs"]
    if change == "one input fewer":
        if len(inputs) == 1:
            pytest.skip("a signature has at least one input")
        inputs = inputs[:-1]
    else:
        inputs = [*inputs, {"name": "not_in_the_model", "dtype": "float64"}]
    signature = Signature.model_validate({**trained.signature.model_dump(), "inputs": inputs})
    with pytest.raises(UnsupportedFormatError):
        get_runtime(trained.format).load(trained.artifact, signature)


def test_contract_mangled_state_is_refused_with_a_typed_error(
    request: pytest.FixtureRequest, name: str, case: Case, fitted: Template, frame: pd.DataFrame
) -> None:
    """Each part of the payload replaced by a value of the wrong type, or the payload handed to
    another template: loading and predicting either work or raise a ``MaasError``; never a
    ``KeyError``/``AttributeError``/... that the API would answer with a 500."""
    _known_defect(request, "mangled_state", name)
    trained = fitted.to_trained_model()
    envelope = json.loads(trained.artifact)
    if trained.format == "template":
        variants = [
            (f"state.{key}={bad!r}", {**envelope, "state": {**envelope["state"], key: bad}})
            for key in envelope["state"]
            for bad in ("x", None, [], {})
        ]
        variants += [
            (f"read as {other}", {**envelope, "template": other})
            for other in sorted(TEMPLATES)
            if other != name
        ]
    else:
        variants = [
            (f"{key}={bad!r}", {**envelope, key: bad})
            for key in ("booster", "classes", "task", "threshold")
            for bad in ("x", None, [], {})
        ]
    sample = frame if case.by_key is not None else frame.head(50)  # groups need their rows
    crashes = []
    for label, variant in variants:
        try:
            _loads_and_predicts(fitted, json.dumps(copy.deepcopy(variant)).encode(), sample)
        except MaasError:
            continue
        except Exception as exc:  # noqa: BLE001 - what is not a MaasError is what we look for
            crashes.append(f"{label}: {type(exc).__name__}: {exc}")
    assert crashes == []
