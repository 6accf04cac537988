"""Text classification: the template contract on synthetic maintenance logs, and its terms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split

from maas.domain.signature import ColumnType, Signature
from maas.errors import (
    InvalidParameterError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.ml.synthetic import maintenance_logs
from maas.ml.templates.catalog import get_template
from maas.ml.templates.text import WORD_PATTERN, TextClassification
from maas.runtimes.template import TemplateRuntime

MODES = ["bearing", "electrical", "hydraulic", "overheating", "tool_wear"]


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return maintenance_logs(n=600, seed=0)


@pytest.fixture(scope="module")
def fitted(logs: pd.DataFrame) -> TextClassification:
    return TextClassification().fit(logs)


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[["log_text"]].to_numpy(dtype=object)


def test_maintenance_logs_are_seeded_text_with_modes() -> None:
    logs = maintenance_logs(n=50, seed=3)
    assert list(logs.columns) == ["log_text", "failure_mode"]
    assert set(logs["failure_mode"]) <= set(MODES)
    assert all(isinstance(t, str) and ": " in t for t in logs["log_text"])
    assert logs.equals(maintenance_logs(n=50, seed=3))
    assert not logs.equals(maintenance_logs(n=50, seed=4))


def test_maintenance_logs_rejects_no_rows() -> None:
    with pytest.raises(InvalidParameterError):
        maintenance_logs(n=0)


def test_text_classification_is_in_the_catalog() -> None:
    assert get_template("text_classification") is TextClassification


def test_text_classification_fit_returns_self(logs: pd.DataFrame) -> None:
    template = TextClassification()
    assert template.fit(logs) is template
    assert template.classes_ == MODES
    (column,) = template.signature_.inputs
    assert (column.name, column.dtype) == ("log_text", ColumnType.STRING)


def test_text_classification_unfitted_raises_not_fitted(logs: pd.DataFrame) -> None:
    template = TextClassification()
    for call in (
        lambda: template.predict(logs),
        lambda: template.explain(logs),
        lambda: template.explain_terms(logs),
        template.to_trained_model,
    ):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()


def test_text_classification_beats_the_majority_class(fitted: TextClassification) -> None:
    metrics = fitted.metrics_
    assert metrics["accuracy"] > 0.85 > metrics["baseline_accuracy"]
    assert metrics["macro_f1"] > metrics["baseline_macro_f1"]
    assert {f"recall.{m}" for m in MODES} <= set(metrics)
    assert sum(metrics[f"confusion.{t}.{p}"] for t in MODES for p in MODES) == 120


def test_text_classification_transform_matches_scikit_learn(
    fitted: TextClassification, logs: pd.DataFrame
) -> None:
    texts = logs["log_text"].tolist()
    train, _ = train_test_split(
        np.arange(len(logs)), test_size=0.2, random_state=0, stratify=logs["failure_mode"]
    )
    reference = TfidfVectorizer(
        token_pattern=WORD_PATTERN, ngram_range=(1, 2), min_df=2, sublinear_tf=True
    ).fit([texts[i] for i in train])
    ours = fitted.model_
    assert ours.vocabulary == list(reference.get_feature_names_out())
    np.testing.assert_allclose(ours.idf, reference.idf_)
    probes = [*texts[:50], "", "BEARING!! bearing, Bearing", "unseen words only"]
    np.testing.assert_allclose(
        ours.transform(probes).toarray(), reference.transform(probes).toarray(), atol=1e-12
    )


def test_text_classification_loads_with_the_same_predictions(
    fitted: TextClassification, logs: pd.DataFrame
) -> None:
    trained = fitted.to_trained_model()
    envelope = json.loads(trained.artifact)
    assert (trained.format, envelope["template"]) == ("template", "text_classification")
    assert set(envelope["state"]) >= {"vocabulary", "idf", "coef", "intercept", "classes"}
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    served = TemplateRuntime().load(trained.artifact, signature)
    prediction = served.predict(_matrix(logs), explain=True)
    assert prediction.predictions.tolist() == fitted.predict(logs).tolist()
    np.testing.assert_array_equal(prediction.probabilities, fitted.predict_proba(logs))
    np.testing.assert_array_equal(prediction.contributions, fitted.explain(logs))


def test_text_classification_same_seed_gives_the_same_bytes(
    fitted: TextClassification, logs: pd.DataFrame
) -> None:
    assert TextClassification().fit(logs).to_trained_model().artifact == (
        fitted.to_trained_model().artifact
    )
    other = TextClassification(seed=1).fit(logs).to_trained_model().artifact
    assert other != fitted.to_trained_model().artifact


def test_text_classification_explanations_add_up(
    fitted: TextClassification, logs: pd.DataFrame
) -> None:
    contributions = fitted.explain(logs)
    assert contributions.shape == (len(logs), 2)
    chosen = np.searchsorted(fitted.classes_, fitted.predict(logs))
    logits = fitted.decision_function(logs)[np.arange(len(logs)), chosen]
    np.testing.assert_allclose(contributions.sum(axis=1), logits, atol=1e-12)
    terms = fitted.explain_terms(logs.head(5), top=1000)
    np.testing.assert_allclose([sum(t.values()) for t in terms], contributions[:5, 0], atol=1e-12)


def test_text_classification_names_the_terms_of_a_prediction(
    fitted: TextClassification,
) -> None:
    frame = pd.DataFrame({"log_text": ["press 3: oil leak at hydraulic cylinder, ticket closed"]})
    assert fitted.predict(frame).tolist() == ["hydraulic"]
    (terms,) = fitted.explain_terms(frame, top=3)
    assert len(terms) == 3
    assert {"hydraulic", "oil", "leak", "cylinder", "oil leak"} & set(terms)
    assert all(v > 0 for v in terms.values())


def test_text_classification_lists_the_top_terms_per_class(fitted: TextClassification) -> None:
    assert set(fitted.top_terms_) == set(MODES)
    bearing = [term for term, _ in fitted.top_terms_["bearing"]]
    assert "bearing" in bearing[:3]
    importance = fitted.to_trained_model().feature_importance
    assert "bearing: bearing" in importance
    assert sum(importance.values()) == pytest.approx(1.0)


def test_text_classification_binary_scores_log_odds(logs: pd.DataFrame) -> None:
    two = logs[logs["failure_mode"].isin(["bearing", "hydraulic"])]
    template = TextClassification().fit(two)
    proba = template.predict_proba(two)
    np.testing.assert_allclose(
        template.decision_function(two), np.log(proba[:, 1] / proba[:, 0]), atol=1e-9
    )
    np.testing.assert_allclose(
        template.explain(two).sum(axis=1), template.decision_function(two), atol=1e-12
    )
    assert [t for t, _ in template.top_terms_["hydraulic"]][0] == "hydraulic"


def test_text_classification_missing_text_is_empty(fitted: TextClassification) -> None:
    frame = pd.DataFrame({"log_text": [None, ""]})
    predictions = fitted.predict(frame)
    assert predictions[0] == predictions[1]


def test_text_classification_rejects_numbers_as_text(fitted: TextClassification) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.predict(pd.DataFrame({"log_text": ["fine", 42]}))
    error = caught.value
    assert (error.field, error.expected, error.received) == ("log_text", "text", "int")


def test_text_classification_predict_names_the_missing_column(
    fitted: TextClassification,
) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.predict(pd.DataFrame({"note": ["x"]}))
    assert (caught.value.field, caught.value.received) == ("log_text", "nothing")


def test_text_classification_served_rejects_a_non_string(fitted: TextClassification) -> None:
    predictor = TextClassification.from_state(fitted.model_.to_state(), fitted.signature_)
    with pytest.raises(SchemaMismatchError) as caught:
        predictor.predict_matrix(np.asarray([["ok"], [3]], dtype=object))
    assert (caught.value.field, caught.value.received) == ("inputs[1]", "int")


def test_text_classification_state_is_checked_on_load(fitted: TextClassification) -> None:
    state = {**fitted.model_.to_state(), "idf": [1.0]}
    with pytest.raises(UnsupportedFormatError) as caught:
        TextClassification.from_state(state, fitted.signature_)
    assert caught.value.field == "state"


def test_text_classification_takes_exactly_one_text_column(logs: pd.DataFrame) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        TextClassification().fit(logs.assign(asset=1))
    assert (caught.value.field, caught.value.expected) == ("features", "one text column")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"ngram_max": 4}, "ngram_max"), ({"c": 0}, "c"), ({"min_df": 1000}, "min_df")],
)
def test_text_classification_rejects_invalid_params(
    logs: pd.DataFrame, params: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        TextClassification(**params).fit(logs)
    assert (caught.value.field, caught.value.received) == (field, params[field])
