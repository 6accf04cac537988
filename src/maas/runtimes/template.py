"""The template runtime: serves any template whose fitted state is plain JSON.

An artifact is UTF-8 JSON::

    {"maas_artifact": "template", "artifact_version": 1,
     "template": "<spec name in ml.templates.catalog>",
     "state": {...}}   # the template's own JSON state (LightGBM boosters as model text,
                       # arrays as lists, vocabularies as lists): never pickle

Loading looks the template class up by name and calls its ``from_state(state, signature)``
classmethod, which must return an object with ``predict_matrix(x, explain) -> Prediction``
(the ``Predictor`` contract of ``runtimes.base``, inputs in signature order). Nothing in the
bytes is executed or imported by name beyond that catalogue look-up.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from maas.domain.signature import Signature
from maas.errors import InvalidParameterError, UnsupportedFormatError
from maas.ml.templates.artifact import (
    TEMPLATE_ARTIFACT,
    TEMPLATE_ARTIFACT_VERSION,
    dump_template_artifact,
)
from maas.ml.templates.catalog import get_template
from maas.runtimes.base import Prediction

__all__ = ["TEMPLATE_ARTIFACT", "TemplatePredictor", "TemplateRuntime", "dump_template_artifact"]

_VERSION = TEMPLATE_ARTIFACT_VERSION


class TemplatePredictor:
    """Wraps what a template's ``from_state`` returns."""

    def __init__(self, inner: Any, signature: Signature) -> None:
        self._inner = inner
        self.signature = signature
        self.row_wise: bool = bool(getattr(inner, "row_wise", False))
        """Whether each row is predicted on its own (the template says so), so that
        concurrent requests may be batched; models answering per unit or series are not."""

    def predict(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        result = self._inner.predict_matrix(x, explain=explain)
        if not isinstance(result, Prediction):
            raise TypeError("a template predictor must return a Prediction")
        return result


class TemplateRuntime:
    """Loads ``template`` artifacts (format ``"template"``)."""

    format = TEMPLATE_ARTIFACT

    def load(self, data: bytes, signature: Signature) -> TemplatePredictor:
        """Raises: UnsupportedFormatError for anything but a readable template envelope."""
        try:
            envelope = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnsupportedFormatError(
                "The artifact is not a template envelope (not UTF-8 JSON).", field="artifact"
            ) from exc
        if (
            not isinstance(envelope, dict)
            or envelope.get("maas_artifact") != TEMPLATE_ARTIFACT
            or envelope.get("artifact_version") != _VERSION
            or not isinstance(envelope.get("state"), dict)
        ):
            raise UnsupportedFormatError(
                f"The artifact is not a version {_VERSION} template envelope.",
                field="artifact",
                expected={"maas_artifact": TEMPLATE_ARTIFACT, "artifact_version": _VERSION},
            )
        try:
            cls = get_template(str(envelope.get("template")))
        except InvalidParameterError as exc:
            raise UnsupportedFormatError(str(exc), field="template") from exc
        from_state = getattr(cls, "from_state", None)
        if from_state is None:
            raise UnsupportedFormatError(
                f"Template {envelope['template']!r} cannot be served from a template artifact.",
                field="template",
            )
        return TemplatePredictor(from_state(envelope["state"], signature), signature)
