"""The hot-path encoders: ``MatrixEncoder`` (JSON rows and columns) and ``table_to_matrix``
(Arrow) give the matrix ``rows_to_matrix`` gives, and the same errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maas.domain.signature import Signature
from maas.errors import InvalidInputError, SchemaMismatchError
from maas.runtimes.encoding import MatrixEncoder, columns_to_matrix, rows_to_matrix
from maas.runtimes.table_encoding import table_to_matrix

SIGNATURE = Signature.model_validate(
    {
        "inputs": [
            {"name": "type", "dtype": "category", "categories": ["H", "L", "M"]},
            {"name": "temperature", "dtype": "float64"},
            {"name": "wear", "dtype": "int64"},
        ],
        "task": "regression",
    }
)
ROW = {"type": "L", "temperature": 301.5, "wear": 12}

values = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["H", "L", "M"]),
        "temperature": st.floats(-1e30, 1e30, allow_nan=False) | st.integers(-(10**6), 10**6),
        "wear": st.integers(-(10**6), 10**6),
    }
)


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=1, max_size=20))
def test_fast_rows_and_columns_equal_the_reference(rows: list[dict[str, Any]]) -> None:
    encoder = MatrixEncoder(SIGNATURE)
    reference = rows_to_matrix(rows, SIGNATURE)
    fast = encoder.rows(rows)
    assert fast.dtype == np.float32
    assert fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, reference)
    columns = {k: [r[k] for r in rows] for k in ROW}
    np.testing.assert_array_equal(encoder.columns(columns), reference)
    np.testing.assert_array_equal(columns_to_matrix(columns, SIGNATURE), reference)
    np.testing.assert_array_equal(table_to_matrix(pa.Table.from_pylist(rows), SIGNATURE), reference)


@pytest.mark.parametrize(
    "rows",
    [
        [{**ROW, "type": "X"}],
        [{**ROW, "type": 1}],
        [{**ROW, "temperature": "hot"}],
        [{**ROW, "temperature": True}],
        [{**ROW, "temperature": None}],
        [{**ROW, "temperature": 1e39}],
        [{**ROW, "wear": 1.5}],
        [{**ROW, "colour": "red"}],
        [{k: v for k, v in ROW.items() if k != "wear"}],
        [ROW, ["L", 1.0, 2]],
        [ROW, "row"],
        [],
    ],
)
def test_fast_encoder_raises_what_the_reference_raises(rows: list[Any]) -> None:
    with pytest.raises((SchemaMismatchError, InvalidInputError)) as reference:
        rows_to_matrix(rows, SIGNATURE)
    with pytest.raises(type(reference.value)) as fast:
        MatrixEncoder(SIGNATURE).rows(rows)
    assert (fast.value.field, fast.value.message) == (
        reference.value.field,
        reference.value.message,
    )


@pytest.mark.parametrize(
    "columns",
    [
        {"type": ["L", "Q"], "temperature": [1.0, 2.0], "wear": [1, 2]},
        {"type": ["L", 1], "temperature": [1.0, 2.0], "wear": [1, 2]},
        {"type": ["L", None], "temperature": [1.0, 2.0], "wear": [1, 2]},
        {"type": ["L", ["M"]], "temperature": [1.0, 2.0], "wear": [1, 2]},
        {"type": ["L", "M"], "temperature": [1.0, "2"], "wear": [1, 2]},
        {"type": ["L", "M"], "temperature": [1.0, True], "wear": [1, 2]},
        {"type": ["L", "M"], "temperature": [1.0, 2.0], "wear": [1, 2.5]},
        {"type": ["L", "M"], "temperature": [1.0], "wear": [1, 2]},
        {"type": ["L", "M"], "temperature": [1.0, 2.0]},
        {"type": [], "temperature": [], "wear": []},
    ],
)
def test_fast_columns_raise_what_the_reference_raises(columns: dict[str, Any]) -> None:
    with pytest.raises((SchemaMismatchError, InvalidInputError)) as reference:
        columns_to_matrix(columns, SIGNATURE)
    with pytest.raises(type(reference.value)) as fast:
        MatrixEncoder(SIGNATURE).columns(columns)
    assert (fast.value.field, fast.value.message) == (
        reference.value.field,
        reference.value.message,
    )


def test_table_categories_may_come_dictionary_encoded() -> None:
    table = pa.table(
        {
            "type": pa.array(["M", "H", "M"]).dictionary_encode(),
            "temperature": pa.array([1.0, 2.0, 3.0], type=pa.float32()),
            "wear": pa.array([1, 2, 3], type=pa.int16()),
        }
    )
    np.testing.assert_array_equal(
        table_to_matrix(table, SIGNATURE),
        np.array([[2, 1, 1], [0, 2, 2], [2, 3, 3]], dtype=np.float32),
    )


def test_table_nulls_are_missing_where_the_signature_allows() -> None:
    signature = Signature.model_validate(
        {
            "inputs": [
                {"name": "a", "dtype": "float64", "nullable": True},
                {"name": "kind", "dtype": "category", "categories": ["x"], "nullable": True},
                {"name": "flag", "dtype": "bool"},
            ]
        }
    )
    table = pa.table({"a": [1.0, None], "kind": ["x", None], "flag": [True, False]})
    out = table_to_matrix(table, signature)
    assert out[0].tolist() == [1.0, 0.0, 1.0]
    assert np.isnan(out[1, 0])
    assert np.isnan(out[1, 1])
    assert out[1, 2] == 0.0


@pytest.mark.parametrize(
    ("table", "field", "expected"),
    [
        (pa.table({"type": ["L"], "temperature": [1.0], "wear": [1]}).drop(["wear"]), "wear", None),
        (
            pa.table({"type": ["L"], "temperature": [float("inf")], "wear": [1]}),
            "columns.temperature",
            "a finite number",
        ),
        (
            pa.table({"type": ["L"], "temperature": [1.0], "wear": [1.0]}).set_column(
                2, "wear", pa.array([1.5])
            ),
            "columns.wear",
            "an integer",
        ),
        (
            pa.table({"type": [1], "temperature": [1.0], "wear": [1]}),
            "columns.type",
            "one of ['H', 'L', 'M']",
        ),
        (
            pa.table(
                [pa.array(["L"]), pa.array([1.0]), pa.array([1]), pa.array([2])],
                names=["type", "temperature", "wear", "wear"],
            ),
            "columns.wear",
            "each column once",
        ),
    ],
)
def test_bad_tables_name_the_column(table: pa.Table, field: str, expected: str | None) -> None:
    with pytest.raises(SchemaMismatchError) as info:
        table_to_matrix(table, SIGNATURE)
    assert info.value.field == field
    if expected is not None:
        assert info.value.expected == expected


def test_an_empty_table_is_refused() -> None:
    empty = pa.Table.from_pylist([ROW]).slice(0, 0)
    with pytest.raises(InvalidInputError):
        table_to_matrix(empty, SIGNATURE)
