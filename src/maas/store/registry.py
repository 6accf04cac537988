"""Tenant-scoped repository of models, versions and aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maas.domain.signature import Signature
from maas.errors import (
    AliasNotFoundError,
    AlreadyExistsError,
    ConflictError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from maas.schemas.models import AliasEventRead, AliasRead, ModelRead, ModelServing, VersionRead
from maas.store.search import contains_text
from maas.store.tables import AliasEventRow, AliasRow, ModelRow, VersionRow, utcnow

__all__ = ["NewVersion", "RegistryRepository"]


class NewVersion:
    """Everything recorded about a version when it is registered (then never changed)."""

    def __init__(
        self,
        *,
        format: str,  # noqa: A002 - the field's name on the wire
        artifact_uri: str,
        sha256: str,
        size: int,
        signature: Signature,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        template: str | None = None,
        source_dataset: str | None = None,
        report: dict[str, Any] | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        created_by: str,
    ) -> None:
        self.format = format
        self.artifact_uri = artifact_uri
        self.sha256 = sha256
        self.size = size
        self.signature = signature
        self.params = params or {}
        self.metrics = metrics or {}
        self.template = template
        self.source_dataset = source_dataset
        self.report = report
        self.description = description
        self.tags = tags or {}
        self.created_by = created_by


class RegistryRepository:
    """Reads and writes the registry inside one session, always within one tenant."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # models -----------------------------------------------------------------------------

    def _model_row(self, name: str, *, for_update: bool = False) -> ModelRow:
        stmt = select(ModelRow).where(ModelRow.tenant_id == self.tenant_id, ModelRow.name == name)
        if for_update:
            stmt = stmt.with_for_update()
        row = self.session.scalars(stmt).one_or_none()
        if row is None:
            raise ModelNotFoundError(f"Model {name!r} not found.", field="model", received=name)
        return row

    def model_exists(self, name: str) -> bool:
        stmt = select(ModelRow.id).where(
            ModelRow.tenant_id == self.tenant_id, ModelRow.name == name
        )
        return self.session.scalar(stmt) is not None

    def create_model(self, name: str, *, description: str, tags: dict[str, str]) -> ModelRead:
        if self.model_exists(name):
            raise AlreadyExistsError(f"Model {name!r} already exists.", field="name", received=name)
        now = utcnow()
        row = ModelRow(
            tenant_id=self.tenant_id,
            name=name,
            description=description,
            tags=dict(tags),
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        try:
            self.session.flush()
        except sa_exc.IntegrityError as exc:
            raise AlreadyExistsError(
                f"Model {name!r} already exists.", field="name", received=name
            ) from exc
        return self._model_read(row)

    def get_model(self, name: str) -> ModelRead:
        return self._model_read(self._model_row(name))

    def list_models(self, *, q: str | None, offset: int, limit: int) -> tuple[list[ModelRead], int]:
        where = [ModelRow.tenant_id == self.tenant_id]
        if q:
            where.append(contains_text(q, ModelRow.name, ModelRow.description))
        total = self.session.scalar(select(func.count()).select_from(ModelRow).where(*where))
        rows = self.session.scalars(
            select(ModelRow).where(*where).order_by(ModelRow.name).offset(offset).limit(limit)
        ).all()
        return [self._model_read(r) for r in rows], int(total or 0)

    def update_model(
        self,
        name: str,
        *,
        description: str | None,
        tags: dict[str, str] | None,
        serving: dict[str, Any] | None = None,
    ) -> ModelRead:
        row = self._model_row(name, for_update=True)
        if description is not None:
            row.description = description
        if tags is not None:
            row.tags = dict(tags)
        if serving is not None:
            row.serving = {k: v for k, v in serving.items() if v is not None} or None
        row.updated_at = utcnow()
        self.session.flush()
        return self._model_read(row)

    def delete_model(self, name: str) -> list[str]:
        """Delete the model with its versions and aliases; returns the artifact URIs to remove."""
        row = self._model_row(name, for_update=True)
        uris = list(
            self.session.scalars(
                select(VersionRow.artifact_uri).where(VersionRow.model_id == row.id)
            )
        )
        for table in (AliasEventRow, AliasRow, VersionRow):
            self.session.query(table).filter(table.model_id == row.id).delete()
        self.session.delete(row)
        self.session.flush()
        return uris

    def _model_read(self, row: ModelRow) -> ModelRead:
        aliases = {
            a.alias: a.version
            for a in self.session.scalars(select(AliasRow).where(AliasRow.model_id == row.id))
        }
        latest = self.session.scalar(
            select(func.max(VersionRow.version)).where(VersionRow.model_id == row.id)
        )
        return ModelRead(
            name=row.name,
            description=row.description,
            tags=dict(row.tags or {}),
            aliases=aliases,
            latest_version=latest,
            serving=ModelServing(**(row.serving or {})),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def serving_settings(self, name: str) -> dict[str, Any] | None:
        """The model's own serving settings (``None``: none set).

        Raises:
            ModelNotFoundError.
        """
        return self._model_row(name).serving

    # versions ---------------------------------------------------------------------------

    def add_version(self, name: str, new: NewVersion) -> VersionRead:
        """Register the next version of ``name``, creating the model if it does not exist."""
        if not self.model_exists(name):
            self.create_model(name, description="", tags={})
        model = self._model_row(name, for_update=True)
        current = self.session.scalar(
            select(func.max(VersionRow.version)).where(VersionRow.model_id == model.id)
        )
        row = VersionRow(
            model_id=model.id,
            version=(current or 0) + 1,
            format=new.format,
            artifact_uri=new.artifact_uri,
            sha256=new.sha256,
            size=new.size,
            signature=new.signature.model_dump(mode="json"),
            params=new.params,
            metrics=new.metrics,
            template=new.template,
            source_dataset=new.source_dataset,
            report=new.report,
            description=new.description,
            tags=dict(new.tags),
            created_by=new.created_by,
            created_at=utcnow(),
        )
        self.session.add(row)
        model.updated_at = utcnow()
        try:
            self.session.flush()
        except sa_exc.IntegrityError as exc:  # a concurrent writer took the number
            raise ConflictError(
                f"Another version of {name!r} was registered at the same time; try again.",
                field="version",
            ) from exc
        return self._version_read(name, row)

    def _version_row(self, model: ModelRow, version: int) -> VersionRow:
        row = self.session.scalars(
            select(VersionRow).where(VersionRow.model_id == model.id, VersionRow.version == version)
        ).one_or_none()
        if row is None:
            raise VersionNotFoundError(
                f"Model {model.name!r} has no version {version}.", field="version", received=version
            )
        return row

    def get_version(self, name: str, version: int) -> VersionRead:
        model = self._model_row(name)
        return self._version_read(name, self._version_row(model, version))

    def list_versions(self, name: str) -> list[VersionRead]:
        model = self._model_row(name)
        rows = self.session.scalars(
            select(VersionRow).where(VersionRow.model_id == model.id).order_by(VersionRow.version)
        ).all()
        return [self._version_read(name, r) for r in rows]

    def update_version(
        self, name: str, version: int, *, description: str | None, tags: dict[str, str] | None
    ) -> VersionRead:
        model = self._model_row(name)
        row = self._version_row(model, version)
        if description is not None:
            row.description = description
        if tags is not None:
            row.tags = dict(tags)
        self.session.flush()
        return self._version_read(name, row)

    def _version_read(self, name: str, row: VersionRow) -> VersionRead:
        aliases = sorted(
            self.session.scalars(
                select(AliasRow.alias).where(
                    AliasRow.model_id == row.model_id, AliasRow.version == row.version
                )
            )
        )
        return VersionRead(
            model=name,
            version=row.version,
            format=row.format,
            artifact_uri=row.artifact_uri,
            sha256=row.sha256,
            size=row.size,
            signature=Signature.model_validate(row.signature),
            params=dict(row.params or {}),
            metrics=dict(row.metrics or {}),
            template=row.template,
            source_dataset=row.source_dataset,
            report=row.report,
            description=row.description,
            tags=dict(row.tags or {}),
            aliases=aliases,
            created_by=row.created_by,
            created_at=row.created_at,
        )

    # aliases ----------------------------------------------------------------------------

    def resolve_alias(self, name: str, alias: str) -> int:
        model = self._model_row(name)
        if alias == "latest":
            latest = self.session.scalar(
                select(func.max(VersionRow.version)).where(VersionRow.model_id == model.id)
            )
            if latest is None:
                raise VersionNotFoundError(f"Model {name!r} has no versions yet.", field="version")
            return int(latest)
        row = self.session.get(AliasRow, (model.id, alias))
        if row is None:
            raise AliasNotFoundError(
                f"Model {name!r} has no alias {alias!r}.", field="alias", received=alias
            )
        return row.version

    def list_aliases(self, name: str) -> list[AliasRead]:
        model = self._model_row(name)
        rows = self.session.scalars(
            select(AliasRow).where(AliasRow.model_id == model.id).order_by(AliasRow.alias)
        ).all()
        return [self._alias_read(name, r) for r in rows]

    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> AliasRead:
        model = self._model_row(name, for_update=True)
        self._version_row(model, version)  # must exist
        row = self.session.get(AliasRow, (model.id, alias), with_for_update=True)
        before = row.version if row else None
        if row is None:
            row = AliasRow(model_id=model.id, alias=alias, version=version, updated_at=utcnow())
            self.session.add(row)
        elif row.version != version:
            row.previous_version = row.version
            row.version = version
            row.updated_at = utcnow()
        if before != version:
            self._event(model.id, alias, before, version, actor)
        self.session.flush()
        return self._alias_read(name, row)

    def rollback_alias(self, name: str, alias: str, *, actor: str) -> AliasRead:
        model = self._model_row(name, for_update=True)
        row = self.session.get(AliasRow, (model.id, alias), with_for_update=True)
        if row is None:
            raise AliasNotFoundError(
                f"Model {name!r} has no alias {alias!r}.", field="alias", received=alias
            )
        if row.previous_version is None:
            raise ConflictError(
                f"Alias {alias!r} of {name!r} has never moved; there is nothing to roll back to.",
                field="alias",
                received=alias,
            )
        target, row.previous_version = row.previous_version, row.version
        self._event(model.id, alias, row.version, target, actor)
        row.version = target
        row.updated_at = utcnow()
        self.session.flush()
        return self._alias_read(name, row)

    def delete_alias(self, name: str, alias: str, *, actor: str) -> None:
        model = self._model_row(name, for_update=True)
        row = self.session.get(AliasRow, (model.id, alias), with_for_update=True)
        if row is None:
            raise AliasNotFoundError(
                f"Model {name!r} has no alias {alias!r}.", field="alias", received=alias
            )
        self._event(model.id, alias, row.version, None, actor)
        self.session.delete(row)
        self.session.flush()

    def alias_history(self, name: str, alias: str) -> list[AliasEventRead]:
        model = self._model_row(name)
        rows = self.session.scalars(
            select(AliasEventRow)
            .where(AliasEventRow.model_id == model.id, AliasEventRow.alias == alias)
            .order_by(AliasEventRow.id)
        ).all()
        return [
            AliasEventRead(
                alias=r.alias,
                from_version=r.from_version,
                to_version=r.to_version,
                actor=r.actor,
                at=r.at,
            )
            for r in rows
        ]

    def _event(
        self, model_id: int, alias: str, before: int | None, after: int | None, actor: str
    ) -> None:
        self.session.add(
            AliasEventRow(
                model_id=model_id,
                alias=alias,
                from_version=before,
                to_version=after,
                actor=actor,
                at=utcnow(),
            )
        )

    @staticmethod
    def _alias_read(name: str, row: AliasRow) -> AliasRead:
        updated: datetime = row.updated_at
        return AliasRead(
            model=name,
            alias=row.alias,
            version=row.version,
            previous_version=row.previous_version,
            updated_at=updated,
        )
