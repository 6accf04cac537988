"""The training templates by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from maas.errors import InvalidParameterError
from maas.ml.templates.anomaly import AnomalyDetection
from maas.ml.templates.base import Template
from maas.ml.templates.failure import FailurePrediction
from maas.ml.templates.forecast import DemandForecast
from maas.ml.templates.quality import QualityClassification
from maas.ml.templates.regression import TabularRegression
from maas.ml.templates.rul import RemainingUsefulLife
from maas.ml.templates.text import TextClassification

__all__ = ["TEMPLATES", "get_template"]

TEMPLATES: Mapping[str, type[Template]] = MappingProxyType(
    {
        cls.spec.name: cls
        for cls in (
            FailurePrediction,
            TabularRegression,
            RemainingUsefulLife,
            DemandForecast,
            QualityClassification,
            AnomalyDetection,
            TextClassification,
        )
    }
)
"""Every built-in template class, keyed by ``spec.name``; read-only."""


def get_template(name: str) -> type[Template]:
    """Return the template class called ``name``.

    Raises:
        InvalidParameterError: no template has that name; the message lists the known names.
    """
    try:
        return TEMPLATES[name]
    except KeyError:
        known = sorted(TEMPLATES)
        raise InvalidParameterError(
            f"Template {name!r} does not exist. Known templates: {known}.",
            field="template",
            expected=known,
            received=name,
        ) from None
