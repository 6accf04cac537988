"""Dataset use cases: upload, append, read and delete immutable dataset versions, per tenant.

Every version is a Parquet file in the artifact store (so encrypted at rest like models,
under ``<tenant>/datasets/<name>/<uuid>.parquet``) with its schema, profile and quality
findings in the database. As for models, the artifact is written before the row that points
at it and deleted again if the row cannot be written, and each change is recorded in the
audit trail in the same transaction.

Memory stays bounded by the size of the *stored* file, not of the upload: uploads are read
from a file on disk one block at a time and written to a temporary Parquet file batch by
batch; only the finished (compressed) Parquet file is read into memory once, because the
artifact store takes bytes. An append also holds the previous version's Parquet bytes, which
it reads batch by batch.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from maas.domain.datasets import (
    DatasetFormat,
    DatasetProfile,
    DatasetSource,
    QualityFinding,
    Severity,
)
from maas.domain.names import check_name
from maas.domain.principal import Principal
from maas.errors import (
    InvalidParameterError,
    MaasError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from maas.ml.data_quality import MIN_HISTORY_ROWS, quality_findings
from maas.ml.profiling import DatasetStats, Profiler, detect_time_column, detect_unit_column
from maas.schemas.datasets import DatasetPreview, DatasetRead, DatasetVersionRead
from maas.services.dataset_files import (
    PARQUET_BATCH_ROWS,
    TableSource,
    describe_type,
    open_table_file,
    write_parquet,
)
from maas.services.recording import record_change
from maas.store.artifacts.base import ArtifactStore
from maas.store.datasets import DatasetRepository, NewDatasetVersion
from maas.store.db import Database

__all__ = ["DatasetInput", "DatasetService"]

log = logging.getLogger(__name__)

DatasetInput: TypeAlias = Path | str | bytes | IO[bytes]
"""An upload: the path of a file, its bytes, or a binary file object read in chunks."""

_COPY_CHUNK = 1024 * 1024


class DatasetService:
    """Datasets of every tenant; each call works within the caller's tenant.

    Args:
        db: the database.
        artifacts: where the Parquet files go.
        temp_dir: where uploads are converted (default: the system's temporary folder); it
            needs room for about the upload's size again.
        min_history_rows: units with fewer rows are reported as too short a history.
    """

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        *,
        temp_dir: Path | None = None,
        min_history_rows: int = MIN_HISTORY_ROWS,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.temp_dir = temp_dir
        self.min_history_rows = min_history_rows

    # reading ----------------------------------------------------------------------------

    def list_datasets(
        self, principal: Principal, *, q: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[DatasetRead], int]:
        """One page of the tenant's datasets by name, and how many match in all."""
        with self.db.session() as session:
            return DatasetRepository(session, principal.tenant_id).list_datasets(
                q=q, offset=offset, limit=limit
            )

    def get_dataset(self, principal: Principal, name: str) -> DatasetRead:
        """Raises: NotFoundError."""
        with self.db.session() as session:
            return DatasetRepository(session, principal.tenant_id).get(name)

    def list_versions(self, principal: Principal, name: str) -> list[DatasetVersionRead]:
        """Every version of ``name``, oldest first. Raises: NotFoundError."""
        with self.db.session() as session:
            return DatasetRepository(session, principal.tenant_id).list_versions(name)

    def get_version(
        self, principal: Principal, name: str, version: int | None = None
    ) -> DatasetVersionRead:
        """Version ``version`` of ``name`` (its latest when ``None``).

        Raises:
            NotFoundError: no such dataset, or no such version of it.
        """
        with self.db.session() as session:
            return DatasetRepository(session, principal.tenant_id).get_version(name, version)

    def profile(
        self, principal: Principal, name: str, version: int | None = None
    ) -> DatasetProfile:
        """The profile of a version (its latest when ``None``). Raises: NotFoundError."""
        return self.get_version(principal, name, version).profile

    def read_version(self, principal: Principal, name: str, version: int | None = None) -> pa.Table:
        """A version's rows as a table (for training: holds the whole version in memory).

        Raises:
            NotFoundError: no such dataset or version, or its file is gone.
            IntegrityError: the stored file fails its checksum or cannot be decrypted.
        """
        found = self.get_version(principal, name, version)
        data = self.artifacts.get(found.artifact_uri, sha256=found.sha256)
        return pq.read_table(pa.BufferReader(data))

    def preview(
        self, principal: Principal, name: str, version: int | None = None, *, limit: int = 20
    ) -> DatasetPreview:
        """The first ``limit`` rows of a version, as JSON-ready values.

        Raises:
            NotFoundError: no such dataset or version.
            IntegrityError: the stored file fails its checksum or cannot be decrypted.
        """
        found = self.get_version(principal, name, version)
        data = self.artifacts.get(found.artifact_uri, sha256=found.sha256)
        parquet = pq.ParquetFile(pa.BufferReader(data))
        first = next(parquet.iter_batches(batch_size=max(1, limit)), None)
        rows = [] if first is None else first.slice(0, limit).to_pylist()
        return DatasetPreview(
            dataset=name,
            version=found.version,
            columns=parquet.schema_arrow.names,
            rows=[{k: _json_value(v) for k, v in row.items()} for row in rows],
            total_rows=found.rows,
        )

    # changing ---------------------------------------------------------------------------

    def upload(
        self,
        principal: Principal,
        name: str,
        data: DatasetInput,
        *,
        format: DatasetFormat | str,  # noqa: A002 - the parameter's name on the wire
        description: str = "",
        unit_column: str | None = None,
        time_column: str | None = None,
    ) -> DatasetVersionRead:
        """Store a CSV or Parquet file as the next version of ``name`` (created if new).

        The file is checked, profiled and converted to Parquet before anything is stored;
        if anything fails, nothing is.

        Args:
            principal: who uploads (their tenant owns the dataset).
            name: the dataset's name.
            data: the file (path, bytes or binary file object).
            format: ``csv`` or ``parquet``.
            description: the dataset's description (kept as it was when empty).
            unit_column: the column naming each row's machine or unit (found by name if not
                given: ``unit``, ``machine_id``, ...).
            time_column: the column ordering each unit's rows (found by type or name if not
                given: a timestamp column, ``time``, ``cycle``, ...).

        Returns:
            The new version, with its schema, profile and quality findings.

        Raises:
            InvalidNameError: ``name`` is malformed.
            UnsupportedFormatError: the file is not of ``format``, or a column's type cannot
                be stored.
            InvalidInputError: the file is empty, has only a header, is not UTF-8, has ragged
                rows, or a column name that is empty or repeated.
            SchemaMismatchError: ``unit_column`` or ``time_column`` is not a column.
        """
        check_name(name, field="name")
        fmt = _format(format)
        with self._spooled(data) as path, self.temp_file(".parquet") as out:
            source = open_table_file(path, fmt)
            unit, time = _key_columns(source.schema, unit_column, time_column)
            stats = _convert(source.batches(), source.schema, out, unit, time)
            return self._store(
                principal,
                name,
                out,
                stats,
                quality_findings(stats, min_history_rows=self.min_history_rows),
                source=DatasetSource.UPLOAD,
                parent_version=None,
                description=description,
            )

    def append(
        self,
        principal: Principal,
        name: str,
        data: DatasetInput,
        *,
        format: DatasetFormat | str,  # noqa: A002 - the parameter's name on the wire
        unit_column: str | None = None,
        time_column: str | None = None,
    ) -> DatasetVersionRead:
        """Make a new version of ``name``: its latest version's rows followed by the file's.

        The new rows must have the same columns, with values that fit the columns' types
        (whole numbers fit a number column; anything fits a text column). The unit and time
        columns default to the ones the latest version used.

        Returns:
            The new version (``source`` ``append``, ``parent_version`` the latest before).

        Raises:
            NotFoundError: there is no such dataset (upload it first).
            SchemaMismatchError: a column is missing or extra, or a value does not fit its
                column's type; ``field`` names the column.
            UnsupportedFormatError, InvalidInputError: as for ``upload``.
            ConflictError: another version was added while appending.
            IntegrityError: the latest version's file fails its checksum.
        """
        check_name(name, field="name")
        fmt = _format(format)
        latest = self.get_version(principal, name)
        previous = pq.ParquetFile(
            pa.BufferReader(self.artifacts.get(latest.artifact_uri, sha256=latest.sha256))
        )
        target = previous.schema_arrow
        with self._spooled(data) as path, self.temp_file(".parquet") as out:
            source = open_table_file(path, fmt)
            _check_appendable(source, target, name, latest.version)
            unit, time = _key_columns(
                target,
                unit_column or latest.profile.unit_column,
                time_column or latest.profile.time_column,
            )
            batches = itertools.chain(
                previous.iter_batches(batch_size=PARQUET_BATCH_ROWS), source.batches(target)
            )
            stats = _convert(batches, target, out, unit, time)
            return self._store(
                principal,
                name,
                out,
                stats,
                quality_findings(stats, min_history_rows=self.min_history_rows),
                source=DatasetSource.APPEND,
                parent_version=latest.version,
                description="",
            )

    def delete(self, principal: Principal, name: str) -> None:
        """Delete a dataset with all its versions and their files. Raises: NotFoundError."""
        with self.db.writer() as session, session.begin():
            uris = DatasetRepository(session, principal.tenant_id).delete(name)
            record_change(
                session, principal, "dataset.delete", f"dataset:{name}", {"versions": len(uris)}
            )
        for uri in uris:
            try:
                self.artifacts.delete(uri)
            except (OSError, MaasError):  # the rows are gone; a leftover file harms nothing
                log.warning("could not delete dataset file %s", uri, exc_info=True)

    def _store(
        self,
        principal: Principal,
        name: str,
        parquet: Path,
        stats: DatasetStats,
        findings: list[QualityFinding],
        *,
        source: DatasetSource,
        parent_version: int | None,
        description: str,
    ) -> DatasetVersionRead:
        """Put the Parquet file in the artifact store, then record the version (and the
        dataset, if new); the file is deleted again if the records cannot be written."""
        key = f"{principal.tenant_id}/datasets/{name}/{uuid.uuid4().hex}.parquet"
        stored = self.artifacts.put(key, parquet.read_bytes())
        new = NewDatasetVersion(
            artifact_uri=stored.uri,
            sha256=stored.sha256,
            size=stored.size,
            rows=stats.rows,
            columns=stats.schema(),
            profile=stats.profile(),
            quality=findings,
            source=source,
            parent_version=parent_version,
            created_by=principal.actor,
        )
        try:
            with self.db.writer() as session, session.begin():
                repo = DatasetRepository(session, principal.tenant_id)
                if not repo.exists(name):
                    repo.create(name, description=description)
                    record_change(session, principal, "dataset.create", f"dataset:{name}")
                version = repo.add_version(name, new, description=description or None)
                record_change(
                    session,
                    principal,
                    "dataset.version",
                    f"dataset:{name}@{version.version}",
                    {
                        "source": source.value,
                        "parent_version": parent_version,
                        "rows": stats.rows,
                        "sha256": stored.sha256,
                        "errors": sum(f.severity is Severity.ERROR for f in findings),
                        "warnings": sum(f.severity is Severity.WARNING for f in findings),
                    },
                )
        except BaseException:
            self.artifacts.delete(stored.uri)
            raise
        return version

    # temporary files --------------------------------------------------------------------

    @contextmanager
    def temp_file(self, suffix: str = ".upload") -> Iterator[Path]:
        """An empty temporary file in ``temp_dir``, removed on leaving the block (for the
        transport to receive an upload into)."""
        if self.temp_dir is not None:
            self.temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="maas-dataset-", suffix=suffix, dir=self.temp_dir)
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    @contextmanager
    def _spooled(self, data: DatasetInput) -> Iterator[Path]:
        """``data`` as a file on disk: a path as it is, anything else copied in chunks."""
        if isinstance(data, str | Path):
            yield Path(data)
            return
        with self.temp_file(".upload") as path:
            with path.open("wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, _COPY_CHUNK)
            yield path


def _format(value: DatasetFormat | str) -> DatasetFormat:
    try:
        return DatasetFormat(value)
    except ValueError:
        raise UnsupportedFormatError(
            f"format must be one of {[f.value for f in DatasetFormat]}. Got {value!r} instead.",
            field="format",
            expected=[f.value for f in DatasetFormat],
            received=value,
        ) from None


def _key_columns(
    schema: pa.Schema, unit_column: str | None, time_column: str | None
) -> tuple[str | None, str | None]:
    """The unit and time columns: as given (checked), else found by name or type."""
    for option, value in (("unit_column", unit_column), ("time_column", time_column)):
        if value is not None and value not in schema.names:
            raise SchemaMismatchError(
                f"{option} {value!r} is not a column of the data; its columns are {schema.names}.",
                field=option,
                expected=f"one of {schema.names}"[:500],
                received=value,
            )
    if unit_column is not None and unit_column == time_column:
        raise InvalidParameterError(
            "unit_column and time_column must be different columns.",
            field="time_column",
            received=time_column,
        )
    return (
        unit_column if unit_column is not None else detect_unit_column(schema),
        time_column if time_column is not None else detect_time_column(schema),
    )


def _convert(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    out: Path,
    unit: str | None,
    time: str | None,
) -> DatasetStats:
    profiler = Profiler(schema, unit_column=unit, time_column=time)
    write_parquet(batches, schema, out, on_batch=profiler.update)
    return profiler.finish()


def _check_appendable(source: TableSource, target: pa.Schema, name: str, version: int) -> None:
    """The new rows have the dataset's columns; Parquet columns of a compatible type.

    Raises:
        SchemaMismatchError: a column is missing, extra, or (Parquet) of a type that does not
            fit; ``field`` names it.
    """
    where = f"dataset {name!r} (version {version})"
    for column in target.names:
        if column not in source.schema.names:
            raise SchemaMismatchError(
                f"Column {column!r} of {where} is missing from the new rows; they must have "
                f"the columns {target.names}.",
                field=column,
                expected=describe_type(target.field(column).type),
                received="nothing",
            )
    for column in source.schema.names:
        if column not in target.names:
            raise SchemaMismatchError(
                f"Column {column!r} is not a column of {where}; its columns are "
                f"{target.names}. Upload the data as a new version instead to change columns.",
                field=column,
                expected="no such column",
                received=column,
            )
    if source.format is not DatasetFormat.PARQUET:
        return  # CSV values are checked one by one against the column types as they are read
    for field in target:
        have = source.schema.field(field.name).type
        if not _fits(have, field.type):
            raise SchemaMismatchError(
                f"Column {field.name!r} of {where} must be {describe_type(field.type)}. Got "
                f"{describe_type(have)} instead.",
                field=field.name,
                expected=describe_type(field.type),
                received=describe_type(have),
            )


def _fits(have: pa.DataType, want: pa.DataType) -> bool:
    if have == want or pa.types.is_string(want) or pa.types.is_null(have):
        return True
    return bool(pa.types.is_floating(want) and pa.types.is_integer(have))


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
