"""Registry use cases: models, versions (with their artifacts) and aliases, per tenant."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from maas.domain.names import check_alias, check_name
from maas.domain.principal import Principal
from maas.domain.signature import Signature
from maas.errors import MaasError, NotFoundError
from maas.runtimes.catalog import get_runtime
from maas.schemas.models import AliasEventRead, AliasRead, ModelRead, VersionRead
from maas.services.audit import AuditService
from maas.services.recording import record_change
from maas.store.artifacts.base import ArtifactStore
from maas.store.db import Database
from maas.store.registry import NewVersion, RegistryRepository

__all__ = ["RegistryService"]

log = logging.getLogger(__name__)

ChangeListener = Callable[[str, str], None]
"""Called with (tenant id, model name) after anything that can change what a ref resolves to."""


class RegistryService:
    """Every write goes through one transaction; artifacts are written before the row that
    points at them, so a failed registration leaves at most an orphan file, never a version
    without its artifact."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        *,
        on_change: ChangeListener | None = None,
        audit: AuditService | None = None,
    ) -> None:
        self.audit = audit
        self.db = db
        self.artifacts = artifacts
        self._on_change = on_change

    def _changed(self, tenant_id: str, name: str) -> None:
        if self._on_change is not None:
            self._on_change(tenant_id, name)

    # models -----------------------------------------------------------------------------

    def list_models(
        self, principal: Principal, *, q: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelRead], int]:
        with self.db.session() as session:
            return RegistryRepository(session, principal.tenant_id).list_models(
                q=q, offset=offset, limit=limit
            )

    def create_model(
        self,
        principal: Principal,
        name: str,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> ModelRead:
        """Raises: InvalidNameError, AlreadyExistsError."""
        check_name(name, field="name")
        with self.db.writer() as session, session.begin():
            created = RegistryRepository(session, principal.tenant_id).create_model(
                name, description=description, tags=tags or {}
            )
            record_change(session, principal, "model.create", f"model:{name}")
            return created

    def get_model(self, principal: Principal, name: str) -> ModelRead:
        """Raises: ModelNotFoundError."""
        with self.db.session() as session:
            return RegistryRepository(session, principal.tenant_id).get_model(name)

    def update_model(
        self,
        principal: Principal,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        serving: dict[str, Any] | None = None,
    ) -> ModelRead:
        """Change a model's description, tags or serving settings (``serving`` replaces them
        all; ``{}`` returns to the server's defaults; every process follows at once).

        Raises: ModelNotFoundError.
        """
        with self.db.writer() as session, session.begin():
            updated = RegistryRepository(session, principal.tenant_id).update_model(
                name, description=description, tags=tags, serving=serving
            )
            record_change(
                session,
                principal,
                "model.update",
                f"model:{name}",
                {"description": description is not None, "tags": tags}
                | ({"serving": serving} if serving is not None else {}),
            )
        if serving is not None:
            self._changed(principal.tenant_id, name)
        return updated

    def serving_settings(self, tenant_id: str, name: str) -> dict[str, Any] | None:
        """A model's own serving settings, ``None`` when it has none (or does not exist)."""
        with self.db.session() as session:
            try:
                return RegistryRepository(session, tenant_id).serving_settings(name)
            except NotFoundError:
                return None

    def delete_model(self, principal: Principal, name: str) -> None:
        """Delete a model, its versions, aliases and artifacts. Raises: ModelNotFoundError."""
        with self.db.writer() as session, session.begin():
            uris = RegistryRepository(session, principal.tenant_id).delete_model(name)
            record_change(
                session, principal, "model.delete", f"model:{name}", {"versions": len(uris)}
            )
        self._changed(principal.tenant_id, name)
        for uri in uris:
            try:
                self.artifacts.delete(uri)
            except (OSError, MaasError):  # the rows are gone; a leftover file harms nothing
                log.warning("could not delete artifact %s", uri, exc_info=True)

    # versions ---------------------------------------------------------------------------

    def register_version(
        self,
        principal: Principal,
        name: str,
        *,
        artifact: bytes,
        format: str,  # noqa: A002 - the field's name on the wire
        signature: Signature,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        template: str | None = None,
        source_dataset: str | None = None,
        report: dict[str, Any] | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> VersionRead:
        """Check that the artifact loads and fits its signature, store it, record the version.

        Raises:
            InvalidNameError: the model name is malformed.
            UnsupportedFormatError: the bytes are not a loadable artifact of ``format`` or do
                not fit the signature.
        """
        check_name(name, field="model")
        get_runtime(format).load(artifact, signature)  # refuses bad bytes before storing
        key = f"{principal.tenant_id}/{name}/{uuid.uuid4().hex}.{format}"
        stored = self.artifacts.put(key, artifact)
        new = NewVersion(
            format=format,
            artifact_uri=stored.uri,
            sha256=stored.sha256,
            size=stored.size,
            signature=signature,
            params=params,
            metrics=metrics,
            template=template,
            source_dataset=source_dataset,
            report=report,
            description=description,
            tags=tags,
            created_by=principal.actor,
        )
        try:
            with self.db.writer() as session, session.begin():
                version = RegistryRepository(session, principal.tenant_id).add_version(name, new)
                record_change(
                    session,
                    principal,
                    "version.register",
                    f"model:{name}@{version.version}",
                    {"format": format, "sha256": stored.sha256, "template": template},
                )
        except BaseException:
            self.artifacts.delete(stored.uri)
            raise
        self._changed(principal.tenant_id, name)
        return version

    def list_versions(self, principal: Principal, name: str) -> list[VersionRead]:
        with self.db.session() as session:
            return RegistryRepository(session, principal.tenant_id).list_versions(name)

    def get_version(self, principal: Principal, name: str, version: int) -> VersionRead:
        """Raises: ModelNotFoundError, VersionNotFoundError."""
        with self.db.session() as session:
            return RegistryRepository(session, principal.tenant_id).get_version(name, version)

    def update_version(
        self,
        principal: Principal,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> VersionRead:
        with self.db.writer() as session, session.begin():
            updated = RegistryRepository(session, principal.tenant_id).update_version(
                name, version, description=description, tags=tags
            )
            record_change(session, principal, "version.update", f"model:{name}@{version}")
            return updated

    # aliases ----------------------------------------------------------------------------

    def list_aliases(self, principal: Principal, name: str) -> list[AliasRead]:
        with self.db.session() as session:
            return RegistryRepository(session, principal.tenant_id).list_aliases(name)

    def set_alias(self, principal: Principal, name: str, alias: str, version: int) -> AliasRead:
        """Point ``alias`` at ``version`` (atomically). Raises: VersionNotFoundError."""
        check_alias(alias)
        with self.db.writer() as session, session.begin():
            read = RegistryRepository(session, principal.tenant_id).set_alias(
                name, alias, version, actor=principal.actor
            )
            record_change(
                session,
                principal,
                "alias.set",
                f"model:{name}#{alias}",
                {"version": version, "previous": read.previous_version},
            )
        self._changed(principal.tenant_id, name)
        return read

    def rollback_alias(self, principal: Principal, name: str, alias: str) -> AliasRead:
        """Move ``alias`` back to where it pointed before its last move. Raises: ConflictError."""
        with self.db.writer() as session, session.begin():
            read = RegistryRepository(session, principal.tenant_id).rollback_alias(
                name, alias, actor=principal.actor
            )
            record_change(
                session,
                principal,
                "alias.rollback",
                f"model:{name}#{alias}",
                {"version": read.version, "from": read.previous_version},
            )
        self._changed(principal.tenant_id, name)
        return read

    def delete_alias(self, principal: Principal, name: str, alias: str) -> None:
        with self.db.writer() as session, session.begin():
            RegistryRepository(session, principal.tenant_id).delete_alias(
                name, alias, actor=principal.actor
            )
            record_change(session, principal, "alias.delete", f"model:{name}#{alias}")
        self._changed(principal.tenant_id, name)

    def alias_history(self, principal: Principal, name: str, alias: str) -> list[AliasEventRead]:
        with self.db.session() as session:
            return RegistryRepository(session, principal.tenant_id).alias_history(name, alias)

    def resolve(self, tenant_id: str, name: str, selector: str | int) -> VersionRead:
        """The version that ``name@selector`` means now.

        Raises:
            ModelNotFoundError, AliasNotFoundError, VersionNotFoundError.
        """
        with self.db.session() as session:
            repo = RegistryRepository(session, tenant_id)
            version = selector if isinstance(selector, int) else repo.resolve_alias(name, selector)
            return repo.get_version(name, version)
