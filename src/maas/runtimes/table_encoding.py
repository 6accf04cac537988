"""Turn an Apache Arrow table (from an Arrow IPC or Parquet request body) into the input matrix.

Column by column, with Arrow compute and NumPy, never a per-row Python loop (except for
``string`` inputs, which stay Python strings): numbers are taken as they are (copied once into
the matrix), categories are looked up with ``pyarrow.compute.index_in``. Each column's Arrow
type is checked against the signature first, and errors name the column, the expected type and
what came, as the JSON encoders do.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from maas.domain.signature import Column, ColumnType, Signature, check_column_names
from maas.errors import InvalidInputError, SchemaMismatchError

__all__ = ["table_to_matrix"]

_EXPECTED = {
    ColumnType.FLOAT: "a number",
    ColumnType.INT: "an integer",
    ColumnType.BOOL: "a boolean",
    ColumnType.STRING: "a string",
}


def table_to_matrix(
    table: pa.Table, signature: Signature, *, model: str = "the model"
) -> np.ndarray:
    """Encode ``table`` (one column per signature input; extra columns refused) into the
    predictor's input matrix: float32 when every input is numeric, object otherwise.

    Raises:
        SchemaMismatchError: a column is missing, repeated, unknown, of the wrong Arrow type,
            holds nulls it may not, a category outside the signature's, or a non-finite
            number.
        InvalidInputError: the table has no rows.
    """
    names = table.column_names
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})[0]
        raise SchemaMismatchError(
            f"Column {repeated!r} appears more than once.",
            field=f"columns.{repeated}",
            expected="each column once",
            received=repeated,
        )
    check_column_names(signature, names, model=model)
    n = table.num_rows
    if n == 0:
        raise InvalidInputError("At least one row is needed.", field="columns", received=0)
    numeric = all(c.dtype is not ColumnType.STRING for c in signature.inputs)
    out = np.empty((n, len(signature.inputs)), dtype=np.float32 if numeric else object)
    for j, column in enumerate(signature.inputs):
        out[:, j] = _encode(table.column(column.name), column, model)
    return out


def _mismatch(column: Column, model: str, expected: str, got: str) -> SchemaMismatchError:
    return SchemaMismatchError(
        f"Column {column.name!r} of {model} must be {expected}. Got {got} instead.",
        field=f"columns.{column.name}",
        expected=expected,
        received=got,
    )


def _first(mask: pa.ChunkedArray) -> int:
    return int(pc.index(mask, pa.scalar(True)).as_py())


def _nulls(values: pa.ChunkedArray, column: Column, model: str, expected: str) -> None:
    if values.null_count and not column.nullable:
        row = _first(pc.is_null(values))
        raise _mismatch(
            column, model, expected + " (this column takes no nulls)", f"null (row {row})"
        )


def _encode(values: pa.ChunkedArray, column: Column, model: str) -> np.ndarray | list[object]:
    kind = values.type
    if column.dtype is ColumnType.CATEGORY:
        return _category(values, column, model)
    expected = _EXPECTED[column.dtype]
    if column.dtype is ColumnType.STRING:
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise _mismatch(column, model, expected, f"Arrow type {kind}")
        _nulls(values, column, model, expected)
        return ["" if v is None else v for v in values.to_pylist()]
    if column.dtype is ColumnType.BOOL:
        if not pa.types.is_boolean(kind):
            raise _mismatch(column, model, expected, f"Arrow type {kind}")
        _nulls(values, column, model, expected)
        return values.cast(pa.float32()).to_numpy(zero_copy_only=False)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise _mismatch(column, model, expected, f"Arrow type {kind}")
    _nulls(values, column, model, expected)
    array = values.to_numpy(zero_copy_only=False)
    if pa.types.is_floating(kind):
        finite = np.isfinite(array)
        bad = ~finite & ~np.isnan(array) if column.nullable else ~finite
        if values.null_count:
            bad &= ~np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False))
        if bad.any():
            row = int(np.argmax(bad))
            raise _mismatch(column, model, "a finite number", f"{array[row]} (row {row})")
        if column.dtype is ColumnType.INT:
            fractional = finite & (array != np.round(array))
            if fractional.any():
                row = int(np.argmax(fractional))
                raise _mismatch(column, model, expected, f"{array[row]} (row {row})")
    return array


def _category(values: pa.ChunkedArray, column: Column, model: str) -> np.ndarray:
    expected = f"one of {column.categories}"
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise _mismatch(column, model, expected, f"Arrow type {values.type}")
    _nulls(values, column, model, expected)
    codes = pc.index_in(values, value_set=pa.array(column.categories or [], type=values.type))
    unknown = pc.and_(pc.is_null(codes), pc.is_valid(values))
    if pc.any(unknown).as_py():
        row = _first(unknown)
        raise _mismatch(column, model, expected, f"{values[row].as_py()!r} (row {row})")
    return codes.to_numpy(zero_copy_only=False).astype(np.float32)
