"""Reading a demand-forecast state back: checks that it is whole and fits its signature.

A ``template`` artifact can be uploaded, so ``Forecaster.from_state`` refuses at load time what
would otherwise fail only when forecasting (a missing quantile booster, a signature with other
columns than the series, time and value the state forecasts from).
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb

from maas.domain.signature import ColumnType, Signature
from maas.errors import UnsupportedFormatError
from maas.ml.templates.forecast_features import FeatureLayout

__all__ = ["check_signature", "read_boosters"]


def read_boosters(boosters: Any, layout: FeatureLayout) -> dict[float, lgb.Booster]:
    """Parse the state's ``{level: model text}``, one per level of ``layout`` and the median.

    Raises:
        TypeError: ``boosters`` is not a mapping of model texts.
        ValueError: a level is not a number, a level is missing or extra, or a booster does
            not take the layout's features.
        lightgbm.basic.LightGBMError: a model text does not parse.
    """
    if not isinstance(boosters, dict):
        raise TypeError(f"boosters must be a mapping, not {type(boosters).__name__}")
    levels = {float(q) for q in boosters}
    expected = {*layout.quantiles, 0.5}
    if len(levels) != len(boosters) or levels != expected:
        raise ValueError(f"boosters must be for the levels {sorted(expected)}")
    parsed = {}
    n_features = len(layout.feature_names())
    for q, text in boosters.items():
        if not isinstance(text, str) or not text:
            raise TypeError("each booster must be LightGBM model text")
        booster = lgb.Booster(model_str=text)
        if booster.num_feature() != n_features or booster.num_model_per_iteration() != 1:
            raise ValueError(
                f"a booster takes {booster.num_feature()} features, the layout {n_features}, "
                "or answers more than one value"
            )
        parsed[float(q)] = booster
    return parsed


def check_signature(signature: Signature, layout: FeatureLayout) -> None:
    """Check that ``signature`` is the series, time and value columns ``layout`` reads.

    Raises:
        UnsupportedFormatError: it has not three inputs, their types do not fit, or its
            horizon or quantiles are not the state's.
    """
    time_type = ColumnType.INT if layout.time_kind == "int" else ColumnType.STRING
    expected = [
        (ColumnType.INT, ColumnType.STRING),
        (time_type,),
        (ColumnType.FLOAT, ColumnType.INT),
    ]
    inputs = signature.inputs
    received = [c.dtype.value for c in inputs]
    fits = len(inputs) == len(expected) and all(
        c.dtype in types for c, types in zip(inputs, expected, strict=True)
    )
    if not fits:
        wanted = [[t.value for t in types] for types in expected]
        raise UnsupportedFormatError(
            f"The demand forecast takes three inputs (series, time, value) of types {wanted}. "
            f"Got {received} instead.",
            field="inputs",
            expected=wanted,
            received=received,
        )
    if signature.horizon is not None and signature.horizon != layout.horizon:
        raise UnsupportedFormatError(
            f"The state forecasts {layout.horizon} steps ahead but the signature says "
            f"{signature.horizon}.",
            field="horizon",
            expected=layout.horizon,
            received=signature.horizon,
        )
    if signature.quantiles is not None and tuple(signature.quantiles) != layout.quantiles:
        raise UnsupportedFormatError(
            f"The state forecasts the quantiles {list(layout.quantiles)} but the signature "
            f"says {signature.quantiles}.",
            field="quantiles",
            expected=list(layout.quantiles),
            received=signature.quantiles,
        )
