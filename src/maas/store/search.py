"""Substring search over name-like columns, always through bound parameters."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_
from sqlalchemy.orm import InstrumentedAttribute

__all__ = ["contains_text"]


def contains_text(q: str, *columns: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """Rows where any of ``columns`` contains ``q`` literally (``%``, ``_`` and ``\\`` in
    ``q`` match themselves). The text is a bound parameter: it can never become SQL."""
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(*(column.like(pattern, escape="\\") for column in columns))
