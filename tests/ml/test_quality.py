"""Quality classification: the template contract on synthetic moulding data, and its metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from maas.domain.signature import Signature
from maas.errors import InvalidParameterError, NotFittedError, SchemaMismatchError
from maas.ml.features import encode_frame
from maas.ml.templates.catalog import get_template
from maas.ml.templates.quality import QualityClassification
from maas.runtimes.lightgbm import LightGBMRuntime

SMALL = {"n_estimators": 40}
DEFECTS = ["flash", "ok", "short_shot", "sink_mark"]


def moulded_parts(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Injection-moulding shots and the defect each part came out with.

    Too little pressure for the melt's temperature gives short shots, too much gives flash,
    too short a cooling for the wall gives sink marks; 5% of the labels are noise.
    """
    rng = np.random.default_rng(seed)
    melt = np.round(rng.normal(230.0, 12.0, n), 1)
    pressure = np.round(rng.normal(900.0, 90.0, n), 0)
    cooling = np.round(rng.uniform(8.0, 20.0, n), 1)
    wall = np.round(rng.uniform(1.5, 4.0, n), 2)
    mould = rng.choice(["A", "B", "C"], size=n)
    fill = pressure / 900.0 + (melt - 230.0) / 60.0
    defect = np.full(n, "ok", dtype=object)
    defect[cooling < 3.5 * wall] = "sink_mark"
    defect[fill < 0.85] = "short_shot"
    defect[fill > 1.2] = "flash"
    noise = rng.random(n) < 0.05
    defect[noise] = rng.choice(DEFECTS, size=int(noise.sum()))
    return pd.DataFrame(
        {
            "melt_temperature_c": melt,
            "injection_pressure_bar": pressure,
            "cooling_time_s": cooling,
            "wall_thickness_mm": wall,
            "mould": pd.Categorical(mould),
            "defect": defect,
        }
    )


@pytest.fixture(scope="module")
def parts() -> pd.DataFrame:
    return moulded_parts()


@pytest.fixture(scope="module")
def fitted(parts: pd.DataFrame) -> QualityClassification:
    return QualityClassification(**SMALL).fit(parts)


@pytest.fixture(scope="module")
def pass_fail(parts: pd.DataFrame) -> pd.DataFrame:
    return parts.assign(defect=np.where(parts["defect"] == "ok", "pass", "fail"))


def test_quality_classification_is_in_the_catalog() -> None:
    assert get_template("quality_classification") is QualityClassification


def test_quality_classification_fit_returns_self(parts: pd.DataFrame) -> None:
    template = QualityClassification(**SMALL)
    assert template.fit(parts) is template
    assert template.classes_ == DEFECTS


def test_quality_classification_unfitted_raises_not_fitted(parts: pd.DataFrame) -> None:
    template = QualityClassification()
    for call in (
        lambda: template.predict(parts),
        lambda: template.explain(parts),
        template.to_trained_model,
    ):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()


def test_quality_classification_reports_class_metrics(fitted: QualityClassification) -> None:
    metrics = fitted.to_trained_model().metrics
    assert metrics["macro_f1"] > metrics["baseline_macro_f1"]
    assert metrics["accuracy"] > metrics["baseline_accuracy"]
    assert metrics["accuracy"] > 0.8
    assert {f"recall.{c}" for c in DEFECTS} <= set(metrics)
    confusion = sum(metrics[f"confusion.{t}.{p}"] for t in DEFECTS for p in DEFECTS)
    assert confusion == metrics["n_validation"] == 160
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert "threshold" not in metrics


def test_quality_classification_loads_with_the_same_predictions(
    fitted: QualityClassification, parts: pd.DataFrame
) -> None:
    trained = fitted.to_trained_model()
    assert trained.format == "lightgbm"
    assert not trained.artifact.startswith(b"\x80")
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    served = LightGBMRuntime().load(trained.artifact, signature)
    prediction = served.predict(encode_frame(parts, signature), explain=True)
    assert prediction.predictions.tolist() == fitted.predict(parts).tolist()
    np.testing.assert_allclose(prediction.probabilities, fitted.predict_proba(parts))
    np.testing.assert_allclose(prediction.contributions, fitted.explain(parts))


def test_quality_classification_same_seed_gives_the_same_bytes(
    fitted: QualityClassification, parts: pd.DataFrame
) -> None:
    again = QualityClassification(**SMALL).fit(parts).to_trained_model().artifact
    assert again == fitted.to_trained_model().artifact
    other = QualityClassification(**SMALL, seed=3).fit(parts).to_trained_model().artifact
    assert other != again


def test_quality_classification_explanations_add_up(
    fitted: QualityClassification, parts: pd.DataFrame
) -> None:
    contributions = fitted.explain(parts)
    assert contributions.shape == (len(parts), 5 + 1)
    chosen = np.searchsorted(fitted.classes_, fitted.predict(parts))
    raw = fitted.decision_function(parts)[np.arange(len(parts)), chosen]
    np.testing.assert_allclose(contributions.sum(axis=1), raw, atol=1e-9)


def test_quality_classification_pass_fail_tunes_a_threshold(pass_fail: pd.DataFrame) -> None:
    template = QualityClassification(**SMALL).fit(pass_fail)
    assert template.classes_ == ["fail", "pass"]
    assert 0.0 < template.threshold_ < 1.0
    p = template.predict_proba(pass_fail)[:, 1]
    expected = np.where(p >= template.threshold_, "pass", "fail")
    assert template.predict(pass_fail).tolist() == expected.tolist()
    trained = template.to_trained_model()
    assert json.loads(trained.artifact)["threshold"] == template.threshold_
    assert trained.metrics["threshold"] == template.threshold_
    np.testing.assert_allclose(
        template.explain(pass_fail).sum(axis=1), template.decision_function(pass_fail), atol=1e-9
    )


def test_quality_classification_predict_names_a_missing_column(
    fitted: QualityClassification, parts: pd.DataFrame
) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.predict(parts.drop(columns="cooling_time_s"))
    error = caught.value
    assert (error.field, error.expected, error.received) == ("cooling_time_s", "float64", "nothing")


def test_quality_classification_predict_rejects_text_in_a_number(
    fitted: QualityClassification, parts: pd.DataFrame
) -> None:
    bad = parts.head(2).astype({"melt_temperature_c": object})
    bad.loc[bad.index[0], "melt_temperature_c"] = "hot"
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.predict(bad)
    assert (caught.value.field, caught.value.expected) == ("melt_temperature_c", "float64")


def test_quality_classification_predict_rejects_an_unknown_mould(
    fitted: QualityClassification, parts: pd.DataFrame
) -> None:
    bad = parts.head(2).astype({"mould": object})
    bad.loc[bad.index[0], "mould"] = "Z"
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.predict(bad)
    assert (caught.value.field, caught.value.received) == ("mould", "Z")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"num_leaves": 1}, "num_leaves"), ({"validation_fraction": 0.9}, "validation_fraction")],
)
def test_quality_classification_rejects_invalid_params(
    parts: pd.DataFrame, params: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        QualityClassification(**params).fit(parts)
    assert (caught.value.field, caught.value.received) == (field, params[field])


def test_quality_classification_rejects_a_single_class(parts: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        QualityClassification().fit(parts.assign(defect="ok"))
    assert (caught.value.field, caught.value.received) == ("defect", "1 classes")
