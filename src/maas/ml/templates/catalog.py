"""The training templates by name.

Each template module is imported on first look-up, not here: the server loads only the
templates of the models it serves, and scikit-learn and SciPy come with the templates that
train with them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from maas.errors import InvalidParameterError

if TYPE_CHECKING:
    from maas.ml.templates.base import Template

__all__ = ["TEMPLATES", "get_template"]

_LOCATIONS: Mapping[str, tuple[str, str]] = {
    "failure_prediction": ("maas.ml.templates.failure", "FailurePrediction"),
    "tabular_regression": ("maas.ml.templates.regression", "TabularRegression"),
    "remaining_useful_life": ("maas.ml.templates.rul", "RemainingUsefulLife"),
    "demand_forecast": ("maas.ml.templates.forecast", "DemandForecast"),
    "quality_classification": ("maas.ml.templates.quality", "QualityClassification"),
    "anomaly_detection": ("maas.ml.templates.anomaly", "AnomalyDetection"),
    "text_classification": ("maas.ml.templates.text", "TextClassification"),
}
"""Template name (its ``spec.name``) → module and class: a fixed table, never an import string
from outside."""


@cache
def _load(name: str) -> type[Template]:
    module, attribute = _LOCATIONS[name]
    cls: type[Template] = getattr(import_module(module), attribute)
    return cls


class _Templates(Mapping[str, "type[Template]"]):
    """Read-only mapping name → template class that imports a class when it is looked up."""

    def __getitem__(self, name: str) -> type[Template]:
        if name not in _LOCATIONS:
            raise KeyError(name)
        return _load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_LOCATIONS)

    def __len__(self) -> int:
        return len(_LOCATIONS)

    def __repr__(self) -> str:
        return f"TEMPLATES({sorted(_LOCATIONS)})"


TEMPLATES: Mapping[str, type[Template]] = _Templates()
"""Every built-in template class, keyed by ``spec.name``; read-only; each class is imported on
first look-up."""


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
