"""``create_app(settings)``: builds the stores, services and the FastAPI app around them."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute

from maas.api.deps import Services
from maas.api.limits import RateLimiter
from maas.api.middleware import RequestMiddleware
from maas.api.permissions import ANY_KEY, PUBLIC, ROUTE_ROLES
from maas.api.problems import install_problem_handlers
from maas.api.routes import audit as audit_routes
from maas.api.routes import datasets as dataset_routes
from maas.api.routes import health, info, keys, models, oip_v2, predict, tenants
from maas.api.routes import jobs as job_routes
from maas.api.routes.info import package_version
from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.jobs.runner import JobRunner
from maas.observability.metrics import Metrics
from maas.services.audit import AuditService
from maas.services.datasets import DatasetService
from maas.services.examples import install_examples
from maas.services.keys import KeyService
from maas.services.registry import RegistryService
from maas.services.serving import ServingService
from maas.services.training import TrainingService
from maas.settings import Settings
from maas.store.artifacts.base import ArtifactStore
from maas.store.artifacts.catalog import open_artifact_store
from maas.store.artifacts.encryption import EncryptedArtifactStore, Keyring, load_master_key
from maas.store.changes import open_feed
from maas.store.db import Database, migrate

__all__ = ["Startup", "build_services", "create_app"]

log = logging.getLogger(__name__)


@dataclass
class Startup:
    """What the first start did, for ``maas serve`` to tell the user once."""

    admin_key: str | None
    examples: list[str]


def _operation_id(route: APIRoute) -> str:
    # The function name is the operation id, so the OpenAPI document stays stable.
    return route.name


def build_services(settings: Settings, metrics: Metrics) -> tuple[Services, Startup]:
    """Open the database (migrating it) and the artifact store; build the services."""
    db = Database.from_settings(settings)
    migrate(db)
    artifacts = _artifact_store(settings, db)
    feed = open_feed(db.url)
    audit = AuditService(db)
    serving: ServingService | None = None

    def on_change(tenant_id: str, name: str) -> None:
        if serving is not None:
            serving.invalidate(tenant_id, name)
        feed.publish()

    registry = RegistryService(db, artifacts, on_change=on_change, audit=audit)
    serving = ServingService(
        registry,
        artifacts,
        cache_size=settings.model_cache_size,
        resolve_seconds=settings.resolve_cache_seconds,
        max_rows=settings.max_rows,
        on_load=metrics.observe_load,
        feed=feed,
    )
    keys = KeyService(db, cache_seconds=settings.resolve_cache_seconds, feed=feed, audit=audit)
    admin_key = keys.ensure_bootstrap(
        settings.admin_key.get_secret_value() if settings.admin_key else None
    )
    tenant = keys.default_tenant()
    system = Principal(
        key_id="system",
        key_name="system",
        role=Role.ADMIN,
        tenant_id=tenant.id,
        tenant_name=tenant.name,
    )
    installed = install_examples(registry, system) if settings.examples else []
    if settings.examples:
        models_, _ = registry.list_models(system, limit=100)
        serving.warm(tenant.id, [m.name for m in models_ if "production" in m.aliases])
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    anonymous_limiter = RateLimiter(
        settings.failed_auth_per_second, max(1, int(4 * settings.failed_auth_per_second))
    )
    audit.start_flusher(settings.audit_flush_seconds)
    datasets = DatasetService(db, artifacts, temp_dir=settings.data_dir / "tmp")
    training = TrainingService(db, datasets, registry)
    jobs = JobRunner(
        db,
        training.kinds(),
        concurrency=settings.job_workers,
        workdir=settings.data_dir / "tmp",
    )
    training.runner = jobs
    if settings.job_workers > 0:
        jobs.start()
    services = Services(
        settings=settings,
        keys=keys,
        registry=registry,
        serving=serving,
        limiter=limiter,
        anonymous_limiter=anonymous_limiter,
        feed=feed,
        audit=audit,
        datasets=datasets,
        training=training,
        jobs=jobs,
    )
    return services, Startup(
        admin_key=admin_key if settings.admin_key is None else None, examples=installed
    )


def _artifact_store(settings: Settings, db: Database) -> ArtifactStore:
    """The configured store, encrypting when a master key is given, or on the embedded
    defaults (where a key file is made in the data folder at first start)."""
    store = open_artifact_store(settings)
    key_file = settings.master_key_file
    if settings.master_key is None and key_file is None and settings.embedded:
        key_file = settings.data_dir / "master.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            log.info(
                "created master key file %s (move it off this disk for real protection)", key_file
            )
    master = load_master_key(settings.master_key, key_file)
    if master is None:
        log.warning("artifacts are stored unencrypted: set MAAS_MASTER_KEY or MAAS_MASTER_KEY_FILE")
        return store
    return EncryptedArtifactStore(
        store, Keyring(db, master), allow_plaintext=settings.allow_plaintext_artifacts
    )


def create_app(settings: Settings) -> FastAPI:
    """Build the whole server for ``settings``. Nothing happens at import time."""
    metrics = Metrics()
    services, startup = build_services(settings, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()
        log.info("maas stopped")

    app = FastAPI(
        title="maas",
        version=package_version(),
        summary="Model-as-a-Service for manufacturing",
        description=(
            "Registry, online prediction (REST `/v1` and Open Inference Protocol v2 `/v2`) and "
            "key management. Every route except health and metrics needs "
            "`Authorization: Bearer <key>`. Errors are RFC 9457 problem documents."
        ),
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    app.state.startup = startup
    install_problem_handlers(app)
    for router in (
        health.router,
        info.router,
        models.router,
        predict.router,
        keys.router,
        tenants.router,
        audit_routes.router,
        job_routes.router,
        dataset_routes.router,
        oip_v2.router,
    ):
        app.include_router(router)
    _check_every_route_has_a_rule(app)

    def limit_for(method: str, path: str) -> int:
        if method == "POST" and path.startswith("/v1/models/") and path.endswith("/versions"):
            return settings.max_upload_bytes + 64 * 1024
        if method == "POST" and path.startswith("/v1/datasets/"):
            return settings.max_upload_bytes
        return settings.max_body_bytes

    app.add_middleware(RequestMiddleware, metrics=metrics, limit_for=limit_for)
    return app


def _check_every_route_has_a_rule(app: FastAPI) -> None:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.name not in PUBLIC | ANY_KEY | set(ROUTE_ROLES):
            raise RuntimeError(f"route {route.path} ({route.name}) has no role rule")
