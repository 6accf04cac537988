"""Demand forecasting: one global LightGBM model over many series, direct multi-horizon, quantiles.

The template learns from the history of many series at once (a plant's production or demand per
line, product or site). Each training row is an *origin* ``t`` of one series and a *step*
``k`` in ``1..horizon``: its features describe the series up to ``t`` on the series' own scale
(every value divided by the mean absolute value of the last ``scale_window`` values, so series of
any size share one model), and its label is the value at ``t + k`` on that same scale. One
LightGBM booster per quantile level (pinball loss) predicts that label; the forecast is the
prediction times the scale. A level that crosses the median meets it there and the levels are
sorted per row, so they never cross and the median stays the model's point forecast. The spread
of each level around the median is then calibrated on the backtest (see below).

Features (see ``FeatureLayout``): the step ``k``; the last values (``lags``); the mean and
spread of recent windows; for each seasonal period ``p``, the values one, two and three periods
before the target time; and, for datetime timestamps, the calendar of the target time (hour,
weekday, day of month, week of year, month, as the frequency allows).

Honest evaluation: a first model is trained on every series cut ``backtest_folds * horizon``
steps before its end, then forecasts from ``backtest_folds`` origins (``horizon`` apart) at the
end of each series. Its scores (MASE, sMAPE, weighted quantile loss, interval coverage) sit next
to those of the seasonal-naive forecast (with quantiles from its own past errors) from the same
origins. The backtest's forecasts also calibrate the quantiles: each level's distance from the
median is stretched by the factor that makes it cover its share of actual values (scored by
cross-fitting over folds, so the reported coverage stays out-of-sample). The artifact's model is
then trained again on the full history and given those factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from maas.domain.signature import Column, ColumnType, Output, Signature, Task
from maas.errors import InvalidParameterError, SchemaMismatchError
from maas.ml.prediction import Prediction
from maas.ml.templates.artifact import TEMPLATE_ARTIFACT, dump_template_artifact
from maas.ml.templates.base import MIN_ROWS, Template, TemplateSpec, TrainedModel
from maas.ml.templates.forecast_features import (
    ForecastSeries,
    build_layout,
    split_series,
)
from maas.ml.templates.forecast_metrics import backtest_metrics
from maas.ml.templates.forecast_model import Forecaster

__all__ = ["DemandForecast", "DemandForecastParams", "Forecaster"]


class DemandForecastParams(BaseModel):
    """Parameters of the demand-forecast template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: int = Field(ge=1, le=10_000)
    """Steps ahead to forecast (required)."""
    series_column: str = Field("series", min_length=1, max_length=128)
    """Column naming the series each row belongs to."""
    time_column: str = Field("timestamp", min_length=1, max_length=128)
    """Column ordering a series' rows: integer steps or datetimes (regularly spaced)."""
    value_column: str = Field("value", min_length=1, max_length=128)
    """Column holding the quantity to forecast (``fit``'s ``target`` overrides it)."""
    season_length: int | None = Field(None, ge=1, le=10_000)
    """Steps per seasonal cycle; ``None`` infers it from the datetime frequency (hourly 24,
    daily 7, weekly 52, monthly 12, ...) or, for integer steps, from the autocorrelation."""
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    """Quantile levels to forecast, each in (0, 1); the median is always trained, as the point
    forecast."""
    lags: tuple[int, ...] | None = None
    """Which past values are features (1 is the last one); ``None``: 1 .. max(14, 2 seasons),
    at most 60."""
    windows: tuple[int, ...] | None = None
    """Lengths of the rolling windows whose mean and spread are features; ``None``: chosen from
    the season length."""
    calendar: bool = True
    """Whether datetime timestamps give calendar features of the target time."""
    n_estimators: int = Field(300, ge=1, le=5000)
    """Boosting rounds per quantile level."""
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    """Shrinkage applied to each tree."""
    num_leaves: int = Field(63, ge=2, le=1024)
    """Maximum leaves per tree."""
    max_train_rows: int = Field(100_000, ge=1_000, le=5_000_000)
    """At most this many (origin, step) rows train each booster, sampled evenly over series."""
    backtest_folds: int = Field(3, ge=1, le=20)
    """Forecast origins (``horizon`` apart) at the end of each series scored by the backtest."""
    n_jobs: int = Field(1, ge=1, le=64)
    """LightGBM threads; one by default, as training runs beside live serving."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the row sampling and of LightGBM; the same seed gives the same artifact."""

    @field_validator("quantiles")
    @classmethod
    def _levels_in_unit_interval(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not 1 <= len(value) <= 9 or len(set(value)) != len(value):
            raise ValueError("quantiles must be 1 to 9 distinct levels")
        if any(not 0.0 < q < 1.0 for q in value):
            raise ValueError("every quantile level must lie strictly between 0 and 1")
        return tuple(sorted(value))

    @field_validator("lags", "windows")
    @classmethod
    def _positive_steps(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is None:
            return None
        if not 1 <= len(value) <= 200 or any(not 1 <= v <= 10_000 for v in value):
            raise ValueError("must be 1 to 200 step counts, each in 1 .. 10000")
        return tuple(sorted(set(value)))


class DemandForecast(Template):
    """Forecast many series ``horizon`` steps ahead with one global LightGBM model.

    ``fit(df)`` takes long-format history (``series_column``, ``time_column``,
    ``value_column``); ``forecast(df)`` takes the recent history of any series (seen in training
    or not) and returns, for each series and step, the median and the quantiles. ``predict``
    returns the medians only, series-major (all steps of the first series first).

    Metrics (rolling-origin backtest, see the module docstring): ``mase``, ``smape``, ``wql``
    (weighted quantile loss), ``coverage`` (share of actual values inside the outermost
    quantiles, nominal ``coverage_nominal``), each with ``baseline_`` for the seasonal-naive
    forecast; ``season_length``, ``n_series``, ``n_backtest_forecasts``, ``n_train_rows``.
    Plots: one backtest ``forecast`` (``forecast_metrics.backtest_plot``).
    """

    spec = TemplateSpec(
        name="demand_forecast",
        task=Task.FORECAST,
        description=(
            "Forecast production or demand of many series (any frequency) with one global "
            "gradient-boosted model: direct multi-step quantile forecasts, honestly backtested "
            "against seasonal naive."
        ),
        params=DemandForecastParams,
    )

    def __init__(
        self,
        *,
        horizon: int | None = None,
        series_column: str = "series",
        time_column: str = "timestamp",
        value_column: str = "value",
        season_length: int | None = None,
        quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
        lags: tuple[int, ...] | None = None,
        windows: tuple[int, ...] | None = None,
        calendar: bool = True,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        max_train_rows: int = 100_000,
        backtest_folds: int = 3,
        n_jobs: int = 1,
        seed: int = 0,
    ) -> None:
        self.horizon = horizon
        self.series_column = series_column
        self.time_column = time_column
        self.value_column = value_column
        self.season_length = season_length
        self.quantiles = quantiles
        self.lags = lags
        self.windows = windows
        self.calendar = calendar
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_train_rows = max_train_rows
        self.backtest_folds = backtest_folds
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(
        self, df: pd.DataFrame, target: str | None = None, features: Sequence[str] | None = None
    ) -> Self:
        """Learn to forecast column ``target`` (default ``value_column``) of every series in ``df``.

        Args:
            df: long-format history, one row per series and time step.
            target: the value column; overrides ``value_column`` when given.
            features: must be ``None``: the template derives its features from the history.

        Raises:
            SchemaMismatchError: a column is missing, values are not finite numbers, or
                timestamps are neither integers nor datetimes.
            InvalidParameterError: a parameter is invalid, ``features`` is given, there are
                fewer than ``MIN_ROWS`` rows, a series is shorter than ``horizon + 1`` steps or
                repeats a timestamp, or no series is long enough for the backtest.
        """
        if target is not None and target not in df.columns:
            raise SchemaMismatchError(
                f"Target column {target!r} is missing from the data.",
                field=target,
                expected="a column of the data",
                received=f"columns {[str(c) for c in df.columns]}",
            )
        params: DemandForecastParams = self._validated_params()
        if features is not None:
            raise InvalidParameterError(
                "The demand forecast derives its features from each series' history; it takes "
                "no feature columns.",
                field="features",
                expected=None,
                received=list(features),
            )
        value = target or params.value_column
        columns = (params.series_column, params.time_column, value)
        if len(df) < MIN_ROWS:
            raise InvalidParameterError(
                f"Template {self.spec.name!r} needs at least {MIN_ROWS} rows. "
                f"Got {len(df)} instead.",
                field="rows",
                expected=f">= {MIN_ROWS}",
                received=len(df),
            )
        series, time_kind = split_series(df, columns)
        short = min(series, key=lambda s: len(s.values))
        if len(short.values) < params.horizon + 1:
            raise InvalidParameterError(
                f"Series {short.key!r} has {len(short.values)} steps; forecasting "
                f"{params.horizon} steps ahead needs at least {params.horizon + 1}.",
                field=params.series_column,
                expected=f">= {params.horizon + 1} steps per series",
                received=len(short.values),
            )
        layout = build_layout(params, series, time_kind)
        folds = params.backtest_folds
        cut = folds * params.horizon
        scored = [s for s in series if len(s.values) >= cut + params.horizon + 1]
        if not scored:
            raise InvalidParameterError(
                f"The backtest ({folds} folds of {params.horizon} steps) needs a series of at "
                f"least {cut + params.horizon + 1} steps; the longest has "
                f"{max(len(s.values) for s in series)}.",
                field="backtest_folds",
                expected=f"a series of >= {cut + params.horizon + 1} steps, or fewer folds",
                received=folds,
            )
        backtester = Forecaster.train(layout, [s.head(len(s.values) - cut) for s in scored], params)
        metrics, stretch, self.plots_ = backtest_metrics(backtester, scored, folds=folds)
        final = Forecaster.train(layout, series, params)
        final.stretch = stretch
        self.forecaster_ = final
        self.params_ = params
        self.target_ = value
        self.signature_ = _signature(params, value, series, time_kind)
        self.metrics_ = metrics | {
            "season_length": float(layout.season_length),
            "n_series": float(len(series)),
            "n_train_rows": float(final.n_train_rows),
        }
        return self

    def forecast(self, df: pd.DataFrame) -> Prediction:
        """Forecast ``horizon`` steps after the end of each series in ``df``.

        Returns:
            ``predictions`` (medians) and ``quantiles`` (level → values), flattened series-major
            with ``keys`` ``{"series": <name>, "step": k}``; series in order of first
            appearance.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: a column is missing or of the wrong kind.
            InvalidParameterError: a series is shorter than ``horizon`` steps or repeats a
                timestamp.
        """
        self._check_fitted()
        columns = (self.params_.series_column, self.params_.time_column, self.target_)
        return self.forecaster_.forecast_frame(df, columns)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Return the median forecasts, series-major (see ``forecast``).

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: a column is missing or of the wrong kind.
            InvalidParameterError: a series is shorter than ``horizon`` steps.
        """
        return self.forecast(df).predictions

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return each input column's contribution to each median forecast.

        Shape ``(n_forecasts, 4)``: series column (always 0), time column (step and
        calendar features), value column (every feature of the history), and the expected
        value; each row sums to the median forecast.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: a column is missing or of the wrong kind.
            InvalidParameterError: a series is shorter than ``horizon`` steps.
        """
        self._check_fitted()
        columns = (self.params_.series_column, self.params_.time_column, self.target_)
        contributions = self.forecaster_.forecast_frame(df, columns, explain=True).contributions
        assert contributions is not None
        return contributions

    def to_trained_model(self) -> TrainedModel:
        """Package the boosters and feature layout as a ``template`` artifact.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """
        self._check_fitted()
        names = self.signature_.input_names
        importance = sorted(
            zip(names, self.forecaster_.input_importance(), strict=True), key=lambda kv: -kv[1]
        )
        return TrainedModel(
            artifact=dump_template_artifact(self.spec.name, self.forecaster_.to_state()),
            format=TEMPLATE_ARTIFACT,
            signature=self.signature_,
            template=self.spec.name,
            params={**self.params_.model_dump(), "target": self.target_, "features": names},
            metrics=dict(self.metrics_),
            feature_importance=dict(importance),
            plots=dict(self.plots_),
        )

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> Forecaster:
        """Rebuild the fitted forecaster from a ``template`` artifact's state.

        Raises:
            UnsupportedFormatError: the state is not a demand-forecast state this version reads.
        """
        return Forecaster.from_state(state, signature)


def _signature(
    params: DemandForecastParams, value: str, series: Sequence[ForecastSeries], time_kind: str
) -> Signature:
    numeric_keys = all(s.key.lstrip("-").isdigit() for s in series)
    return Signature(
        inputs=[
            Column(
                name=params.series_column,
                dtype=ColumnType.INT if numeric_keys else ColumnType.STRING,
                description="the series each row belongs to",
            ),
            Column(
                name=params.time_column,
                dtype=ColumnType.INT if time_kind == "int" else ColumnType.STRING,
                description=("integer time step" if time_kind == "int" else "ISO 8601 timestamp"),
            ),
            Column(name=value, dtype=ColumnType.FLOAT, description="the observed value"),
        ],
        outputs=[Output(name="predictions", dtype=ColumnType.FLOAT)],
        task=Task.FORECAST,
        group_by=params.series_column,
        order_by=params.time_column,
        horizon=params.horizon,
        quantiles=list(params.quantiles),
    )
