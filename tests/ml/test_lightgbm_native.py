"""``NativeBooster`` (LightGBM's C API) predicts what ``lightgbm.Booster`` predicts."""

from __future__ import annotations

import threading

import lightgbm as lgb
import numpy as np
import pytest

from maas.ml.lightgbm_native import NativeBooster, NativeLightGBMError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(600, 5)).astype(np.float32)


@pytest.fixture(
    scope="module",
    params=[
        ({"objective": "binary"}, (X[:, 0] + X[:, 1] > 0).astype(int)),
        ({"objective": "regression"}, 3 * X[:, 2] - X[:, 0]),
        ({"objective": "multiclass", "num_class": 3}, np.digitize(X[:, 3], [-0.5, 0.5])),
    ],
    ids=["binary", "regression", "multiclass"],
)
def boosters(request: pytest.FixtureRequest) -> tuple[NativeBooster, lgb.Booster]:
    params, y = request.param
    trained = lgb.train({**params, "verbose": -1, "seed": 0}, lgb.Dataset(X, y), 20)
    text = trained.model_to_string()
    return NativeBooster(text), lgb.Booster(model_str=text)


@pytest.mark.parametrize(
    "x",
    [X[:1], X[:9], np.asfortranarray(X[:7]), X[:3].astype(np.float64), X[::2][:5], X],
    ids=["one-row", "rows", "column-major", "float64", "strided", "all"],
)
@pytest.mark.parametrize("kind", [{}, {"raw_score": True}, {"pred_contrib": True}])
def test_native_booster_predicts_as_lightgbm(
    boosters: tuple[NativeBooster, lgb.Booster], x: np.ndarray, kind: dict[str, bool]
) -> None:
    native, reference = boosters
    got, want = native.predict(x, **kind), reference.predict(x, **kind)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_native_booster_reports_its_shape_and_importance(
    boosters: tuple[NativeBooster, lgb.Booster],
) -> None:
    native, reference = boosters
    assert native.num_feature() == reference.num_feature()
    assert native.num_model_per_iteration() == reference.num_model_per_iteration()
    for kind in ("split", "gain"):
        np.testing.assert_allclose(
            native.feature_importance(kind), reference.feature_importance(kind)
        )


def test_native_booster_single_rows_are_safe_from_many_threads(
    boosters: tuple[NativeBooster, lgb.Booster],
) -> None:
    native, reference = boosters
    want = reference.predict(X)
    got: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        got[i] = np.stack([native.predict(X[j : j + 1])[0] for j in range(len(X))])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for result in got.values():
        np.testing.assert_allclose(result, want, rtol=1e-12)


def test_native_booster_refuses_bad_text_and_bad_shapes() -> None:
    with pytest.raises(NativeLightGBMError):
        NativeBooster("not a model")
    label = X[:, 0].copy()
    trained = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, label), 2)
    native = NativeBooster(trained.model_to_string())
    with pytest.raises(ValueError, match="5 features"):
        native.predict(X[:, :3])
    assert native.predict(X[:0]).shape == (0,)
