"""Remaining useful life: cycles left before failure, per unit, from its sensor history.

One LightGBM regressor over every row of every unit learns the *capped* remaining useful life
(RUL): ``min(last time of the unit - time, rul_cap)`` for run-to-failure data (the usual
piecewise-linear target: a healthy unit's RUL is not predictable beyond the cap), or a given
RUL column capped the same way. A prediction is made per unit, at its latest row.

Features of a row (``FeatureRecipe.features``) look only at the unit's rows up to it, so a
prediction from a truncated history is the same as the one made at that row of the full
history. Sensors are first normalised per *operating condition*: when the operating-setting
columns form tight clusters (KMeans, ``k`` chosen by silhouette), each sensor is standardised
with its own condition's mean and spread, else with the overall ones; sensors that are constant
within every condition are dropped. Then, per sensor: the last value, the mean and the
least-squares slope over each of ``windows`` rows, and the drift of the mean of the last
``drift_window`` rows from the unit's own first ``baseline_cycles`` rows (each unit starts with
its own wear and manufacturing spread); plus the unit's age (time since its first row).

Honest evaluation: units (never rows) are split into a training and a validation part. A model
trained on the first is scored on the second at each unit's last row and at
``truncations_per_unit`` random truncations of each unit (the C-MAPSS test protocol: the history
is cut before failure and the RUL after the cut is predicted), next to a naive baseline that
predicts the mean capped RUL of the training units at that age. With ``refit`` (the default) the
artifact's model is then trained on every unit; the reported scores are those of the model that
did not see the validation units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.model_selection import GroupShuffleSplit

from maas.domain.signature import Column, ColumnType, Output, Signature, Task
from maas.errors import InvalidParameterError, SchemaMismatchError
from maas.ml.features import infer_columns
from maas.ml.plots import predicted_vs_true_plot
from maas.ml.prediction import Prediction
from maas.ml.templates.base import Template, TemplateSpec, TrainedModel
from maas.ml.templates.rul_features import (
    FeatureRecipe,
    HistoryLayout,
    UnitHistories,
    encode_units,
)
from maas.ml.templates.rul_model import RulModel

__all__ = [
    "MIN_UNITS",
    "RemainingUsefulLife",
    "RemainingUsefulLifeParams",
    "RulModel",
    "nasa_score",
    "rul_scores",
]

MIN_UNITS = 10
"""Fewer units than this cannot give both a model and held-out units worth scoring."""
_MAX_INT_UNIT = 2**24
"""Numeric unit ids travel as float32; beyond this they would collide."""


class RemainingUsefulLifeParams(BaseModel):
    """Parameters of the remaining-useful-life template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_column: str = Field("unit", min_length=1, max_length=128)
    """Column naming the unit (engine, machine, tool) each row belongs to."""
    time_column: str = Field("cycle", min_length=1, max_length=128)
    """Numeric column ordering a unit's rows (cycles, operating hours); RUL is in its unit.
    Inputs travel as float32, so use a count from the unit's start, not epoch timestamps."""
    setting_columns: tuple[str, ...] | None = None
    """Operating-setting columns; ``None``: the inputs whose name contains ``setting``."""
    rul_cap: float = Field(125.0, gt=0.0)
    """Remaining life is learnt and predicted up to this value (125 cycles for C-MAPSS)."""
    windows: tuple[int, ...] = (5, 10, 20, 30)
    """Rolling windows (rows) of the per-sensor mean and slope features."""
    drift_window: int = Field(10, ge=1, le=1000)
    """Rows averaged for the drift feature (the recent mean minus the unit's baseline)."""
    baseline_cycles: int = Field(20, ge=1, le=1000)
    """A unit's first rows, averaged as its healthy baseline."""
    max_conditions: int = Field(6, ge=1, le=20)
    """Most operating conditions looked for in the settings (1: never cluster)."""
    n_estimators: int = Field(500, ge=1, le=5000)
    """Number of boosting rounds."""
    learning_rate: float = Field(0.03, gt=0.0, le=1.0)
    """Shrinkage applied to each tree."""
    num_leaves: int = Field(15, ge=2, le=1024)
    """Maximum leaves per tree."""
    bagging_fraction: float = Field(1.0, gt=0.0, le=1.0)
    """Share of the rows each tree is grown on (below 1, the seed changes the model)."""
    feature_fraction: float = Field(1.0, gt=0.0, le=1.0)
    """Share of the features each tree may split on."""
    validation_fraction: float = Field(0.2, ge=0.05, le=0.5)
    """Share of the units held out to report the metrics."""
    truncations_per_unit: int = Field(10, ge=1, le=100)
    """Random truncation points scored per held-out unit."""
    refit: bool = True
    """Train the artifact's model again on every unit after scoring the held-out ones."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the split, truncations, clustering and LightGBM; same seed, same artifact."""

    @field_validator("windows")
    @classmethod
    def _sorted_windows(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 2 <= w <= 1000 for w in value):
            raise ValueError("windows must be one or more row counts in [2, 1000]")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _distinct_roles(self) -> RemainingUsefulLifeParams:
        roles = [self.unit_column, self.time_column, *(self.setting_columns or ())]
        if len(set(roles)) != len(roles):
            raise ValueError("unit_column, time_column and setting_columns must be distinct")
        return self


class RemainingUsefulLife(Template):
    """Predict each unit's remaining useful life from its run of sensor readings.

    ``predict`` answers one RUL per unit of the frame, at the unit's latest row, from the rows
    it is given: send each unit's history from its start (the drift and age features need it).
    Predictions are the booster's raw output, so ``explain`` adds up to them exactly; they may
    stray a little outside ``[0, rul_cap]``. Contributions are per input column: those of the
    derived features summed onto the sensor (or, for the age, the time column) they come from;
    the settings act through the normalisation only, so theirs are 0.

    Metrics (held-out units): ``rmse``, ``mae``, ``nasa_score`` (the PHM08 sum, late predictions
    cost more) and ``nasa_score_mean`` at random truncations; the same with ``_last`` at each
    unit's last row; every one also as ``baseline_…`` (mean capped RUL of the training units at
    that age); and ``n_train_units``, ``n_validation_units``, ``n_truncations``,
    ``n_conditions``, ``n_sensors``, ``n_features``. Plots: ``predicted_vs_true`` at the
    held-out units' random truncations (the rows ``rmse`` scores).
    """

    spec = TemplateSpec(
        name="remaining_useful_life",
        task=Task.REGRESSION,
        description=(
            "Predict each unit's remaining useful life (cycles to failure, capped) from its "
            "sensor history: rolling-window features per operating condition, gradient-boosted "
            "trees, validated on held-out units at random truncations."
        ),
        params=RemainingUsefulLifeParams,
    )

    def __init__(
        self,
        *,
        unit_column: str = "unit",
        time_column: str = "cycle",
        setting_columns: tuple[str, ...] | None = None,
        rul_cap: float = 125.0,
        windows: tuple[int, ...] = (5, 10, 20, 30),
        drift_window: int = 10,
        baseline_cycles: int = 20,
        max_conditions: int = 6,
        n_estimators: int = 500,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        bagging_fraction: float = 1.0,
        feature_fraction: float = 1.0,
        validation_fraction: float = 0.2,
        truncations_per_unit: int = 10,
        refit: bool = True,
        seed: int = 0,
    ) -> None:
        self.unit_column = unit_column
        self.time_column = time_column
        self.setting_columns = setting_columns
        self.rul_cap = rul_cap
        self.windows = windows
        self.drift_window = drift_window
        self.baseline_cycles = baseline_cycles
        self.max_conditions = max_conditions
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.bagging_fraction = bagging_fraction
        self.feature_fraction = feature_fraction
        self.validation_fraction = validation_fraction
        self.truncations_per_unit = truncations_per_unit
        self.refit = refit
        self.seed = seed

    def fit(
        self, df: pd.DataFrame, target: str | None = None, features: Sequence[str] | None = None
    ) -> Self:
        """Learn the capped RUL from the unit histories in ``df``.

        Args:
            df: one row per unit and time, with ``unit_column``, ``time_column`` and numeric
                sensor and setting columns.
            target: a column holding each row's RUL; ``None`` (the default) means every unit ran
                to failure, so its RUL is its last time minus the row's time.
            features: the sensor and setting columns; default every other column.

        Raises:
            InvalidParameterError: a parameter is invalid, fewer than ``MIN_UNITS`` units, a
                unit with a single row, an unusable target, or no sensor that varies.
            SchemaMismatchError: a column is missing, a sensor or the time is not numeric, a
                unit or time is missing, or a unit has two rows at the same time.
        """
        params: RemainingUsefulLifeParams = self._validated_params()
        signature, settings, sensors = _signature(df, params, target, features)
        x = encode_units(df, signature)
        layout = HistoryLayout.of(
            signature,
            unit=params.unit_column,
            time=params.time_column,
            settings=settings,
            candidates=sensors,
        )
        hist = layout.histories(x)
        _check_units(hist, params)
        y = _target(df, target, hist, params)

        # Split by unit, never by row: a unit's rows are all training or all validation.
        split = GroupShuffleSplit(
            n_splits=1, test_size=params.validation_fraction, random_state=params.seed
        )
        train_rows, valid_rows = next(split.split(hist.codes, groups=hist.codes))
        train, valid = np.unique(hist.codes[train_rows]), np.unique(hist.codes[valid_rows])
        in_train = np.isin(hist.codes, train)
        model = _train(layout, hist, y, train_rows, params)
        metrics, self.plots_ = _evaluate(model, hist, y, in_train, valid, params)
        if params.refit:
            model = _train(layout, hist, y, np.arange(len(y)), params)
        self.model_ = RulModel.from_state(model.to_state(), signature)
        self.signature_ = signature
        self.params_ = params
        self.target_ = target
        self.training_units_ = [hist.labels[i] for i in train]
        self.validation_units_ = [hist.labels[i] for i in valid]
        self.metrics_ = metrics | {
            "n_train_units": float(len(train)),
            "n_validation_units": float(len(valid)),
            "n_conditions": float(model.recipe.mean.shape[0]),
            "n_sensors": float(len(model.recipe.sensors)),
            "n_features": float(len(model.sources)),
        }
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Return the RUL of each unit at its latest row, in order of first appearance in ``df``.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        return self._predict(df, explain=False).predictions

    def predict_by_unit(self, df: pd.DataFrame) -> pd.Series:
        """Return the RUL of each unit of ``df`` at its latest row, indexed by unit.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        result = self._predict(df, explain=False)
        assert result.keys is not None
        units = [key[self.params_.unit_column] for key in result.keys]
        index = pd.Index(units, name=self.params_.unit_column)
        return pd.Series(result.predictions, index=index, name="rul")

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return each input's contribution to each unit's RUL, shape ``(n_units, n_inputs + 1)``.

        The derived features' contributions are summed onto the column they come from; the last
        column is the expected value, and each row adds up to the prediction.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        contributions = self._predict(df, explain=True).contributions
        assert contributions is not None
        return contributions

    def to_trained_model(self) -> TrainedModel:
        """Package the fitted model as a ``template`` artifact with its signature and metrics.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """
        # Imported here: the template runtime imports the template catalogue, which imports us.
        from maas.ml.templates.artifact import dump_template_artifact

        self._check_fitted()
        names = self.signature_.input_names
        importance = sorted(
            zip(names, self.model_.input_importance(), strict=True), key=lambda kv: -kv[1]
        )
        return TrainedModel(
            artifact=dump_template_artifact(self.spec.name, self.model_.to_state()),
            format="template",
            signature=self.signature_,
            template=self.spec.name,
            params={
                **self.params_.model_dump(),
                "target": self.target_,
                "features": names,
                "settings": list(self.model_.recipe.layout.settings),
                "sensors": list(self.model_.recipe.sensors),
            },
            metrics=dict(self.metrics_),
            feature_importance=dict(importance),
            plots=dict(self.plots_),
        )

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> RulModel:
        """Rebuild the fitted model from a ``template`` artifact's state.

        Raises:
            UnsupportedFormatError: the state is of another version, malformed, or does not fit
                ``signature``.
        """
        return RulModel.from_state(state, signature)

    def _predict(self, df: pd.DataFrame, *, explain: bool) -> Prediction:
        self._check_fitted()
        return self.model_.predict_matrix(encode_units(df, self.signature_), explain=explain)


# --- columns and target ------------------------------------------------------------------------


def _signature(
    df: pd.DataFrame,
    params: RemainingUsefulLifeParams,
    target: str | None,
    features: Sequence[str] | None,
) -> tuple[Signature, list[str], list[str]]:
    """Return the signature, the setting columns and the candidate sensor columns."""
    for name in (params.unit_column, params.time_column, target):
        if name is not None and name not in df.columns:
            raise SchemaMismatchError(
                f"Column {name!r} is missing from the data.",
                field=name,
                expected="a column of the data",
                received=f"columns {[str(c) for c in df.columns]}",
            )
    reserved = {params.unit_column, params.time_column, target}
    if features is None:
        names = [str(c) for c in df.columns if c not in reserved]
    else:
        names = [features] if isinstance(features, str) else list(features)
        for name in names:
            if name not in df.columns or name in reserved:
                raise SchemaMismatchError(
                    f"Feature column {name!r} must be a column of the data other than the unit, "
                    "time and target.",
                    field=name,
                    expected="a sensor or setting column",
                    received="missing" if name not in df.columns else "a reserved column",
                )
    columns = infer_columns(df, names)
    for column in columns:
        if column.dtype is not ColumnType.FLOAT:
            raise SchemaMismatchError(
                f"Sensor or setting column {column.name!r} must be numeric. Got "
                f"{df[column.name].dtype} instead.",
                field=column.name,
                expected="float64",
                received=str(df[column.name].dtype),
            )
    time = df[params.time_column]
    if pd.api.types.is_bool_dtype(time.dtype) or not pd.api.types.is_numeric_dtype(time.dtype):
        raise SchemaMismatchError(
            f"Column {params.time_column!r} must be numeric (cycles, hours). Got {time.dtype} "
            "instead.",
            field=params.time_column,
            expected="float64",
            received=str(time.dtype),
        )
    if params.setting_columns is None:
        settings = [n for n in names if "setting" in n.lower()]
    else:
        settings = list(params.setting_columns)
        for name in settings:
            if name not in names:
                raise SchemaMismatchError(
                    f"Setting column {name!r} must be one of the feature columns {names}.",
                    field=name,
                    expected=f"one of {names}",
                    received="nothing",
                )
    candidates = [n for n in names if n not in settings]
    inputs = [
        _unit_column(df[params.unit_column], params.unit_column),
        Column(name=params.time_column, dtype=ColumnType.FLOAT),
        *columns,
    ]
    signature = Signature(
        inputs=inputs,
        outputs=[Output(name="predictions", dtype=ColumnType.FLOAT)],
        task=Task.REGRESSION,
        group_by=params.unit_column,
        order_by=params.time_column,
    )
    return signature, settings, candidates


def _unit_column(series: pd.Series, name: str) -> Column:
    if series.isna().any():
        raise SchemaMismatchError(
            f"Column {name!r} must name the unit of every row. Got a missing value.",
            field=name,
            expected="a unit id on every row",
            received="a missing value",
        )
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise SchemaMismatchError(
            f"Column {name!r} must hold unit ids (integers or text). Got booleans instead.",
            field=name,
            expected="integers or text",
            received="bool",
        )
    if pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=np.float64)
        if (values % 1 != 0).any() or np.abs(values).max() >= _MAX_INT_UNIT:
            raise SchemaMismatchError(
                f"Column {name!r} must hold integer unit ids below {_MAX_INT_UNIT} (or text). "
                "Got other numbers instead.",
                field=name,
                expected=f"integers below {_MAX_INT_UNIT}, or text",
                received=str(dtype),
            )
        return Column(name=name, dtype=ColumnType.INT)
    return Column(name=name, dtype=ColumnType.STRING)


def _check_units(hist: UnitHistories, params: RemainingUsefulLifeParams) -> None:
    if hist.n_units < MIN_UNITS:
        raise InvalidParameterError(
            f"Template 'remaining_useful_life' needs at least {MIN_UNITS} units. "
            f"Got {hist.n_units} instead.",
            field=params.unit_column,
            expected=f">= {MIN_UNITS} units",
            received=hist.n_units,
        )
    lengths = np.diff(np.r_[hist.starts, len(hist.codes)])
    if lengths.min() < 2:
        short = hist.labels[int(np.argmin(lengths))]
        raise InvalidParameterError(
            f"Every unit needs at least 2 rows of history to learn from. Unit {short!r} has 1.",
            field=params.unit_column,
            expected=">= 2 rows per unit",
            received=f"1 row for unit {short!r}",
        )


def _target(
    df: pd.DataFrame, target: str | None, hist: UnitHistories, params: RemainingUsefulLifeParams
) -> np.ndarray:
    """Each sorted row's capped RUL."""
    if target is None:
        life = hist.elapsed[hist.ends][hist.codes]
        return np.asarray(np.minimum(life - hist.elapsed, params.rul_cap))
    series = df[target]
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise InvalidParameterError(
            f"Target column {target!r} must be numeric. Got {series.dtype} instead.",
            field=target,
            expected="numeric",
            received=str(series.dtype),
        )
    y = series.to_numpy(dtype=np.float64, na_value=np.nan)[hist.order]
    bad = int((~np.isfinite(y) | (y < 0)).sum())
    if bad:
        raise InvalidParameterError(
            f"Target column {target!r} must hold finite numbers >= 0. Got {bad} other values.",
            field=target,
            expected="finite numbers >= 0",
            received=f"{bad} missing, infinite or negative",
        )
    return np.asarray(np.minimum(y, params.rul_cap))


# --- the model --------------------------------------------------------------------------------


def _train(
    layout: HistoryLayout,
    hist: UnitHistories,
    y: np.ndarray,
    rows: np.ndarray,
    params: RemainingUsefulLifeParams,
) -> RulModel:
    """Fit the feature recipe and the booster on the sorted ``rows`` (indices).

    Raises:
        InvalidParameterError: no sensor varies within the operating conditions.
    """
    recipe = FeatureRecipe.fit(
        layout,
        hist,
        rows,
        windows=params.windows,
        drift_window=params.drift_window,
        baseline_cycles=params.baseline_cycles,
        max_conditions=params.max_conditions,
        seed=params.seed,
    )
    sampling: dict[str, Any] = {"feature_fraction": params.feature_fraction}
    if params.bagging_fraction < 1.0:
        sampling |= {"bagging_fraction": params.bagging_fraction, "bagging_freq": 1}
    booster = lgb.train(
        {
            "objective": "regression",
            "learning_rate": params.learning_rate,
            "num_leaves": params.num_leaves,
            **sampling,
            "seed": params.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
            "num_threads": 1,  # as in BoostedTemplate: training runs beside live serving
        },
        lgb.Dataset(recipe.features(hist, rows), label=y[rows]),
        num_boost_round=params.n_estimators,
    )
    return RulModel(recipe, booster)


# --- evaluation -------------------------------------------------------------------------------


def nasa_score(predicted: np.ndarray, true: np.ndarray) -> float:
    """The PHM08 score: ``Σ exp(-d/13) - 1`` for early and ``exp(d/10) - 1`` for late ones.

    ``d = predicted - true``; lower is better, and a late prediction costs more than an early
    one by the same amount.
    """
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


def rul_scores(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, the NASA score (sum) and the NASA score per prediction."""
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    score = nasa_score(predicted, true)
    return {
        "rmse": float(np.sqrt(np.mean(d**2))),
        "mae": float(np.mean(np.abs(d))),
        "nasa_score": score,
        "nasa_score_mean": score / len(d),
    }


def _evaluate(
    model: RulModel,
    hist: UnitHistories,
    y: np.ndarray,
    in_train: np.ndarray,
    valid: np.ndarray,
    params: RemainingUsefulLifeParams,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Score ``model`` and the by-age baseline on the held-out units.

    Returns the metrics, and the ``predicted_vs_true`` plot of the random truncations (the
    rows ``rmse`` scores).
    """
    position = np.arange(len(y)) - hist.first_row
    totals = np.bincount(position[in_train], weights=y[in_train])
    by_age = totals / np.maximum(np.bincount(position[in_train]), 1)

    def baseline(rows: np.ndarray) -> np.ndarray:
        return np.asarray(by_age[np.minimum(position[rows], len(by_age) - 1)])

    rng = np.random.default_rng(params.seed)
    units = np.sort(valid)
    ends = hist.ends[units]
    cuts = [
        rng.choice(
            np.arange(hist.starts[u], end + 1),
            size=min(params.truncations_per_unit, end + 1 - hist.starts[u]),
            replace=False,
        )
        for u, end in zip(units, ends, strict=True)
    ]
    truncated = np.sort(np.concatenate(cuts))
    metrics: dict[str, float] = {"n_truncations": float(len(truncated))}
    plots: dict[str, Any] = {}
    for rows, suffix in ((truncated, ""), (ends, "_last")):
        predicted = model.predict_rows(hist, rows)
        for name, value in rul_scores(predicted, y[rows]).items():
            metrics[f"{name}{suffix}"] = value
        for name, value in rul_scores(baseline(rows), y[rows]).items():
            metrics[f"baseline_{name}{suffix}"] = value
        if not suffix:  # the truncations, which the headline rmse scores
            plots = predicted_vs_true_plot(y[rows], predicted)
    return metrics, plots
