"""Tabular regression: a LightGBM regressor of a numeric target (tool life, yield, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from maas.domain.signature import Task
from maas.errors import InvalidParameterError
from maas.ml.plots import predicted_vs_true_plot
from maas.ml.templates.base import BoostedTemplate, BoostingParams, TemplateSpec

__all__ = ["TabularRegression", "TabularRegressionParams"]


class TabularRegressionParams(BoostingParams):
    """Parameters of the tabular-regression template."""


class TabularRegression(BoostedTemplate):
    """Predict a number from one row of readings with gradient-boosted trees.

    Metrics (validation rows): ``rmse``, ``mae``, ``r2``; and ``baseline_rmse``,
    ``baseline_mae`` of always predicting the training rows' mean. Plots: those rows'
    ``predicted_vs_true``.
    """

    spec = TemplateSpec(
        name="tabular_regression",
        task=Task.REGRESSION,
        description=(
            "Predict a numeric target (remaining tool life, yield, energy) from tabular "
            "readings with gradient-boosted trees."
        ),
        params=TabularRegressionParams,
    )

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Return the predicted value (``float64``) of each row.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` does not match ``signature_``.
        """
        x = self._encode(df)
        return np.asarray(self.booster_.predict(x), dtype=np.float64)

    def _encode_target(self, series: pd.Series, name: str) -> tuple[np.ndarray, list[str] | None]:
        if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(
            series.dtype
        ):
            raise InvalidParameterError(
                f"Target column {name!r} must be numeric. Got {series.dtype} instead.",
                field=name,
                expected="numeric",
                received=str(series.dtype),
            )
        y = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = int((~np.isfinite(y)).sum())
        if bad:
            raise InvalidParameterError(
                f"Target column {name!r} must hold finite numbers only. Got {bad} missing or "
                "infinite values instead.",
                field=name,
                expected="finite numbers",
                received=f"{bad} missing or infinite",
            )
        if np.ptp(y) == 0:
            raise InvalidParameterError(
                f"Target column {name!r} must vary to be learnt. Got the single value {y[0]} "
                "instead.",
                field=name,
                expected="at least two distinct values",
                received=f"only {y[0]}",
            )
        return y, None

    def _objective(
        self,
        y_train: np.ndarray,  # noqa: ARG002 - a regressor weighs every row alike
        classes: list[str] | None,  # noqa: ARG002 - and has no classes
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        return {"objective": "regression"}, None

    def _evaluate(
        self, x_valid: np.ndarray, y_valid: np.ndarray, y_train: np.ndarray
    ) -> tuple[dict[str, float], dict[str, Any]]:
        from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

        predicted = self.booster_.predict(x_valid)
        baseline = np.full_like(y_valid, y_train.mean())
        metrics = {
            "rmse": float(root_mean_squared_error(y_valid, predicted)),
            "mae": float(mean_absolute_error(y_valid, predicted)),
            "r2": float(r2_score(y_valid, predicted)),
            "baseline_rmse": float(root_mean_squared_error(y_valid, baseline)),
            "baseline_mae": float(mean_absolute_error(y_valid, baseline)),
        }
        return metrics, predicted_vs_true_plot(y_valid, predicted)
