"""Model signatures: which columns a model takes and what it returns, and the checks on them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maas.errors import SchemaMismatchError

__all__ = [
    "Column",
    "ColumnType",
    "Output",
    "Signature",
    "Task",
    "check_column_names",
]


class ColumnType(StrEnum):
    """Types a signature column can have (JSON: number, integer, boolean, string)."""

    FLOAT = "float64"
    INT = "int64"
    BOOL = "bool"
    CATEGORY = "category"
    STRING = "string"


class Task(StrEnum):
    """What a model's prediction means."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    ANOMALY = "anomaly"
    FORECAST = "forecast"


class Column(BaseModel):
    """One input column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    dtype: ColumnType = ColumnType.FLOAT
    categories: list[str] | None = None
    """Allowed values of a ``category`` column, in the order the model encodes them."""
    nullable: bool = False
    """Whether null / missing values are allowed (the model treats them as missing)."""
    description: str | None = None

    @model_validator(mode="after")
    def _categories_only_for_category(self) -> Column:
        if self.dtype is ColumnType.CATEGORY and not self.categories:
            raise ValueError(f"column {self.name!r} has dtype category but no categories")
        if self.dtype is not ColumnType.CATEGORY and self.categories is not None:
            raise ValueError(f"column {self.name!r} lists categories but is not a category")
        return self


class Output(BaseModel):
    """One output of a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dtype: ColumnType = ColumnType.FLOAT
    shape: list[int] = Field(default_factory=lambda: [-1])


class Signature(BaseModel):
    """The contract between a model version and its callers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[Column] = Field(min_length=1)
    outputs: list[Output] = Field(default_factory=list)
    task: Task = Task.REGRESSION
    classes: list[str] | None = None
    """Class labels of a classifier, in the order of its probability columns."""
    group_by: str | None = None
    """Input column naming the unit or series each row belongs to, for models that answer per
    group (remaining useful life per unit, forecasts per series)."""
    order_by: str | None = None
    """Input column ordering the rows of a group in time (cycle, timestamp)."""
    horizon: int | None = Field(default=None, ge=1)
    """Steps ahead a forecaster predicts."""
    quantiles: list[float] | None = None
    """Quantile levels a probabilistic model predicts."""

    @model_validator(mode="after")
    def _unique_names(self) -> Signature:
        names = [c.name for c in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"input columns must be unique; repeated: {dupes}")
        if self.task is Task.CLASSIFICATION and not self.classes:
            raise ValueError("a classification signature needs its classes")
        for member in ("group_by", "order_by"):
            column = getattr(self, member)
            if column is not None and column not in names:
                raise ValueError(f"{member} names {column!r}, which is not an input column")
        return self

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]


def check_column_names(
    signature: Signature, received: Iterable[str], *, model: str = "the model"
) -> None:
    """Check that ``received`` names exactly the signature's input columns.

    Raises:
        SchemaMismatchError: a column is missing or one is not in the signature; the error names
            the first such column.
    """
    got = list(received)
    got_set = set(got)
    for column in signature.inputs:
        if column.name not in got_set:
            raise SchemaMismatchError(
                f"Column {column.name!r} of {model} is missing.",
                field=column.name,
                expected=_describe(column),
                received="nothing",
            )
    expected = set(signature.input_names)
    for name in got:
        if name not in expected:
            raise SchemaMismatchError(
                f"Column {name!r} is not an input of {model}; its inputs are "
                f"{signature.input_names}.",
                field=name,
                expected="no such column",
                received=name,
            )


def _describe(column: Column) -> Any:
    if column.dtype is ColumnType.CATEGORY:
        return f"one of {column.categories}"
    return column.dtype.value
