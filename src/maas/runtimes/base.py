"""The runtime contract: artifact bytes in, a ``Predictor`` out. No database, no HTTP.

A runtime implements:

- ``format``: the string stored with each version (``"lightgbm"``, ``"onnx"``).
- ``load(data, signature)``: build a predictor from the artifact's bytes. It must never
  unpickle or execute the bytes; it must raise ``UnsupportedFormatError`` for bytes that are not
  its format and ``IntegrityError`` never (checksums are the store's job).

A predictor implements ``predict(X, explain=False)``, where ``X`` is a 2-D array with one column
per signature input, in signature order: ``float32`` when every input is numeric (category
columns carry their category's index, missing values are NaN), ``object`` otherwise. It must be
safe to call from several threads at once.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from maas.domain.signature import Signature
from maas.ml.prediction import Prediction

__all__ = ["Prediction", "Predictor", "Runtime"]


@runtime_checkable
class Predictor(Protocol):
    """A loaded model, ready to predict."""

    signature: Signature

    def predict(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Predict for the rows of ``x`` (see the module docstring for its layout).

        Raises:
            ModelExecutionError: the model failed on this input.
            InvalidParameterError: ``explain`` was asked of a model that cannot explain.
        """
        ...


@runtime_checkable
class Runtime(Protocol):
    """Turns stored artifact bytes of one format into predictors."""

    format: str

    def load(self, data: bytes, signature: Signature) -> Predictor:
        """Build a predictor from ``data``.

        Raises:
            UnsupportedFormatError: ``data`` is not a valid artifact of this format.
        """
        ...
