"""The fitted demand-forecast model: what the ``template`` runtime serves.

``Forecaster`` holds a ``FeatureLayout`` and one LightGBM booster per quantile level, with the
calibration factors the backtest found. Its state is plain JSON (each booster as LightGBM's model
text); ``predict_matrix`` answers ``horizon`` forecasts per series of the input rows. How it is
trained and evaluated is ``forecast.DemandForecast``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from maas.domain.signature import ColumnType, Signature
from maas.errors import InvalidParameterError, SchemaMismatchError, UnsupportedFormatError
from maas.ml.prediction import Prediction
from maas.ml.templates.forecast_features import (
    FeatureLayout,
    ForecastSeries,
    series_features,
    split_series,
    training_pairs,
)
from maas.ml.templates.forecast_metrics import stretch_quantiles
from maas.ml.templates.forecast_state import check_signature, read_boosters

if TYPE_CHECKING:
    from maas.ml.templates.forecast import DemandForecastParams

__all__ = ["Forecaster"]

_STATE_VERSION = 1


class Forecaster:
    """The fitted numerics: a feature layout and one LightGBM booster per quantile level.

    It is also the predictor the ``template`` runtime serves (``predict_matrix``).
    """

    def __init__(
        self,
        layout: FeatureLayout,
        boosters: dict[float, lgb.Booster],
        *,
        stretch: Sequence[float] | None = None,
        n_train_rows: int = 0,
        signature: Signature | None = None,
    ) -> None:
        self.layout = layout
        self.boosters = boosters
        # Per level of layout.quantiles: the factor on its distance from the median that the
        # backtest found calibrated (forecast_metrics.interval_stretch).
        self.stretch = tuple(stretch or [1.0] * len(layout.quantiles))
        self.n_train_rows = n_train_rows
        self.signature = signature

    @classmethod
    def train(
        cls, layout: FeatureLayout, series: Sequence[ForecastSeries], params: DemandForecastParams
    ) -> Forecaster:
        """Train one booster per quantile level (plus the median) on ``series``."""
        rng = np.random.default_rng(params.seed)
        quota = max(1, math.ceil(params.max_train_rows / len(series)))
        parts_x, parts_y = [], []
        for s in series:
            origins, steps = training_pairs(layout, len(s.values), quota, rng)
            if len(origins) == 0:
                continue
            x, scale = series_features(layout, s, origins, steps)
            parts_x.append(x)
            parts_y.append(s.values[origins + steps] / scale)
        x_all = np.concatenate(parts_x).astype(np.float32)
        y_all = np.concatenate(parts_y)
        dataset = lgb.Dataset(x_all, label=y_all, params={"max_bin": 63}, free_raw_data=False)
        boosters = {}
        for level in sorted({*layout.quantiles, 0.5}):
            boosters[level] = lgb.train(
                {
                    "objective": "quantile",
                    "alpha": level,
                    "learning_rate": params.learning_rate,
                    "num_leaves": params.num_leaves,
                    "min_data_in_leaf": 50,
                    "feature_fraction": 0.8,
                    "bagging_fraction": 0.8,
                    "bagging_freq": 1,
                    "seed": params.seed,
                    "deterministic": True,
                    "force_col_wise": True,
                    "verbose": -1,
                    "num_threads": params.n_jobs,
                    "max_bin": 63,
                },
                dataset,
                num_boost_round=params.n_estimators,
            )
        return cls(layout, boosters, n_train_rows=len(y_all))

    def forecast_at(
        self,
        series: Sequence[ForecastSeries],
        origins: Sequence[int],
        *,
        explain: bool = False,
        calibrated: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Forecast ``horizon`` steps from origin ``origins[i]`` of ``series[i]``.

        Returns:
            the medians, shape ``(n * horizon,)``; the quantiles, shape ``(n * horizon,
            len(layout.quantiles))``, sorted per row and, when ``calibrated``, stretched by
            ``stretch``; and, when ``explain``, the median's contributions per input column,
            shape ``(n * horizon, 4)``.
        """
        h = self.layout.horizon
        steps = np.arange(1, h + 1)
        parts_x, parts_scale = [], []
        for s, origin in zip(series, origins, strict=True):
            x, scale = series_features(self.layout, s, np.full(h, origin), steps)
            parts_x.append(x)
            parts_scale.append(scale)
        x_all = np.concatenate(parts_x).astype(np.float32)
        scale_all = np.concatenate(parts_scale)
        levels = sorted(self.boosters)
        raw = np.column_stack([self.boosters[q].predict(x_all) for q in levels])
        median = raw[:, levels.index(0.5)]
        # Levels that crossed the median meet it there; the median stays the point forecast.
        side = np.sign(np.asarray(levels) - 0.5)[None, :]
        ordered = np.sort(median[:, None] + side * np.maximum(side * (raw - median[:, None]), 0.0))
        ordered *= scale_all[:, None]
        median = ordered[:, levels.index(0.5)]
        quantiles = ordered[:, [levels.index(q) for q in self.layout.quantiles]]
        if calibrated:
            quantiles = stretch_quantiles(median, quantiles, self.stretch)
        contributions = None
        if explain:
            parts = np.asarray(self.boosters[0.5].predict(x_all, pred_contrib=True))
            parts = parts * scale_all[:, None]
            owner = np.asarray(self.layout.feature_sources())
            contributions = np.column_stack(
                [
                    np.zeros(len(x_all)),
                    parts[:, :-1][:, owner == 1].sum(axis=1),
                    parts[:, :-1][:, owner == 2].sum(axis=1),
                    parts[:, -1],
                ]
            )
        return median, quantiles, contributions

    def forecast_frame(
        self, df: pd.DataFrame, columns: tuple[str, str, str], *, explain: bool = False
    ) -> Prediction:
        """Forecast ``horizon`` steps after the end of each series of long-format ``df``.

        Args:
            df: the history, one row per series and time step.
            columns: the series, time and value columns of ``df``.
            explain: also return the median's contributions per input column.

        Raises:
            SchemaMismatchError: a column is missing, values are not finite numbers, or the
                times are not of the kind (integer steps or datetimes) the model learnt.
            InvalidParameterError: a series is shorter than ``horizon`` steps or repeats a time.
        """
        series, time_kind = split_series(df, columns)
        if time_kind != self.layout.time_kind:
            expected = "integer steps" if self.layout.time_kind == "int" else "datetimes"
            raise SchemaMismatchError(
                f"Column {columns[1]!r} must hold {expected}, as in training. Got "
                f"{'integer steps' if time_kind == 'int' else 'datetimes'} instead.",
                field=columns[1],
                expected=expected,
                received=time_kind,
            )
        h = self.layout.horizon
        for s in series:
            if len(s.values) < h:
                raise InvalidParameterError(
                    f"Series {s.key!r} has {len(s.values)} steps of history; forecasting {h} "
                    f"steps ahead needs at least {h}.",
                    field=columns[0],
                    expected=f">= {h} steps of history",
                    received=len(s.values),
                    details={"series": s.key},
                )
        return self.forecast(series, explain=explain)

    def forecast(self, series: Sequence[ForecastSeries], *, explain: bool = False) -> Prediction:
        """Forecast ``horizon`` steps after the end of each series (checked by the caller)."""
        h = self.layout.horizon
        extended = [s.with_future(self.layout) for s in series]
        median, quantiles, contributions = self.forecast_at(
            extended, [len(s.values) - 1 for s in series], explain=explain
        )
        keys = [{"series": s.key, "step": k} for s in series for k in range(1, h + 1)]
        return Prediction(
            predictions=median,
            contributions=contributions,
            keys=keys,
            quantiles={
                _level_name(q): quantiles[:, j] for j, q in enumerate(self.layout.quantiles)
            },
        )

    def predict_matrix(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Forecast from the input matrix (series, time, value columns in signature order).

        Raises:
            SchemaMismatchError: timestamps or values cannot be read.
            InvalidParameterError: a series is shorter than ``horizon`` steps.
        """
        assert self.signature is not None
        names = self.signature.input_names
        frame = pd.DataFrame({name: x[:, j] for j, name in enumerate(names)})
        time = self.signature.inputs[1]
        if time.dtype is ColumnType.INT:
            frame[names[1]] = pd.to_numeric(frame[names[1]]).astype(np.int64)
        frame[names[2]] = pd.to_numeric(frame[names[2]])
        if self.signature.inputs[0].dtype is ColumnType.INT:
            frame[names[0]] = pd.to_numeric(frame[names[0]]).astype(np.int64)
        return self.forecast_frame(frame, (names[0], names[1], names[2]), explain=explain)

    def input_importance(self) -> list[float]:
        """Share of the median booster's split gain per input column (series, time, value);
        all zeros when the booster never split (``TrainedModel.feature_importance``)."""
        gain = self.boosters[0.5].feature_importance(importance_type="gain")
        owner = np.asarray(self.layout.feature_sources())
        shares = np.array([gain[owner == j].sum() for j in range(3)], dtype=np.float64)
        total = float(shares.sum())
        return [float(v) for v in (shares / total if total > 0 else np.zeros(3))]

    def to_state(self) -> dict[str, Any]:
        """The JSON state: layout, and each booster as LightGBM model text."""
        return {
            "state_version": _STATE_VERSION,
            "layout": self.layout.to_state(),
            "stretch": list(self.stretch),
            "boosters": {
                _level_name(q): b.model_to_string() for q, b in sorted(self.boosters.items())
            },
            "library_versions": {"lightgbm": lgb.__version__},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> Forecaster:
        """Rebuild from ``to_state``'s output, for ``signature``.

        Raises:
            UnsupportedFormatError: the state is of another version or malformed (boosters not
                a mapping of quantile level to LightGBM model text, one per level of the layout
                and the median, each taking the layout's features), or ``signature`` is not
                the series, time and value columns the state forecasts from.
        """
        try:
            if state["state_version"] != _STATE_VERSION:
                raise KeyError("state_version")
            layout = FeatureLayout.from_state(state["layout"])
            boosters = read_boosters(state["boosters"], layout)
            stretch = [float(v) for v in state["stretch"]]
            if len(stretch) != len(layout.quantiles):
                raise ValueError("one stretch per quantile level")
            if not all(math.isfinite(v) and v >= 0.0 for v in stretch):
                raise ValueError("stretch factors must be finite and non-negative")
        except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as exc:
            raise UnsupportedFormatError(
                f"The demand-forecast state is not a version {_STATE_VERSION} state: {exc}.",
                field="state",
                expected=f"a demand_forecast state, version {_STATE_VERSION}",
                received=type(exc).__name__,
            ) from exc
        check_signature(signature, layout)
        return cls(layout, boosters, stretch=stretch, signature=signature)


def _level_name(q: float) -> str:
    return repr(float(q))
