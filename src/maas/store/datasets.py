"""Tenant-scoped repository of datasets and their versions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete as sql_delete
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maas.domain.datasets import DatasetColumn, DatasetProfile, DatasetSource, QualityFinding
from maas.errors import AlreadyExistsError, ConflictError, NotFoundError
from maas.schemas.datasets import DatasetRead, DatasetVersionRead
from maas.store.search import contains_text
from maas.store.tables import DatasetRow, DatasetVersionRow, utcnow

__all__ = ["DatasetRepository", "NewDatasetVersion"]


@dataclass(frozen=True, slots=True)
class NewDatasetVersion:
    """Everything recorded about a dataset version when it is added (then never changed)."""

    artifact_uri: str
    sha256: str
    size: int
    rows: int
    columns: list[DatasetColumn]
    profile: DatasetProfile
    quality: list[QualityFinding]
    source: DatasetSource
    parent_version: int | None
    created_by: str


def dataset_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"Dataset {name!r} not found.", field="dataset", received=name)


class DatasetRepository:
    """Reads and writes datasets inside one session, always within one tenant."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _row(self, name: str, *, for_update: bool = False) -> DatasetRow:
        stmt = select(DatasetRow).where(
            DatasetRow.tenant_id == self.tenant_id, DatasetRow.name == name
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = self.session.scalars(stmt).one_or_none()
        if row is None:
            raise dataset_not_found(name)
        return row

    def exists(self, name: str) -> bool:
        stmt = select(DatasetRow.id).where(
            DatasetRow.tenant_id == self.tenant_id, DatasetRow.name == name
        )
        return self.session.scalar(stmt) is not None

    def create(self, name: str, *, description: str) -> DatasetRead:
        """Raises: AlreadyExistsError."""
        if self.exists(name):
            raise AlreadyExistsError(
                f"Dataset {name!r} already exists.", field="name", received=name
            )
        now = utcnow()
        row = DatasetRow(
            tenant_id=self.tenant_id,
            name=name,
            description=description,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        try:
            self.session.flush()
        except sa_exc.IntegrityError as exc:
            raise AlreadyExistsError(
                f"Dataset {name!r} already exists.", field="name", received=name
            ) from exc
        return self._read(row)

    def get(self, name: str) -> DatasetRead:
        """Raises: NotFoundError."""
        return self._read(self._row(name))

    def list_datasets(
        self, *, q: str | None, offset: int, limit: int
    ) -> tuple[list[DatasetRead], int]:
        where = [DatasetRow.tenant_id == self.tenant_id]
        if q:
            where.append(contains_text(q, DatasetRow.name, DatasetRow.description))
        total = self.session.scalar(select(func.count()).select_from(DatasetRow).where(*where))
        rows = self.session.scalars(
            select(DatasetRow).where(*where).order_by(DatasetRow.name).offset(offset).limit(limit)
        ).all()
        return [self._read(r) for r in rows], int(total or 0)

    def delete(self, name: str) -> list[str]:
        """Delete the dataset and its versions; returns the artifact URIs to remove.

        Raises: NotFoundError.
        """
        row = self._row(name, for_update=True)
        uris = list(
            self.session.scalars(
                select(DatasetVersionRow.artifact_uri).where(DatasetVersionRow.dataset_id == row.id)
            )
        )
        self.session.execute(
            sql_delete(DatasetVersionRow).where(DatasetVersionRow.dataset_id == row.id)
        )
        self.session.delete(row)
        self.session.flush()
        return uris

    def add_version(
        self, name: str, new: NewDatasetVersion, *, description: str | None = None
    ) -> DatasetVersionRead:
        """Add the next version of the existing dataset ``name``.

        ``new.parent_version`` must still be the latest version when it is set (an append
        builds on it), so two appends at once never lose each other's rows.

        Raises:
            NotFoundError: there is no such dataset.
            ConflictError: another version was added meanwhile.
        """
        dataset = self._row(name, for_update=True)
        current = self._latest_number(dataset.id)
        if new.parent_version is not None and current != new.parent_version:
            raise ConflictError(
                f"Dataset {name!r} got version {current} while rows were being appended to "
                f"version {new.parent_version}; append again.",
                field="version",
                expected=new.parent_version,
                received=current,
            )
        row = DatasetVersionRow(
            dataset_id=dataset.id,
            version=(current or 0) + 1,
            artifact_uri=new.artifact_uri,
            sha256=new.sha256,
            size=new.size,
            rows=new.rows,
            column_count=len(new.columns),
            schema=[c.model_dump(mode="json") for c in new.columns],
            profile=new.profile.model_dump(mode="json"),
            quality=[f.model_dump(mode="json") for f in new.quality],
            source=new.source.value,
            parent_version=new.parent_version,
            created_by=new.created_by,
            created_at=utcnow(),
        )
        self.session.add(row)
        dataset.updated_at = utcnow()
        if description:
            dataset.description = description
        try:
            self.session.flush()
        except sa_exc.IntegrityError as exc:  # a concurrent writer took the number
            raise ConflictError(
                f"Another version of dataset {name!r} was added at the same time; try again.",
                field="version",
            ) from exc
        return self._version_read(name, row)

    def list_versions(self, name: str) -> list[DatasetVersionRead]:
        """Raises: NotFoundError."""
        dataset = self._row(name)
        rows = self.session.scalars(
            select(DatasetVersionRow)
            .where(DatasetVersionRow.dataset_id == dataset.id)
            .order_by(DatasetVersionRow.version)
        ).all()
        return [self._version_read(name, r) for r in rows]

    def get_version(self, name: str, version: int | None) -> DatasetVersionRead:
        """Version ``version`` of ``name``, or its latest when ``version`` is ``None``.

        Raises:
            NotFoundError: no such dataset, or no such version of it.
        """
        dataset = self._row(name)
        number = self._latest_number(dataset.id) if version is None else version
        row = self.session.scalars(
            select(DatasetVersionRow).where(
                DatasetVersionRow.dataset_id == dataset.id, DatasetVersionRow.version == number
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(
                f"Dataset {name!r} has no version {version}."
                if version is not None
                else f"Dataset {name!r} has no version yet.",
                field="version",
                received=version,
            )
        return self._version_read(name, row)

    def _latest_number(self, dataset_id: int) -> int | None:
        return self.session.scalar(
            select(func.max(DatasetVersionRow.version)).where(
                DatasetVersionRow.dataset_id == dataset_id
            )
        )

    def _read(self, row: DatasetRow) -> DatasetRead:
        latest = self.session.execute(
            select(DatasetVersionRow.version, DatasetVersionRow.rows)
            .where(DatasetVersionRow.dataset_id == row.id)
            .order_by(DatasetVersionRow.version.desc())
            .limit(1)
        ).one_or_none()
        return DatasetRead(
            name=row.name,
            description=row.description,
            latest_version=latest[0] if latest else None,
            rows=latest[1] if latest else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _version_read(name: str, row: DatasetVersionRow) -> DatasetVersionRead:
        return DatasetVersionRead(
            dataset=name,
            version=row.version,
            artifact_uri=row.artifact_uri,
            sha256=row.sha256,
            size=row.size,
            rows=row.rows,
            column_count=row.column_count,
            columns=[DatasetColumn.model_validate(c) for c in row.schema],
            profile=DatasetProfile.model_validate(row.profile),
            quality=[QualityFinding.model_validate(f) for f in row.quality],
            source=DatasetSource(row.source),
            parent_version=row.parent_version,
            created_by=row.created_by,
            created_at=row.created_at,
        )
