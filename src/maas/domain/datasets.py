"""What a dataset version says about its data: columns, their profile and quality findings.

Pure records (pydantic only), shared by the profiler (``ml.profiling``), the store and the
wire schemas, so the three never drift apart.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from maas.domain.signature import ColumnType

__all__ = [
    "CategoryCount",
    "ColumnProfile",
    "DatasetColumn",
    "DatasetFormat",
    "DatasetProfile",
    "DatasetSource",
    "QualityCheck",
    "QualityFinding",
    "Severity",
]


class DatasetFormat(StrEnum):
    """File formats a dataset can be uploaded in (it is always stored as Parquet)."""

    CSV = "csv"
    PARQUET = "parquet"


class DatasetSource(StrEnum):
    """How a version came to be."""

    UPLOAD = "upload"
    """A whole file, replacing what the dataset held before."""
    APPEND = "append"
    """The previous version's rows followed by newly uploaded rows."""


class Severity(StrEnum):
    """How much a quality finding matters."""

    WARNING = "warning"
    """Worth a look: the data is usable, but a model may learn less from it."""
    ERROR = "error"
    """The data as it is would mislead a model (mixed units, a column that is always empty,
    the same moment recorded twice)."""


class QualityCheck(StrEnum):
    """The data-quality checks run on every new version."""

    CONSTANT = "constant_column"
    MOSTLY_MISSING = "mostly_missing"
    SHORT_HISTORIES = "short_histories"
    DUPLICATE_TIMESTAMPS = "duplicate_timestamps"
    MIXED_UNITS = "mixed_units"
    UNIT_IN_VALUES = "unit_in_values"
    NON_NUMERIC = "non_numeric_values"


class QualityFinding(BaseModel):
    """One thing a plant engineer should know about the data, in plain words."""

    model_config = ConfigDict(frozen=True)

    check: QualityCheck
    severity: Severity
    column: str | None = None
    """The column the finding is about; ``None`` for findings about whole rows."""
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    """The numbers behind the message (counts, fractions, examples)."""


class DatasetColumn(BaseModel):
    """One column of a dataset version's schema."""

    model_config = ConfigDict(frozen=True)

    name: str
    dtype: ColumnType
    """The column's type as model signatures name it (timestamps are ``string`` here; see
    ``arrow_type``)."""
    arrow_type: str
    """The exact stored type: ``int64``, ``double``, ``bool``, ``string``, ``timestamp[us]``,
    ``timestamp[us, tz=UTC]``."""
    nullable: bool
    """Whether the column has missing values."""


class CategoryCount(BaseModel):
    """A value of a text column and how many rows hold it."""

    model_config = ConfigDict(frozen=True)

    value: str
    count: int


class ColumnProfile(BaseModel):
    """Summary statistics of one column."""

    model_config = ConfigDict(frozen=True)

    name: str
    dtype: ColumnType
    missing: int
    """Empty cells (and NaN or infinite numbers)."""
    missing_fraction: float
    distinct: int
    """Different non-missing values; an estimate when ``distinct_exact`` is false."""
    distinct_exact: bool
    min: float | int | str | None = None
    """Smallest value of a number or timestamp column (timestamps in ISO 8601)."""
    max: float | int | str | None = None
    mean: float | None = None
    std: float | None = None
    top: list[CategoryCount] | None = None
    """Most frequent values of a text or boolean column; ``None`` for numbers, and for text
    columns with too many different values to count."""


class DatasetProfile(BaseModel):
    """The profile of a whole version: its size, each column, and the columns the
    per-unit checks used."""

    model_config = ConfigDict(frozen=True)

    rows: int
    columns: list[ColumnProfile]
    unit_column: str | None = None
    """The column naming the machine or unit each row belongs to (given or found by name)."""
    time_column: str | None = None
    """The column ordering each unit's rows in time (given or found by name or type)."""
