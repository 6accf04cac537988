"""Anomaly detection: the template contract on synthetic sensor rows, scores and contributions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from maas.domain.signature import Signature, Task
from maas.errors import (
    InvalidParameterError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.ml.features import encode_frame
from maas.ml.templates.anomaly import AnomalyDetection
from maas.ml.templates.catalog import get_template
from maas.runtimes.template import TemplateRuntime

SENSORS = ["flow_l_min", "pressure_bar", "temperature_c", "vibration_mm_s"]


def pump_readings(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Pump sensor rows; 2% anomalies: pressure off its flow (a leak) or a vibration burst."""
    rng = np.random.default_rng(seed)
    flow = rng.normal(50.0, 5.0, n)
    pressure = 0.2 * flow + rng.normal(0.0, 0.3, n)
    temperature = rng.normal(60.0, 2.0, n)
    vibration = rng.gamma(4.0, 0.5, n)
    anomaly = np.zeros(n, dtype=np.int64)
    rows = rng.choice(n, size=n // 50, replace=False)
    anomaly[rows] = 1
    leak, burst = rows[: len(rows) // 2], rows[len(rows) // 2 :]
    pressure[leak] -= 2.5  # within the pressure's range, but not for that flow
    vibration[burst] += 8.0
    return pd.DataFrame(
        {
            "flow_l_min": flow.round(2),
            "pressure_bar": pressure.round(3),
            "temperature_c": temperature.round(2),
            "vibration_mm_s": vibration.round(3),
            "anomaly": anomaly,
        }
    )


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    return pump_readings()


@pytest.fixture(scope="module")
def fitted(readings: pd.DataFrame) -> AnomalyDetection:
    return AnomalyDetection(contamination=0.02).fit(readings, target="anomaly")


def test_anomaly_detection_is_in_the_catalog() -> None:
    assert get_template("anomaly_detection") is AnomalyDetection


def test_anomaly_detection_fit_returns_self(readings: pd.DataFrame) -> None:
    template = AnomalyDetection()
    assert template.fit(readings.drop(columns="anomaly")) is template
    assert template.signature_.task is Task.ANOMALY
    assert template.signature_.input_names == SENSORS


def test_anomaly_detection_unfitted_raises_not_fitted(readings: pd.DataFrame) -> None:
    template = AnomalyDetection()
    for call in (
        lambda: template.predict(readings),
        lambda: template.explain(readings),
        template.to_trained_model,
    ):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()


def test_anomaly_detection_finds_the_anomalies(fitted: AnomalyDetection) -> None:
    metrics = fitted.to_trained_model().metrics
    assert metrics["roc_auc"] > 0.95
    assert metrics["pr_auc"] > 10 * metrics["baseline_pr_auc"]
    assert metrics["f1"] > metrics["baseline_f1"]
    assert metrics["confusion.1.1"] + metrics["confusion.1.0"] == 8  # 2% of 400 rows
    assert metrics["anomaly_rate"] == pytest.approx(0.02, abs=0.02)
    assert metrics["threshold"] == fitted.model_.threshold


def test_anomaly_detection_flags_a_broken_correlation(fitted: AnomalyDetection) -> None:
    normal = {"flow_l_min": 50.0, "temperature_c": 60.0, "vibration_mm_s": 2.0}
    frame = pd.DataFrame([{**normal, "pressure_bar": 10.0}, {**normal, "pressure_bar": 7.5}])
    assert fitted.is_anomaly(frame).tolist() == [False, True]
    contributions = fitted.explain(frame)
    assert int(np.argmax(contributions[1, :-1])) in (0, 1)  # flow and pressure carry it


def test_anomaly_detection_flags_the_contamination_share_of_training_rows(
    readings: pd.DataFrame,
) -> None:
    clean = readings[readings["anomaly"] == 0].drop(columns="anomaly")
    template = AnomalyDetection(contamination=0.05).fit(clean)
    assert template.metrics_["anomaly_rate"] == pytest.approx(0.05, abs=0.03)
    assert "roc_auc" not in template.metrics_


def test_anomaly_detection_loads_with_the_same_scores(
    fitted: AnomalyDetection, readings: pd.DataFrame
) -> None:
    trained = fitted.to_trained_model()
    assert trained.format == "template"
    assert json.loads(trained.artifact)["template"] == "anomaly_detection"
    signature = Signature.model_validate_json(trained.signature.model_dump_json())
    served = TemplateRuntime().load(trained.artifact, signature)
    prediction = served.predict(encode_frame(readings, signature), explain=True)
    np.testing.assert_array_equal(prediction.predictions, fitted.predict(readings))
    np.testing.assert_array_equal(prediction.contributions, fitted.explain(readings))
    assert prediction.probabilities is None


def test_anomaly_detection_same_data_gives_the_same_bytes(
    fitted: AnomalyDetection, readings: pd.DataFrame
) -> None:
    again = AnomalyDetection(contamination=0.02).fit(readings, target="anomaly")
    assert again.to_trained_model().artifact == fitted.to_trained_model().artifact
    other = AnomalyDetection(contamination=0.02, seed=1).fit(readings, target="anomaly")
    assert other.to_trained_model().artifact != again.to_trained_model().artifact


def test_anomaly_detection_contributions_add_up_to_the_score(
    fitted: AnomalyDetection, readings: pd.DataFrame
) -> None:
    contributions = fitted.explain(readings)
    assert contributions.shape == (len(readings), len(SENSORS) + 1)
    assert (contributions[:, -1] == 0.0).all()
    np.testing.assert_allclose(contributions.sum(axis=1), fitted.predict(readings), rtol=1e-9)


def test_anomaly_detection_importance_names_the_anomalous_sensors(
    fitted: AnomalyDetection,
) -> None:
    importance = fitted.to_trained_model().feature_importance
    assert set(importance) == set(SENSORS)
    assert sum(importance.values()) == pytest.approx(1.0)
    assert importance["temperature_c"] < importance["vibration_mm_s"]


def test_anomaly_detection_missing_reading_adds_nothing(readings: pd.DataFrame) -> None:
    frame = readings.drop(columns="anomaly").astype(float)
    frame.loc[frame.index[0], "temperature_c"] = np.nan
    template = AnomalyDetection().fit(frame)
    assert template.signature_.inputs[2].nullable
    assert template.explain(frame.head(1))[0, 2] == 0.0


def test_anomaly_detection_rejects_a_category(readings: pd.DataFrame) -> None:
    frame = readings.assign(line=np.where(readings.index % 2 == 0, "east", "west"))
    with pytest.raises(SchemaMismatchError) as caught:
        AnomalyDetection().fit(frame, target="anomaly")
    error = caught.value
    assert (error.field, error.expected, error.received) == (
        "line",
        "numeric or boolean",
        "category",
    )


def test_anomaly_detection_predict_names_a_missing_sensor(
    fitted: AnomalyDetection, readings: pd.DataFrame
) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        fitted.predict(readings.drop(columns="pressure_bar"))
    assert (caught.value.field, caught.value.received) == ("pressure_bar", "nothing")


def test_anomaly_detection_served_rejects_the_wrong_width(fitted: AnomalyDetection) -> None:
    predictor = AnomalyDetection.from_state(fitted.model_.to_state(), fitted.signature_)
    with pytest.raises(SchemaMismatchError) as caught:
        predictor.predict_matrix(np.zeros((1, 3), dtype=np.float32))
    assert (caught.value.field, caught.value.expected) == ("inputs", "(n, 4)")


def test_anomaly_detection_state_is_checked_on_load(fitted: AnomalyDetection) -> None:
    state = {**fitted.model_.to_state(), "precision": [[1.0]]}
    with pytest.raises(UnsupportedFormatError) as caught:
        AnomalyDetection.from_state(state, fitted.signature_)
    assert caught.value.field == "state"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"contamination": 0.0}, "contamination"),
        ({"validation_fraction": 0.01}, "validation_fraction"),
    ],
)
def test_anomaly_detection_rejects_invalid_params(
    readings: pd.DataFrame, params: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AnomalyDetection(**params).fit(readings, target="anomaly")
    assert (caught.value.field, caught.value.received) == (field, params[field])


def test_anomaly_detection_rejects_labels_that_are_not_two_values(readings: pd.DataFrame) -> None:
    frame = readings.assign(anomaly=readings.index % 3)
    with pytest.raises(InvalidParameterError) as caught:
        AnomalyDetection().fit(frame, target="anomaly")
    assert (caught.value.field, caught.value.received) == ("anomaly", "3 values")


def test_anomaly_detection_rejects_too_few_labelled_anomalies(readings: pd.DataFrame) -> None:
    frame = readings.assign(anomaly=0)
    frame.loc[frame.index[:2], "anomaly"] = 1
    with pytest.raises(InvalidParameterError, match="at least 5") as caught:
        AnomalyDetection().fit(frame, target="anomaly")
    assert caught.value.field == "anomaly"


def test_anomaly_detection_uses_the_rarer_label_as_the_anomaly(readings: pd.DataFrame) -> None:
    frame = readings.assign(anomaly=np.where(readings["anomaly"] == 1, "alarm", "normal"))
    template = AnomalyDetection(contamination=0.02).fit(frame, target="anomaly")
    assert template.metrics_["roc_auc"] > 0.95
