"""Turn JSON rows or columns into the input matrix a predictor takes, checking the signature.

This is on every prediction's path: the common case (numeric columns, no nulls) is one
``np.asarray`` over the values and one ``astype``; only when that fails does a slower pass run,
and its job is to name the offending column, what it expected and what it got.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np

from maas.domain.signature import Column, ColumnType, Signature, check_column_names
from maas.errors import InvalidInputError, SchemaMismatchError

__all__ = ["MatrixEncoder", "columns_to_matrix", "rows_to_matrix", "tensors_to_matrix"]

_NUMERIC_KINDS = frozenset("fiub")
_FAST_TYPES = (ColumnType.FLOAT, ColumnType.INT, ColumnType.CATEGORY)


def _is_numeric_signature(signature: Signature) -> bool:
    return all(c.dtype in (ColumnType.FLOAT, ColumnType.INT) for c in signature.inputs)


class MatrixEncoder:
    """A signature compiled once, for the hot path: JSON rows or columns → input matrix.

    When every input is a number, an integer or a category and takes no nulls, rows are read
    with one list comprehension (categories through a dict) and columns with one
    ``np.asarray`` each (categories through their dict in ``np.fromiter``), then turned
    into a contiguous float32 matrix at once. Anything else, and every error, goes through
    ``rows_to_matrix`` / ``columns_to_matrix``, so errors name the column, the expected type
    and what came, exactly as there.
    """

    def __init__(self, signature: Signature, *, model: str = "the model") -> None:
        self.signature = signature
        self.model = model
        self.names = tuple(signature.input_names)
        self._fast = all(c.dtype in _FAST_TYPES and not c.nullable for c in signature.inputs)
        self._categories = [
            (j, {v: float(k) for k, v in enumerate(c.categories or [])})
            for j, c in enumerate(signature.inputs)
            if c.dtype is ColumnType.CATEGORY
        ]
        self._ints = [j for j, c in enumerate(signature.inputs) if c.dtype is ColumnType.INT]

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``rows_to_matrix`` for this signature. Raises: as ``rows_to_matrix``."""
        if self._fast and rows:
            out = self._rows_fast(rows)
            if out is not None:
                return out
        return rows_to_matrix(rows, self.signature, model=self.model)

    def columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """``columns_to_matrix`` for this signature. Raises: as ``columns_to_matrix``."""
        if self._fast and len(columns) == len(self.names):
            out = self._columns_fast(columns)
            if out is not None:
                return out
        return columns_to_matrix(columns, self.signature, model=self.model)

    def _rows_fast(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
        names, width = self.names, len(self.names)
        try:
            values = [[row[n] for n in names] for row in rows if len(row) == width]
            if len(values) != len(rows):
                return None
            for j, index in self._categories:
                for v in values:
                    v[j] = index[v[j]]
            arr = np.asarray(values)
        except (KeyError, TypeError, ValueError):
            return None
        if arr.dtype.kind not in "fiu" or arr.ndim != 2:
            return None
        if bool in map(type, chain.from_iterable(values)):
            return None
        return self._finish(arr)

    def _columns_fast(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray | None:
        out: np.ndarray | None = None
        categories = dict(self._categories)
        for j, name in enumerate(self.names):
            col = columns.get(name)
            if not isinstance(col, list):
                return None
            if out is None:
                if not col:
                    return None
                out = np.empty((len(col), len(self.names)), dtype=np.float32)
            elif len(col) != len(out):
                return None
            index = categories.get(j)
            if index is not None:  # its categories' codes, looked up in C (no sort, no array)
                try:
                    out[:, j] = np.fromiter(map(index.__getitem__, col), np.float32, len(col))
                except (KeyError, TypeError):  # not one of them (or not hashable): the slow
                    return None  # path says which value, where
                continue
            try:
                arr = np.asarray(col)
            except ValueError:
                return None
            if arr.ndim != 1:
                return None
            if arr.dtype.kind not in "fiu" or bool in map(type, col):
                return None
            if j in self._ints and arr.dtype.kind == "f" and not (arr == np.round(arr)).all():
                return None
            with np.errstate(over="ignore"):
                out[:, j] = arr
        if out is None or not np.isfinite(out).all():
            return None
        return out

    def _finish(self, arr: np.ndarray) -> np.ndarray | None:
        if self._ints and arr.dtype.kind == "f":
            ints = arr[:, self._ints]
            if not (ints == np.round(ints)).all():
                return None
        with np.errstate(over="ignore"):
            out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            return None
        return out


def rows_to_matrix(
    rows: Sequence[Mapping[str, Any]], signature: Signature, *, model: str = "the model"
) -> np.ndarray:
    """Encode a list of row objects into the predictor's input matrix.

    Raises:
        SchemaMismatchError: a row misses a column, has an unknown one, or a value of the
            wrong type (the error names the column, the expected type and what came).
        InvalidInputError: there are no rows.
    """
    if not rows:
        raise InvalidInputError("At least one row is needed.", field="rows", received=0)
    names = signature.input_names
    width = len(names)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SchemaMismatchError(
                f"Row {i} must be an object of column: value. Got {type(row).__name__} instead.",
                field=f"rows[{i}]",
                expected="object",
                received=type(row).__name__,
            )
        if len(row) != width:
            check_column_names(signature, row.keys(), model=model)
    try:
        values = [[row[n] for n in names] for row in rows]
    except KeyError:
        for row in rows:
            check_column_names(signature, row.keys(), model=model)
        raise
    if _is_numeric_signature(signature):
        fast = _numeric_fast(values)
        if fast is not None:
            return fast
    columns = {n: [v[j] for v in values] for j, n in enumerate(names)}
    return _encode_columns(columns, signature, model=model, where="rows")


def columns_to_matrix(
    columns: Mapping[str, Sequence[Any]], signature: Signature, *, model: str = "the model"
) -> np.ndarray:
    """Encode a mapping of column name → values into the predictor's input matrix.

    Raises:
        SchemaMismatchError: a column is missing, unknown, of the wrong type, or of another
            length than the others.
        InvalidInputError: the columns are empty.
    """
    check_column_names(signature, columns.keys(), model=model)
    lengths = {len(v) if isinstance(v, Sequence) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        first = signature.inputs[0].name
        for name, col in columns.items():
            if not isinstance(col, Sequence) or len(col) != len(columns[first]):
                raise SchemaMismatchError(
                    f"Column {name!r} must be a list as long as the others "
                    f"({len(columns[first])}).",
                    field=f"columns.{name}",
                    expected=len(columns[first]),
                    received=len(col) if isinstance(col, Sequence) else type(col).__name__,
                )
    if lengths == {0}:
        raise InvalidInputError("At least one row is needed.", field="columns", received=0)
    if _is_numeric_signature(signature):
        try:
            arr = np.asarray([columns[n] for n in signature.input_names])
        except ValueError:
            arr = None
        if arr is not None and arr.dtype.kind in _NUMERIC_KINDS:
            with np.errstate(over="ignore"):
                out = np.ascontiguousarray(arr.T, dtype=np.float32)
            if np.isfinite(out).all():
                return out
    return _encode_columns(columns, signature, model=model, where="columns")


def _numeric_fast(values: list[list[Any]]) -> np.ndarray | None:
    try:
        arr = np.asarray(values)
    except ValueError:
        return None
    if arr.dtype.kind not in _NUMERIC_KINDS or arr.ndim != 2:
        return None
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        return None
    return out


def _encode_columns(
    columns: Mapping[str, Sequence[Any]], signature: Signature, *, model: str, where: str
) -> np.ndarray:
    n = len(next(iter(columns.values())))
    numeric = all(c.dtype is not ColumnType.STRING for c in signature.inputs)
    out = np.empty((n, len(signature.inputs)), dtype=np.float32 if numeric else object)
    with np.errstate(over="ignore"):
        for j, column in enumerate(signature.inputs):
            out[:, j] = _encode_column(column, columns[column.name], model=model, where=where)
    if numeric and np.isinf(out).any():  # a number beyond float32's range (NaN: a null)
        rows, cols = np.nonzero(np.isinf(out))
        column = signature.inputs[int(cols[0])]
        raise SchemaMismatchError(
            f"Column {column.name!r} of {model} must be a finite number within float32's "
            f"range. Got {columns[column.name][int(rows[0])]!r} instead (row {int(rows[0])}).",
            field=f"{where}[{int(rows[0])}].{column.name}"
            if where == "rows"
            else f"columns.{column.name}[{int(rows[0])}]",
            expected="a finite number",
            received=str(columns[column.name][int(rows[0])]),
        )
    return out


def _mismatch(column: Column, i: int, value: Any, expected: str, model: str, where: str) -> None:
    got = "null" if value is None else f"{type(value).__name__} {value!r}"
    raise SchemaMismatchError(
        f"Column {column.name!r} of {model} must be {expected}. Got {got} instead (row {i}).",
        field=f"{where}[{i}].{column.name}" if where == "rows" else f"columns.{column.name}[{i}]",
        expected=expected,
        received=value if value is None or isinstance(value, int | float | str | bool) else got,
    )


def _encode_column(
    column: Column, values: Sequence[Any], *, model: str, where: str
) -> list[Any] | np.ndarray:
    encoded: list[Any] = []
    dtype = column.dtype
    if dtype is ColumnType.CATEGORY:
        index = {v: float(k) for k, v in enumerate(column.categories or [])}
        expected = f"one of {column.categories}"
        for i, v in enumerate(values):
            if v is None:
                if not column.nullable:
                    _mismatch(column, i, v, expected, model, where)
                encoded.append(math.nan)
            elif isinstance(v, str) and v in index:
                encoded.append(index[v])
            else:
                _mismatch(column, i, v, expected, model, where)
        return encoded
    if dtype is ColumnType.STRING:
        for i, v in enumerate(values):
            if v is None and column.nullable:
                encoded.append("")
            elif isinstance(v, str):
                encoded.append(v)
            else:
                _mismatch(column, i, v, "a string", model, where)
        return encoded
    if dtype is ColumnType.BOOL:
        for i, v in enumerate(values):
            if isinstance(v, bool):
                encoded.append(1.0 if v else 0.0)
            elif v is None and column.nullable:
                encoded.append(math.nan)
            else:
                _mismatch(column, i, v, "a boolean", model, where)
        return encoded
    expected = "an integer" if dtype is ColumnType.INT else "a number"
    for i, v in enumerate(values):
        if v is None:
            if not column.nullable:
                _mismatch(column, i, v, expected + " (this column takes no nulls)", model, where)
            encoded.append(math.nan)
        elif isinstance(v, bool) or not isinstance(v, int | float):
            _mismatch(column, i, v, expected, model, where)
        elif isinstance(v, float) and not math.isfinite(v):
            _mismatch(column, i, v, "a finite number", model, where)
        elif dtype is ColumnType.INT and isinstance(v, float) and not v.is_integer():
            _mismatch(column, i, v, expected, model, where)
        else:
            encoded.append(float(v))
    return encoded


def tensors_to_matrix(
    tensors: Mapping[str, np.ndarray], signature: Signature, *, model: str = "the model"
) -> np.ndarray:
    """Encode named tensors (Open Inference Protocol v2 inputs) into the input matrix.

    Two layouts are accepted: one tensor per signature column (shape ``[n]`` or ``[n, 1]``),
    or, for all-numeric signatures, a single ``[n, n_inputs]`` tensor in signature order.

    Raises:
        SchemaMismatchError: names, shapes or element types do not fit the signature.
    """
    names = signature.input_names
    if len(tensors) == 1 and names[0] not in tensors and _is_numeric_signature(signature):
        ((name, arr),) = tensors.items()
        if arr.ndim != 2 or arr.shape[1] != len(names) or arr.dtype.kind not in _NUMERIC_KINDS:
            raise SchemaMismatchError(
                f"A single input tensor for {model} must be numeric with shape "
                f"[n, {len(names)}] (columns {names}). Got {arr.dtype} {list(arr.shape)} instead.",
                field=name,
                expected=[-1, len(names)],
                received=list(arr.shape),
            )
        out = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(out).all():
            _non_finite(out, signature, model)
        return out
    check_column_names(signature, tensors.keys(), model=model)
    lengths = set()
    flat: dict[str, np.ndarray] = {}
    for name in names:
        arr = tensors[name]
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise SchemaMismatchError(
                f"Input {name!r} of {model} must have shape [n] or [n, 1]. "
                f"Got {list(arr.shape)} instead.",
                field=name,
                expected=[-1],
                received=list(tensors[name].shape),
            )
        lengths.add(arr.shape[0])
        flat[name] = arr
    if len(lengths) != 1:
        raise SchemaMismatchError(
            f"All inputs of {model} must have the same number of rows. Got {sorted(lengths)}.",
            field=names[0],
            expected="equal lengths",
            received=sorted(lengths),
        )
    if _is_numeric_signature(signature) and all(
        a.dtype.kind in _NUMERIC_KINDS for a in flat.values()
    ):
        out = np.empty((lengths.pop(), len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            out[:, j] = flat[name]
        if not np.isfinite(out).all():
            _non_finite(out, signature, model)
        return out
    columns = {name: flat[name].tolist() for name in names}
    return _encode_columns(columns, signature, model=model, where="columns")


def _non_finite(out: np.ndarray, signature: Signature, model: str) -> None:
    bad_rows, bad_cols = np.nonzero(~np.isfinite(out))
    column = signature.inputs[int(bad_cols[0])]
    raise SchemaMismatchError(
        f"Column {column.name!r} of {model} must be a finite number. "
        f"Got {out[bad_rows[0], bad_cols[0]]} instead (row {int(bad_rows[0])}).",
        field=column.name,
        expected="a finite number",
        received=str(out[bad_rows[0], bad_cols[0]]),
    )
