"""What this installation can run: artifact formats and training templates."""

from __future__ import annotations

from maas.ml.templates.catalog import TEMPLATES
from maas.runtimes.catalog import available_runtimes

__all__ = ["available_formats", "available_templates"]


def available_formats() -> list[str]:
    return sorted(available_runtimes())


def available_templates() -> list[str]:
    return sorted(TEMPLATES)
