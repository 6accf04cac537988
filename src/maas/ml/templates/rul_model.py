"""The fitted remaining-useful-life model: what the ``template`` runtime serves.

``RulModel`` holds a ``FeatureRecipe`` and a LightGBM booster. Its state is plain JSON (the
booster as LightGBM's model text); ``predict_matrix`` answers one RUL per unit of the input rows.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from maas.domain.signature import ColumnType, Signature
from maas.errors import ModelExecutionError, UnsupportedFormatError
from maas.ml.prediction import Prediction
from maas.ml.templates.rul_features import FeatureRecipe, HistoryLayout, UnitHistories

__all__ = ["RulModel"]

_STATE_VERSION = 1


class RulModel:
    """A fitted RUL model (feature recipe and booster) with a JSON state.

    It is what the ``template`` runtime serves: ``predict_matrix`` takes rows in signature
    order and answers one RUL per unit, at the unit's latest row.
    """

    def __init__(self, recipe: FeatureRecipe, booster: lgb.Booster) -> None:
        self.recipe = recipe
        self.booster = booster
        self.sources = recipe.sources

    def predict_rows(self, hist: UnitHistories, rows: np.ndarray) -> np.ndarray:
        """The RUL predicted at sorted ``rows`` from the history up to each."""
        return self._predict(self.recipe.features(hist, rows))

    def predict_matrix(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Predict each unit's RUL at its latest row (the ``template`` runtime's predictor).

        Units come in order of first appearance in ``x``; ``keys`` name them. Contributions
        (when ``explain``) are summed from the derived features onto their input columns, with
        the expected value last; each row adds up to the prediction.

        Raises:
            SchemaMismatchError: a unit or time is missing, or a unit has two rows at one time.
            ModelExecutionError: LightGBM failed on the features.
        """
        layout = self.recipe.layout
        if len(x) == 0:
            empty = np.zeros((0, len(layout.inputs) + 1)) if explain else None
            return Prediction(predictions=np.zeros(0), contributions=empty, keys=[])
        hist = layout.histories(x)
        f = self.recipe.features(hist, hist.ends)
        predictions = self._predict(f)
        keys = [{layout.unit: label} for label in hist.labels]
        contributions = None
        if explain:
            raw = self._predict(f, pred_contrib=True)
            to_input = np.zeros((len(self.sources), len(layout.inputs)))
            to_input[np.arange(len(self.sources)), self.sources] = 1.0
            contributions = np.column_stack([raw[:, :-1] @ to_input, raw[:, -1]])
        return Prediction(predictions=predictions, contributions=contributions, keys=keys)

    def _predict(self, f: np.ndarray, *, pred_contrib: bool = False) -> np.ndarray:
        # One row per unit is a small batch: one thread beats OpenMP's start-up and spinning.
        try:
            out = self.booster.predict(f, pred_contrib=pred_contrib, num_threads=1)
        except lgb.basic.LightGBMError as exc:
            raise ModelExecutionError(f"LightGBM failed to predict: {exc}") from exc
        return np.asarray(out, dtype=np.float64)

    def input_importance(self) -> list[float]:
        """Each input's share of the total split gain (derived features summed onto it)."""
        gain = self.booster.feature_importance(importance_type="gain")
        n_inputs = len(self.recipe.layout.inputs)
        per_input = np.bincount(self.sources, weights=gain, minlength=n_inputs)
        total = float(per_input.sum()) or 1.0
        return [float(g) / total for g in per_input]

    def to_state(self) -> dict[str, Any]:
        """The model as plain JSON values (the booster as LightGBM's model text)."""
        return {
            "state_version": _STATE_VERSION,
            "recipe": self.recipe.to_state(),
            "booster": self.booster.model_to_string(),
            "library_versions": {"lightgbm": lgb.__version__},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> RulModel:
        """Rebuild from ``to_state``'s output, for ``signature``.

        Raises:
            UnsupportedFormatError: the state is of another version or malformed (the booster
                not LightGBM model text taking the recipe's features), or ``signature`` is not
                exactly the unit, time, setting and sensor columns the state reads.
        """
        try:
            if state["state_version"] != _STATE_VERSION:
                raise KeyError("state_version")
            recipe = FeatureRecipe.from_state(state["recipe"], signature)
            text = state["booster"]
            if not isinstance(text, str) or not text:
                raise TypeError("the booster must be LightGBM model text")
            booster = lgb.Booster(model_str=text)
            n_features = len(recipe.sources)
            if booster.num_feature() != n_features or booster.num_model_per_iteration() != 1:
                raise ValueError(
                    f"the booster takes {booster.num_feature()} features, the recipe gives "
                    f"{n_features}, or answers more than one value"
                )
        except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as exc:
            raise UnsupportedFormatError(
                f"The remaining-useful-life state is not a version {_STATE_VERSION} state "
                f"for this signature: {exc}.",
                field="state",
                expected=f"a remaining_useful_life state, version {_STATE_VERSION}",
                received=type(exc).__name__,
            ) from exc
        _check_signature(recipe.layout, signature)
        return cls(recipe, booster)


def _check_signature(layout: HistoryLayout, signature: Signature) -> None:
    """Check that ``signature``'s inputs are exactly the columns ``layout`` reads, typed so.

    Raises:
        UnsupportedFormatError: an input is extra, or of a type the layout cannot read (the
            unit as text or integers as in training, every other column numeric).
    """
    read = {layout.unit, layout.time, *layout.settings, *layout.candidates}
    extra = [name for name in signature.input_names if name not in read]
    if extra:
        raise UnsupportedFormatError(
            f"The model reads the columns {sorted(read)}; the signature also has {extra}.",
            field="inputs",
            expected=sorted(read),
            received=signature.input_names,
        )
    unit_type = ColumnType.STRING if layout.unit_is_text else ColumnType.INT
    numeric = (ColumnType.FLOAT, ColumnType.INT)
    for column in signature.inputs:
        wanted = (unit_type,) if column.name == layout.unit else numeric
        if column.dtype not in wanted:
            raise UnsupportedFormatError(
                f"Column {column.name!r} must be {' or '.join(t.value for t in wanted)} for "
                f"this model. Got {column.dtype.value} instead.",
                field=column.name,
                expected=[t.value for t in wanted],
                received=column.dtype.value,
            )
