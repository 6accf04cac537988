"""Uploaded CSV and Parquet files read as record batches of a normalised schema, in bounded
memory, with errors a person can act on.

Column types are normalised to ``int64``, ``double``, ``bool``, ``string`` and ``timestamp[us]``
(``timestamp[us, tz=UTC]`` when the values carry a zone), whatever wrote the file.

CSV files are read twice with pyarrow's streaming reader, one block (``CSV_BLOCK_BYTES``) at a
time, every value as text: the first pass checks the file (encoding, ragged rows, a header with
no rows) and finds each column's type, the narrowest that every value of the whole file parses
as; the second converts each block to those types. Type inference on the first block alone
(pyarrow's own) would fail a 1 GB file on a stray "n/a" in its last megabyte.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from maas.domain.datasets import DatasetFormat
from maas.errors import InvalidInputError, SchemaMismatchError, UnsupportedFormatError

__all__ = [
    "CSV_BLOCK_BYTES",
    "MAX_COLUMNS",
    "TableSource",
    "cast_batch",
    "describe_type",
    "open_table_file",
    "write_parquet",
]

CSV_BLOCK_BYTES = 1 << 20
"""Bytes of CSV text parsed at a time (one record batch)."""
PARQUET_BATCH_ROWS = 65_536
MAX_COLUMNS = 5_000
_MAX_NAME = 128
_SNIFF_BYTES = 64 * 1024
_UTC = pa.timestamp("us", tz="UTC")
_CANDIDATES: tuple[pa.DataType, ...] = (
    pa.int64(),
    pa.float64(),
    pa.bool_(),
    pa.timestamp("us"),
    _UTC,
)
"""Types a CSV column may get, narrowest first; a column none of them fits is text."""


def describe_type(arrow_type: pa.DataType) -> str:
    """A type in words a person reads: ``integer``, ``number``, ``boolean``, ``text``, ..."""
    if pa.types.is_integer(arrow_type):
        return "integer (int64)"
    if pa.types.is_floating(arrow_type):
        return "number (float64)"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return f"timestamp ({arrow_type})"
    return "text (string)"


@dataclass
class TableSource:
    """A checked upload: its normalised schema, and a way to read its batches (again)."""

    path: Path
    format: DatasetFormat
    schema: pa.Schema
    rows: int | None
    """Known after the CSV checking pass or from the Parquet footer."""
    _delimiter: str = ","

    def batches(self, target: pa.Schema | None = None) -> Iterator[pa.RecordBatch]:
        """The file's rows as batches of ``target`` (default: the file's own schema), column
        order included.

        Raises:
            InvalidInputError: the file turned out unreadable part-way.
            SchemaMismatchError: a value does not fit ``target``'s type for its column.
        """
        schema = target or self.schema
        if self.format is DatasetFormat.CSV:
            batches, before = _csv_batches(self.path, self.schema.names, self._delimiter), 0
            for raw in batches:
                yield cast_batch(_trimmed(raw), schema, first_row=before + 1)
                before += raw.num_rows
            return
        parquet = _open_parquet(self.path)
        before = 0
        for raw in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            yield cast_batch(raw, schema, first_row=before + 1)
            before += raw.num_rows


def open_table_file(path: Path, fmt: DatasetFormat) -> TableSource:
    """Check the file at ``path`` and find its schema.

    Raises:
        UnsupportedFormatError: the file is not of ``fmt`` (binary, compressed, Parquet sent as
            CSV, damaged Parquet) or has a column type that cannot be stored.
        InvalidInputError: the file is empty, has only a header, is not UTF-8, has a row with
            the wrong number of fields, or a column name that is empty, too long or repeated.
    """
    if fmt is DatasetFormat.PARQUET:
        return _open_parquet_source(path)
    delimiter = _sniff_csv(path)
    names = _csv_header(path, delimiter)
    types, rows = _infer_csv_types(path, names, delimiter)
    if rows == 0:
        raise InvalidInputError(
            "The file has a header but no rows of data.",
            field="body",
            expected="at least one row after the header",
            received="0 rows",
        )
    schema = pa.schema([pa.field(n, t) for n, t in zip(names, types, strict=True)])
    return TableSource(path, fmt, schema, rows, _delimiter=delimiter)


# --- CSV -----------------------------------------------------------------------------------


def _sniff_csv(path: Path) -> str:
    """Refuse what is plainly not CSV text, and pick the delimiter from the header line."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head.strip():
        raise InvalidInputError(
            "The file is empty.", field="body", expected="CSV text", received="0 bytes"
        )
    for magic, what in (
        (b"PAR1", "a Parquet file: send it with content type application/vnd.apache.parquet"),
        (b"\x1f\x8b", "compressed (gzip): unpack it first"),
        (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file is one): save it as CSV first"),
        (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
        (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
    ):
        if head.startswith(magic):
            raise UnsupportedFormatError(
                f"The file is not CSV text; it is {what}.",
                field="body",
                expected="CSV text (UTF-8)",
                received=what.split(":")[0],
            )
    if b"\x00" in head:
        raise UnsupportedFormatError(
            "The file is binary, not CSV text.",
            field="body",
            expected="CSV text (UTF-8)",
            received="binary data",
        )
    first_line = head.split(b"\n", 1)[0]
    counts = {d: first_line.count(d.encode()) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 and counts[","] == 0 else ","


def _open_csv(
    path: Path,
    delimiter: str,
    bad_rows: list[tuple[int, int, str]],
    names: Sequence[str] | None = None,
) -> pacsv.CSVStreamingReader:
    """A streaming reader of the file; rows with the wrong number of fields are noted in
    ``bad_rows`` (expected, actual, text) before the reader fails on them."""

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.expected_columns, row.actual_columns, row.text or ""))
        return "error"

    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()) if names is not None else None,
        strings_can_be_null=True,
        check_utf8=True,
    )
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
        ),
        convert_options=convert,
    )


def _csv_header(path: Path, delimiter: str) -> list[str]:
    bad_rows: list[tuple[int, int, str]] = []
    try:
        reader = _open_csv(path, delimiter, bad_rows)
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, path, bad_rows) from exc
    names = list(reader.schema.names)
    reader.close()
    _check_names(names)
    return names


def _check_names(names: list[str]) -> None:
    if len(names) > MAX_COLUMNS:
        raise InvalidInputError(
            f"The file has {len(names)} columns; at most {MAX_COLUMNS} are accepted.",
            field="columns",
            expected=f"<= {MAX_COLUMNS} columns",
            received=len(names),
        )
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if "\ufffd" in name:
            raise InvalidInputError(
                f"The header of column {position} is not UTF-8 text. Save the file as UTF-8 "
                "(in Excel: 'CSV UTF-8').",
                field="columns",
                expected="UTF-8 text",
                received=name,
            )
        if not name.strip():
            raise InvalidInputError(
                f"Column {position} has no name. Give every column a name in the header (a "
                "row index written by pandas has none: save with index=False).",
                field="columns",
                expected="a name",
                received=name,
            )
        if len(name) > _MAX_NAME:
            raise InvalidInputError(
                f"The name of column {position} is longer than {_MAX_NAME} characters.",
                field=name[:_MAX_NAME],
                expected=f"<= {_MAX_NAME} characters",
                received=len(name),
            )
        if name in seen:
            raise InvalidInputError(
                f"Column {name!r} is named twice in the header. Give each column its own name.",
                field=name,
                expected="unique column names",
                received=f"{name!r} twice",
            )
        seen.add(name)


def _csv_batches(path: Path, names: Sequence[str], delimiter: str) -> Iterator[pa.RecordBatch]:
    """The file's rows, every value as text (trimmed later), block by block.

    Raises:
        InvalidInputError: the file is not UTF-8 or a row has the wrong number of fields.
    """
    bad_rows: list[tuple[int, int, str]] = []
    try:
        reader = _open_csv(path, delimiter, bad_rows, names)
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, path, bad_rows) from exc
    with reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise _csv_error(exc, path, bad_rows) from exc
            yield batch


def _csv_error(
    exc: pa.ArrowInvalid, path: Path, bad_rows: list[tuple[int, int, str]]
) -> InvalidInputError:
    text = str(exc)
    if bad_rows:
        expected, actual, row = bad_rows[0]
        line = _line_of(path, row)
        where = f"Line {line}" if line else "A row"
        return InvalidInputError(
            f"{where} has {actual} fields, but the header has {expected}. Check the delimiters "
            "and quotes on that line.",
            field=f"line {line}" if line else "body",
            expected=f"{expected} fields",
            received=f"{actual} fields: {row[:200]}",
            details={"line": line},
        )
    if "UTF8" in text or "UTF-8" in text:
        column = text.split("#", 1)[1].split(":", 1)[0] if "column #" in text else None
        return InvalidInputError(
            "The file is not UTF-8 text"
            + (f" (column {int(column) + 1} holds other bytes)" if column else "")
            + ". Save it as UTF-8 (in Excel: 'CSV UTF-8').",
            field="body",
            expected="UTF-8 text",
            received="bytes that are not UTF-8",
        )
    if "Empty CSV" in text:
        return InvalidInputError(
            "The file is empty.", field="body", expected="CSV text", received="0 rows"
        )
    return InvalidInputError(
        f"The file cannot be read as CSV: {text}", field="body", expected="CSV text"
    )


def _line_of(path: Path, row_text: str) -> int | None:
    """The 1-based line number of the first line reading ``row_text`` (header = line 1)."""
    wanted = row_text.rstrip("\r\n").encode()
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if line.rstrip(b"\r\n") == wanted:
                return number
    return None


def _trimmed(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pc.utf8_trim_whitespace(col) for col in batch.columns], names=batch.schema.names
    )


def _infer_csv_types(path: Path, names: list[str], delimiter: str) -> tuple[list[pa.DataType], int]:
    """The narrowest candidate type every value of each column parses as, and the rows."""
    possible = [list(_CANDIDATES) for _ in names]
    seen_value = [False] * len(names)
    rows = 0
    for raw in _csv_batches(path, names, delimiter):
        rows += raw.num_rows
        for index, column in enumerate(_trimmed(raw).columns):
            if column.null_count == len(column):
                continue
            seen_value[index] = True
            possible[index] = [t for t in possible[index] if _parses(column, t)]
    types = [
        (p[0] if p else pa.string()) if seen else pa.string()
        for p, seen in zip(possible, seen_value, strict=True)
    ]
    return types, rows


def _parses(column: pa.Array, arrow_type: pa.DataType) -> bool:
    try:
        pc.cast(column, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


# --- casting -------------------------------------------------------------------------------


def cast_batch(batch: pa.RecordBatch, target: pa.Schema, *, first_row: int) -> pa.RecordBatch:
    """``batch`` with ``target``'s columns, in its order and of its types.

    Raises:
        SchemaMismatchError: a column of ``target`` is missing from the batch, the batch has a
            column ``target`` lacks, or a value does not fit its column's type (the error
            names the column, the row and the value).
    """
    have = batch.schema.names
    missing = [name for name in target.names if name not in have]
    extra = [name for name in have if name not in target.names]
    if missing:
        raise SchemaMismatchError(
            f"Column {missing[0]!r} is missing; the data's columns are {target.names}.",
            field=missing[0],
            expected=describe_type(target.field(missing[0]).type),
            received="nothing",
        )
    if extra:
        raise SchemaMismatchError(
            f"Column {extra[0]!r} is not a column of the data; its columns are {target.names}.",
            field=extra[0],
            expected="no such column",
            received=extra[0],
        )
    arrays = []
    for field in target:
        column = batch.column(field.name)
        arrays.append(_cast_column(column, field, first_row=first_row))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def _cast_column(column: pa.Array, field: pa.Field, *, first_row: int) -> pa.Array:
    if column.type == field.type:
        return column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(field.type) and not (
        pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    ):
        return _to_text(column)
    # Finer timestamps are truncated to microseconds rather than refused.
    lossy = pa.types.is_timestamp(column.type) and pa.types.is_timestamp(field.type)
    try:
        return pc.cast(column, field.type, safe=not lossy)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        row, value = _first_unfit(column, field.type)
        where = f" (row {first_row + row})" if row is not None else ""
        raise SchemaMismatchError(
            f"Column {field.name!r} must be {describe_type(field.type)}. Got "
            f"{value!r}{where} instead.",
            field=field.name,
            expected=describe_type(field.type),
            received=value if value is not None else str(exc),
            details={"row": first_row + row} if row is not None else {},
        ) from exc


def _to_text(column: pa.Array) -> pa.Array:
    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "true", "false")
    if pa.types.is_timestamp(column.type):
        return pc.strftime(column, "%Y-%m-%dT%H:%M:%S")
    return pc.cast(column, pa.string())


def _first_unfit(column: pa.Array, arrow_type: pa.DataType) -> tuple[int | None, str | None]:
    """Where the first value that does not fit ``arrow_type`` is (only on the error path)."""
    for index, value in enumerate(itertools.islice(column, 1_000_000)):
        if not value.is_valid:
            continue
        try:
            pc.cast(pa.array([value.as_py()], column.type), arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return index, str(value.as_py())[:200]
    return None, None


# --- Parquet -------------------------------------------------------------------------------


def _open_parquet(path: Path) -> pq.ParquetFile:
    """Raises: UnsupportedFormatError (not Parquet, or damaged)."""
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 4))
        tail = f.read(4)
    if size == 0:
        raise InvalidInputError(
            "The file is empty.", field="body", expected="a Parquet file", received="0 bytes"
        )
    if head != b"PAR1" or tail != b"PAR1":
        raise UnsupportedFormatError(
            "The file is not a Parquet file (it lacks the PAR1 markers)"
            + ("; it looks like CSV text: send it as text/csv." if _looks_like_text(path) else "."),
            field="body",
            expected="a Parquet file",
            received="other bytes",
        )
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnsupportedFormatError(
            f"The Parquet file is damaged: {exc}.",
            field="body",
            expected="a Parquet file",
            received="damaged Parquet",
        ) from exc


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(1024)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def _open_parquet_source(path: Path) -> TableSource:
    parquet = _open_parquet(path)
    try:
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise UnsupportedFormatError(
            f"The Parquet file's schema cannot be read: {exc}.", field="body"
        ) from exc
    _check_names(list(schema.names))
    rows = parquet.metadata.num_rows
    if rows == 0:
        raise InvalidInputError(
            "The Parquet file has columns but no rows.",
            field="body",
            expected="at least one row",
            received="0 rows",
        )
    fields = [pa.field(f.name, _normal_type(f)) for f in schema]
    return TableSource(path, DatasetFormat.PARQUET, pa.schema(fields), rows)


def _normal_type(field: pa.Field) -> pa.DataType:
    """The stored type for a Parquet column's type.

    Raises:
        UnsupportedFormatError: the column is nested, binary or of another type a model
            cannot take.
    """
    t = field.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pa.float64()
    if pa.types.is_boolean(t):
        return pa.bool_()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_timestamp(t):
        return _UTC if t.tz else pa.timestamp("us")
    if pa.types.is_date(t):
        return pa.timestamp("us")
    raise UnsupportedFormatError(
        f"Column {field.name!r} has type {t}, which a dataset cannot hold. Use numbers, "
        "booleans, text or timestamps.",
        field=field.name,
        expected="integer, number, boolean, text or timestamp",
        received=str(t),
    )


# --- writing -------------------------------------------------------------------------------

ROW_GROUP_BYTES = 32 * 1024 * 1024
"""Batches are gathered up to this many bytes (in memory) before they are written as one
Parquet row group."""


def write_parquet(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    path: Path,
    *,
    on_batch: Callable[[pa.RecordBatch], None],
) -> int:
    """Write ``batches`` to a Parquet file at ``path`` (zstd), calling ``on_batch`` with each;
    at most about ``ROW_GROUP_BYTES`` of rows are held in memory at once.

    Returns:
        The number of rows written.

    Raises:
        InvalidInputError: a batch could not be read (see ``TableSource.batches``).
    """
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            on_batch(batch)
            rows += batch.num_rows
            pending.append(batch)
            pending_bytes += batch.nbytes
            if pending_bytes >= ROW_GROUP_BYTES:
                writer.write_table(pa.Table.from_batches(pending, schema=schema))
                pending, pending_bytes = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
    return rows
