"""The LightGBM and ONNX runtimes: round trips, refusals, explanations, and the catalog."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import EntryPoint

import lightgbm as lgb
import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from maas.domain.signature import Column, ColumnType, Signature, Task
from maas.errors import (
    InvalidParameterError,
    ModelExecutionError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.runtimes.base import Predictor, Runtime
from maas.runtimes.catalog import RUNTIMES, discover_runtimes, get_runtime
from maas.runtimes.lightgbm import LightGBMRuntime, dump_lightgbm_artifact
from maas.runtimes.onnx import OnnxRuntime

N_FEATURES = 4


def _numeric_signature(task: Task = Task.REGRESSION, classes: list[str] | None = None) -> Signature:
    return Signature(
        inputs=[Column(name=f"f{i}") for i in range(N_FEATURES)], task=task, classes=classes
    )


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, N_FEATURES)).astype(np.float32)
    score = x[:, 0] + 0.5 * x[:, 1] * x[:, 2]
    return x, score


def _train(x: np.ndarray, y: np.ndarray, **params: object) -> lgb.Booster:
    params = {"verbose": -1, "num_threads": 1, "deterministic": True, **params}
    return lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=20)


@pytest.fixture(scope="module")
def binary(data: tuple[np.ndarray, np.ndarray]) -> lgb.Booster:
    x, score = data
    return _train(x, (score > 0).astype(int), objective="binary")


@pytest.fixture(scope="module")
def multiclass(data: tuple[np.ndarray, np.ndarray]) -> lgb.Booster:
    x, score = data
    return _train(x, np.digitize(score, [-0.5, 0.5]), objective="multiclass", num_class=3)


@pytest.fixture(scope="module")
def regression(data: tuple[np.ndarray, np.ndarray]) -> lgb.Booster:
    x, score = data
    return _train(x, score, objective="regression")


def _load_binary(booster: lgb.Booster, threshold: float | None = 0.5) -> Predictor:
    artifact = dump_lightgbm_artifact(
        booster, task="classification", classes=["ok", "fail"], threshold=threshold
    )
    return LightGBMRuntime().load(artifact, _numeric_signature(Task.CLASSIFICATION, ["ok", "fail"]))


# --- LightGBM ---------------------------------------------------------------------------------


def test_lightgbm_runtime_is_a_runtime() -> None:
    assert isinstance(LightGBMRuntime(), Runtime)
    assert LightGBMRuntime.format == "lightgbm"


def test_lightgbm_binary_round_trip(
    binary: lgb.Booster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = data
    predictor = _load_binary(binary, threshold=0.3)
    assert isinstance(predictor, Predictor)
    result = predictor.predict(x)
    p = binary.predict(x)
    np.testing.assert_allclose(result.probabilities, np.column_stack([1 - p, p]))
    expected = np.where(p >= 0.3, "fail", "ok")
    assert result.predictions.tolist() == expected.tolist()
    assert result.contributions is None


def test_lightgbm_threshold_decides_the_label(
    binary: lgb.Booster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = data
    low = _load_binary(binary, threshold=0.05).predict(x).predictions
    high = _load_binary(binary, threshold=0.95).predict(x).predictions
    assert (low == "fail").sum() > (high == "fail").sum()


def test_lightgbm_binary_contributions_sum_to_raw_score(
    binary: lgb.Booster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = data
    result = _load_binary(binary).predict(x, explain=True)
    assert result.contributions is not None
    assert result.contributions.shape == (len(x), N_FEATURES + 1)
    np.testing.assert_allclose(
        result.contributions.sum(axis=1), binary.predict(x, raw_score=True), atol=1e-9
    )


def test_lightgbm_multiclass_round_trip_explains_the_predicted_class(
    multiclass: lgb.Booster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = data
    classes = ["low", "mid", "high"]
    artifact = dump_lightgbm_artifact(
        multiclass, task=Task.CLASSIFICATION, classes=classes, threshold=None
    )
    signature = _numeric_signature(Task.CLASSIFICATION, classes)
    result = LightGBMRuntime().load(artifact, signature).predict(x, explain=True)
    probabilities = multiclass.predict(x)
    np.testing.assert_allclose(result.probabilities, probabilities)
    chosen = probabilities.argmax(axis=1)
    assert result.predictions.tolist() == [classes[i] for i in chosen]
    raw = multiclass.predict(x, raw_score=True)[np.arange(len(x)), chosen]
    assert result.contributions.shape == (len(x), N_FEATURES + 1)
    np.testing.assert_allclose(result.contributions.sum(axis=1), raw, atol=1e-9)


def test_lightgbm_regression_round_trip(
    regression: lgb.Booster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = data
    artifact = dump_lightgbm_artifact(regression, task="regression", classes=None, threshold=None)
    result = LightGBMRuntime().load(artifact, _numeric_signature()).predict(x, explain=True)
    np.testing.assert_allclose(result.predictions, regression.predict(x))
    assert result.probabilities is None
    np.testing.assert_allclose(result.contributions.sum(axis=1), result.predictions, atol=1e-9)


def test_lightgbm_artifact_is_json_text(regression: lgb.Booster) -> None:
    artifact = dump_lightgbm_artifact(regression, task="regression", classes=None, threshold=None)
    envelope = json.loads(artifact.decode("utf-8"))
    assert envelope["maas_artifact"] == "lightgbm"
    assert envelope["artifact_version"] == 1
    assert envelope["booster"] == regression.model_to_string()
    assert envelope["library_versions"]["lightgbm"] == lgb.__version__


def test_lightgbm_predict_handles_an_empty_batch(binary: lgb.Booster) -> None:
    result = _load_binary(binary).predict(np.empty((0, N_FEATURES), np.float32), explain=True)
    assert result.predictions.shape == (0,)
    assert result.probabilities.shape == (0, 2)
    assert result.contributions.shape == (0, N_FEATURES + 1)


def test_lightgbm_predict_keeps_missing_values(binary: lgb.Booster) -> None:
    x = np.full((2, N_FEATURES), np.nan, dtype=np.float32)
    result = _load_binary(binary).predict(x)
    assert np.isfinite(result.probabilities).all()


def test_lightgbm_predict_rejects_the_wrong_width(binary: lgb.Booster) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        _load_binary(binary).predict(np.zeros((3, N_FEATURES + 1), np.float32))
    assert caught.value.field == "inputs"


def test_lightgbm_predict_rejects_text(binary: lgb.Booster) -> None:
    x = np.array([["a"] * N_FEATURES], dtype=object)
    with pytest.raises(SchemaMismatchError):
        _load_binary(binary).predict(x)


def test_lightgbm_predict_is_thread_safe(
    multiclass: lgb.Booster, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = data
    classes = ["low", "mid", "high"]
    artifact = dump_lightgbm_artifact(
        multiclass, task="classification", classes=classes, threshold=None
    )
    predictor = LightGBMRuntime().load(artifact, _numeric_signature(Task.CLASSIFICATION, classes))
    expected = predictor.predict(x, explain=True)
    batches = [x[i : i + 7] for i in range(0, len(x), 7)] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda b: predictor.predict(b, explain=True), batches))
    got = np.concatenate([r.probabilities for r in results[: len(results) // 4]])
    np.testing.assert_array_equal(got, expected.probabilities)
    contributions = np.concatenate([r.contributions for r in results[-(len(results) // 4) :]])
    np.testing.assert_array_equal(contributions, expected.contributions)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(np.random.default_rng(1).bytes(512), id="random-bytes"),
        pytest.param(pickle.dumps({"maas_artifact": "lightgbm"}), id="pickle"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="json-list"),
        pytest.param(b'{"maas_artifact": "onnx"}', id="other-tag"),
    ],
)
def test_lightgbm_load_refuses_what_is_not_an_envelope(data: bytes) -> None:
    with pytest.raises(UnsupportedFormatError):
        LightGBMRuntime().load(data, _numeric_signature())


def _envelope(booster: lgb.Booster, changes: dict[str, object]) -> bytes:
    envelope = json.loads(
        dump_lightgbm_artifact(booster, task="regression", classes=None, threshold=None)
    )
    return json.dumps({**envelope, **changes}).encode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"artifact_version": 2}, "artifact_version"),
        ({"task": "forecast"}, "task"),
        ({"classes": ["a"]}, "classes"),
        ({"threshold": 0.5}, "threshold"),
        ({"booster": "tree\nversion=v4\n"}, "booster"),
        ({"booster": 12}, "booster"),
    ],
)
def test_lightgbm_load_refuses_a_broken_envelope(
    regression: lgb.Booster, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        LightGBMRuntime().load(_envelope(regression, changes), _numeric_signature())
    assert caught.value.field == field


def test_lightgbm_load_refuses_a_signature_with_other_inputs(regression: lgb.Booster) -> None:
    artifact = dump_lightgbm_artifact(regression, task="regression", classes=None, threshold=None)
    signature = Signature(inputs=[Column(name="only")])
    with pytest.raises(UnsupportedFormatError) as caught:
        LightGBMRuntime().load(artifact, signature)
    assert (caught.value.field, caught.value.expected, caught.value.received) == ("inputs", 4, 1)


def test_lightgbm_load_refuses_a_signature_with_other_classes(binary: lgb.Booster) -> None:
    artifact = dump_lightgbm_artifact(
        binary, task="classification", classes=["0", "1"], threshold=None
    )
    with pytest.raises(UnsupportedFormatError) as caught:
        LightGBMRuntime().load(artifact, _numeric_signature(Task.CLASSIFICATION, ["no", "yes"]))
    assert caught.value.field == "classes"


def test_lightgbm_load_refuses_a_regressor_posing_as_classifier(regression: lgb.Booster) -> None:
    artifact = dump_lightgbm_artifact(
        regression, task="classification", classes=["0", "1"], threshold=None
    )
    with pytest.raises(UnsupportedFormatError) as caught:
        LightGBMRuntime().load(artifact, _numeric_signature(Task.CLASSIFICATION, ["0", "1"]))
    assert caught.value.field == "booster"


@pytest.mark.parametrize(
    ("task", "classes", "threshold", "field"),
    [
        ("classification", None, None, "classes"),
        ("classification", ["a", "b", "c"], 0.5, "threshold"),
        ("classification", ["a", "b"], 1.5, "threshold"),
        ("regression", ["a", "b"], None, "classes"),
        ("anomaly", None, None, "task"),
    ],
)
def test_dump_lightgbm_artifact_rejects_inconsistent_metadata(
    regression: lgb.Booster,
    task: str,
    classes: list[str] | None,
    threshold: float | None,
    field: str,
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        dump_lightgbm_artifact(regression, task=task, classes=classes, threshold=threshold)
    assert caught.value.field == field


# --- ONNX -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logistic_onnx(data: tuple[np.ndarray, np.ndarray]) -> tuple[LogisticRegression, bytes]:
    x, score = data
    model = LogisticRegression().fit(x, np.digitize(score, [-0.5, 0.5]))
    proto = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
    return model, proto.SerializeToString()


def test_onnx_classifier_round_trip(
    logistic_onnx: tuple[LogisticRegression, bytes], data: tuple[np.ndarray, np.ndarray]
) -> None:
    model, artifact = logistic_onnx
    x, _ = data
    signature = _numeric_signature(Task.CLASSIFICATION, ["0", "1", "2"])
    predictor = OnnxRuntime().load(artifact, signature)
    assert isinstance(predictor, Predictor)
    result = predictor.predict(x)
    assert result.predictions.tolist() == [str(v) for v in model.predict(x)]
    np.testing.assert_allclose(result.probabilities, model.predict_proba(x), atol=1e-5)


def test_onnx_integer_labels_index_named_classes(
    logistic_onnx: tuple[LogisticRegression, bytes], data: tuple[np.ndarray, np.ndarray]
) -> None:
    model, artifact = logistic_onnx
    x, _ = data
    classes = ["low", "mid", "high"]
    result = (
        OnnxRuntime().load(artifact, _numeric_signature(Task.CLASSIFICATION, classes)).predict(x)
    )
    assert result.predictions.tolist() == [classes[v] for v in model.predict(x)]


def test_onnx_regressor_round_trip(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, score = data
    model = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(x, score)
    artifact = to_onnx(model, x[:1]).SerializeToString()
    result = OnnxRuntime().load(artifact, _numeric_signature()).predict(x)
    assert result.predictions.shape == (len(x),)
    np.testing.assert_allclose(result.predictions, model.predict(x), rtol=1e-4, atol=1e-4)


def test_onnx_feeds_one_input_per_column_with_category_names() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"material": rng.choice(["steel", "aluminium"], 200), "speed": rng.normal(size=200)}
    )
    label = np.where((frame["material"] == "steel") & (frame["speed"] > 0), "worn", "fine")
    model = make_pipeline(
        ColumnTransformer(
            [("cat", OneHotEncoder(), ["material"]), ("num", "passthrough", ["speed"])]
        ),
        LogisticRegression(),
    ).fit(frame, label)
    proto = to_onnx(
        model,
        initial_types=[
            ("material", StringTensorType([None, 1])),
            ("speed", FloatTensorType([None, 1])),
        ],
        options={id(model.steps[-1][1]): {"zipmap": False}},
    )
    signature = Signature(
        inputs=[
            Column(name="speed"),
            Column(name="material", dtype=ColumnType.CATEGORY, categories=["aluminium", "steel"]),
        ],
        task=Task.CLASSIFICATION,
        classes=["fine", "worn"],
    )
    predictor = OnnxRuntime().load(proto.SerializeToString(), signature)
    x = np.column_stack([frame["speed"], (frame["material"] == "steel").astype(float)]).astype(
        np.float32
    )
    result = predictor.predict(x)
    assert result.predictions.tolist() == model.predict(frame).tolist()
    np.testing.assert_allclose(result.probabilities, model.predict_proba(frame), atol=1e-5)
    missing = x[:1].copy()
    missing[0, 1] = np.nan
    with pytest.raises(SchemaMismatchError) as caught:
        predictor.predict(missing)
    assert caught.value.field == "material"


def test_onnx_explain_is_refused(logistic_onnx: tuple[LogisticRegression, bytes]) -> None:
    _, artifact = logistic_onnx
    predictor = OnnxRuntime().load(
        artifact, _numeric_signature(Task.CLASSIFICATION, ["0", "1", "2"])
    )
    with pytest.raises(InvalidParameterError, match="not available for onnx"):
        predictor.predict(np.zeros((1, N_FEATURES), np.float32), explain=True)


def test_onnx_zipmap_is_refused_with_advice(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, score = data
    model = LogisticRegression().fit(x, (score > 0).astype(int))
    artifact = to_onnx(model, x[:1]).SerializeToString()
    with pytest.raises(UnsupportedFormatError, match="zipmap"):
        OnnxRuntime().load(artifact, _numeric_signature(Task.CLASSIFICATION, ["0", "1"]))


def test_onnx_signature_with_other_inputs_is_refused(
    logistic_onnx: tuple[LogisticRegression, bytes],
) -> None:
    _, artifact = logistic_onnx
    signature = Signature(
        inputs=[Column(name="a"), Column(name="b")],
        task=Task.CLASSIFICATION,
        classes=["0", "1", "2"],
    )
    with pytest.raises(UnsupportedFormatError):
        OnnxRuntime().load(artifact, signature)


def _linear_model(weights: onnx.TensorProto, *, constant: bool = False) -> onnx.ModelProto:
    """y = X @ W, with W an initializer (or a Constant node's tensor attribute)."""
    nodes = [helper.make_node("MatMul", ["X", "W"], ["Y"])]
    initializers = [weights]
    if constant:
        nodes.insert(0, helper.make_node("Constant", [], ["W"], value=weights))
        initializers = []
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _weights(name: str = "W") -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones((N_FEATURES, 1), np.float32), name=name)


def test_onnx_hand_built_model_runs(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = data
    artifact = _linear_model(_weights()).SerializeToString()
    result = OnnxRuntime().load(artifact, _numeric_signature()).predict(x)
    np.testing.assert_allclose(result.predictions, x.sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("constant", [False, True], ids=["initializer", "constant-node"])
def test_onnx_external_data_is_refused(constant: bool) -> None:
    weights = _weights()
    set_external_data(weights, location="../../../etc/passwd")
    weights.ClearField("raw_data")
    artifact = _linear_model(weights, constant=constant).SerializeToString()
    with pytest.raises(UnsupportedFormatError, match="external data"):
        OnnxRuntime().load(artifact, _numeric_signature())


@pytest.mark.parametrize("seed", range(10))
def test_onnx_random_bytes_are_refused(seed: int) -> None:
    data = np.random.default_rng(seed).bytes(64 + 50 * seed)
    with pytest.raises(UnsupportedFormatError):
        OnnxRuntime().load(data, _numeric_signature())


def test_onnx_lightgbm_envelope_is_refused(regression: lgb.Booster) -> None:
    artifact = dump_lightgbm_artifact(regression, task="regression", classes=None, threshold=None)
    with pytest.raises(UnsupportedFormatError):
        OnnxRuntime().load(artifact, _numeric_signature())


def test_onnx_failure_at_run_is_a_model_execution_error() -> None:
    # Reshape to a fixed [2, 2] works for one row of 4 values and fails for any other count.
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["X", "shape"], ["square"]),
            helper.make_node("ReduceSum", ["square"], ["Y"], keepdims=0),
        ],
        "fragile",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [])],
        initializer=[numpy_helper.from_array(np.array([2, 2], np.int64), name="shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    predictor = OnnxRuntime().load(model.SerializeToString(), _numeric_signature())
    assert predictor.predict(np.ones((1, N_FEATURES), np.float32)).predictions.tolist() == [4.0]
    with pytest.raises(ModelExecutionError):
        predictor.predict(np.ones((3, N_FEATURES), np.float32))


# --- catalog ----------------------------------------------------------------------------------


class FakeRuntime:
    """A plug-in runtime, loaded through an entry point in the tests below."""

    format = "fake"

    def load(self, data: bytes, signature: Signature) -> Predictor:
        raise UnsupportedFormatError("fake runtime loads nothing")


class ShadowingRuntime(FakeRuntime):
    format = "onnx"


def _entry_point(attribute: str) -> EntryPoint:
    return EntryPoint(
        name=attribute.lower(), value=f"{__name__}:{attribute}", group="maas.runtimes"
    )


def test_catalog_lists_the_built_in_runtimes() -> None:
    assert sorted(RUNTIMES) == ["lightgbm", "onnx", "template"]
    assert isinstance(get_runtime("lightgbm"), LightGBMRuntime)
    assert isinstance(get_runtime("onnx"), OnnxRuntime)


def test_catalog_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(UnsupportedFormatError, match="lightgbm") as caught:
        get_runtime("pickle")
    assert caught.value.field == "format"
    assert caught.value.received == "pickle"
    assert {"lightgbm", "onnx"} <= set(caught.value.expected)


def test_catalog_discovers_entry_point_runtimes() -> None:
    runtimes = discover_runtimes([_entry_point("FakeRuntime")])
    assert isinstance(runtimes["fake"], FakeRuntime)
    assert runtimes["onnx"] is RUNTIMES["onnx"]


def test_catalog_plug_ins_cannot_replace_a_built_in() -> None:
    runtimes = discover_runtimes([_entry_point("ShadowingRuntime")])
    assert runtimes["onnx"] is RUNTIMES["onnx"]


def test_catalog_refuses_an_entry_point_that_is_not_a_runtime() -> None:
    with pytest.raises(TypeError, match="not a Runtime"):
        discover_runtimes([_entry_point("N_FEATURES")])
