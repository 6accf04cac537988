"""Tabular features: infer a frame's input columns and encode frames into the runtime's matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from maas.domain.signature import Column, ColumnType, Signature
from maas.errors import SchemaMismatchError

__all__ = ["MAX_CATEGORIES", "encode_frame", "infer_columns", "select_features"]

MAX_CATEGORIES = 50
"""A text column with more distinct values than this is not treated as a category."""


def select_features(df: pd.DataFrame, target: str, features: Sequence[str] | None) -> list[str]:
    """Return the input column names: ``features`` if given, else every column but ``target``.

    Raises:
        SchemaMismatchError: ``target`` or a named feature is not a column of ``df``, the target
            is also listed as a feature, a feature is named twice or not by 1-128 characters of
            text, or no feature is left.
    """
    if target not in df.columns:
        raise SchemaMismatchError(
            f"Target column {target!r} is missing from the data.",
            field=target,
            expected="a column of the data",
            received=f"columns {[str(c) for c in df.columns]}",
        )
    if features is None:
        names = [c for c in df.columns if c != target]
    else:
        names = [features] if isinstance(features, str) else list(features)
        for name in names:
            if name not in df.columns:
                raise SchemaMismatchError(
                    f"Feature column {name!r} is missing from the data.",
                    field=name,
                    expected="a column of the data",
                    received="nothing",
                )
        if target in names:
            raise SchemaMismatchError(
                f"Target column {target!r} cannot also be a feature.",
                field=target,
                expected="a column that is not a feature",
                received="listed in features",
            )
    for name in names:
        if not isinstance(name, str) or not 1 <= len(name) <= 128 or names.count(name) > 1:
            raise SchemaMismatchError(
                f"Feature column {name!r} must be named once, by 1-128 characters of text.",
                field=str(name),
                expected="a unique column name of 1-128 characters",
                received=repr(name),
            )
    if not names:
        raise SchemaMismatchError(
            "The data has no feature column besides the target.",
            field="features",
            expected="at least one column",
            received="none",
        )
    return names


def infer_columns(df: pd.DataFrame, names: Sequence[str]) -> list[Column]:
    """Infer a signature column for each of ``names`` from the values in ``df``.

    Numbers become ``float64``, booleans ``bool``, and text or categorical columns with at most
    ``MAX_CATEGORIES`` distinct values ``category`` with their values sorted as strings. A column
    is ``nullable`` when it holds missing values.

    Raises:
        SchemaMismatchError: a column is none of those (free text, dates, ...).
    """
    columns = []
    for name in names:
        series = df[name]
        nullable = bool(series.isna().any())
        kind = _kind(series)
        if kind == "boolean":
            columns.append(Column(name=name, dtype=ColumnType.BOOL, nullable=nullable))
        elif kind == "numeric":
            columns.append(Column(name=name, dtype=ColumnType.FLOAT, nullable=nullable))
        elif kind == "category":
            values = sorted({str(v) for v in series.dropna().unique()})
            if not values or len(values) > MAX_CATEGORIES:
                raise SchemaMismatchError(
                    f"Column {name!r} must be numeric, boolean or a category of at most "
                    f"{MAX_CATEGORIES} values. Got text with {len(values)} distinct values "
                    "instead.",
                    field=name,
                    expected=f"number, boolean or at most {MAX_CATEGORIES} categories",
                    received=f"{len(values)} distinct values",
                )
            columns.append(
                Column(name=name, dtype=ColumnType.CATEGORY, categories=values, nullable=nullable)
            )
        else:
            raise SchemaMismatchError(
                f"Column {name!r} must be numeric, boolean or a category. Got {kind} values "
                "instead.",
                field=name,
                expected="number, boolean or category",
                received=kind,
            )
    return columns


def _kind(series: pd.Series) -> str:
    """Name what a column holds: boolean, numeric, category, or what pandas infers otherwise."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype):
        return "category"
    # object columns: look at the values (skipping missing ones) to tell text from the rest
    inferred = str(pd.api.types.infer_dtype(series, skipna=True))
    return {"string": "category", "boolean": "boolean", "empty": "category"}.get(inferred, inferred)


def encode_frame(df: pd.DataFrame, signature: Signature) -> np.ndarray:
    """Encode ``df`` into the ``float32`` matrix a runtime takes, one column per signature input.

    Categories become their index in the column's ``categories``, booleans 0/1, and missing
    values stay NaN. Columns of ``df`` that are not inputs (the target, say) are ignored.

    Raises:
        SchemaMismatchError: an input column is missing, holds a value that is not a number (or a
            boolean), or a category the signature does not list.
    """
    out = np.empty((len(df), len(signature.inputs)), dtype=np.float32)
    for j, column in enumerate(signature.inputs):
        if column.name not in df.columns:
            raise SchemaMismatchError(
                f"Column {column.name!r} is missing.",
                field=column.name,
                expected=column.dtype.value,
                received="nothing",
            )
        out[:, j] = _encode_column(df[column.name], column)
    return out


def _encode_column(series: pd.Series, column: Column) -> np.ndarray:
    if column.dtype is ColumnType.CATEGORY:
        assert column.categories is not None  # the Column validator guarantees it
        text = series.astype("string")
        codes = pd.Index(column.categories).get_indexer(text)
        unknown = (codes < 0) & text.notna().to_numpy()
        if unknown.any():
            received = text[unknown].iloc[0]
            raise SchemaMismatchError(
                f"Column {column.name!r} must be one of {column.categories}. "
                f"Got {received!r} instead.",
                field=column.name,
                expected=f"one of {column.categories}",
                received=received,
            )
        return np.where(codes < 0, np.nan, codes).astype(np.float32)
    try:
        if column.dtype is ColumnType.BOOL and not pd.api.types.is_bool_dtype(series.dtype):
            series = series.astype("boolean")
        values: np.ndarray = pd.to_numeric(series).to_numpy(dtype=np.float32, na_value=np.nan)
        return values
    except (TypeError, ValueError) as exc:
        raise SchemaMismatchError(
            f"Column {column.name!r} must be {column.dtype.value}. Got {series.dtype} values "
            "that do not convert instead.",
            field=column.name,
            expected=column.dtype.value,
            received=str(series.dtype),
        ) from exc
