"""``create_app(settings)``: builds the stores, services and the FastAPI app around them."""

from __future__ import annotations

import gc
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from maas.api.deps import Services
from maas.api.limits import RateLimiter
from maas.api.middleware import RequestMiddleware
from maas.api.permissions import ANY_KEY, PUBLIC, ROUTE_ROLES
from maas.api.predict_endpoint import PredictEndpoint
from maas.api.problems import install_problem_handlers
from maas.api.routes import audit as audit_routes
from maas.api.routes import datasets as dataset_routes
from maas.api.routes import health, info, keys, models, oip_v2, predict, tenants
from maas.api.routes import jobs as job_routes
from maas.api.routes import monitoring as monitoring_routes
from maas.api.routes import ui as ui_routes
from maas.api.routes.info import package_version
from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.errors import InvalidParameterError
from maas.jobs.leader import JobLeaderLock
from maas.jobs.runner import JobRunner
from maas.observability.logging import configure_logging
from maas.observability.metrics import Metrics
from maas.schemas.monitoring import RetrainPolicy
from maas.schemas.training import RetrainRequest
from maas.services.audit import AuditService
from maas.services.datasets import DatasetService
from maas.services.drift import RetrainTrigger
from maas.services.examples import install_examples
from maas.services.heap import arrow_on_system_heap, map_large_allocations
from maas.services.keys import KeyService
from maas.services.monitoring import MonitoringService
from maas.services.registry import RegistryService
from maas.services.serving import BatchPolicy, ServingService
from maas.services.training import TrainingService
from maas.settings import Settings, load_settings
from maas.store.artifacts.base import ArtifactStore
from maas.store.artifacts.catalog import open_artifact_store
from maas.store.artifacts.encryption import EncryptedArtifactStore, Keyring, load_master_key
from maas.store.changes import open_feed
from maas.store.db import Database, migrate

__all__ = [
    "Startup",
    "bootstrap",
    "build_services",
    "create_app",
    "tune_for_serving",
    "worker_app",
]

log = logging.getLogger(__name__)


@dataclass
class Startup:
    """What the first start did, for ``maas serve`` to tell the user once."""

    admin_key: str | None
    examples: list[str]


def _operation_id(route: APIRoute) -> str:
    # The function name is the operation id, so the OpenAPI document stays stable.
    return route.name


def build_services(
    settings: Settings, metrics: Metrics, *, first_start: bool = True, warm: bool = True
) -> tuple[Services, Startup]:
    """Open the database and the artifact store; build the services. With ``first_start``
    (the default), also do the work of a start: migrate the database, make the default tenant
    and its first admin key, train the example models. ``maas serve --workers N`` does that
    once (``bootstrap``) before starting its workers, which pass ``first_start=False``. With
    ``warm``, the ``production`` versions are loaded into the model cache on a thread."""
    db = Database.from_settings(settings)
    if first_start:
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
        batching=BatchPolicy(settings.batch_max_size, settings.batch_max_wait_us),
        timeout_seconds=settings.predict_timeout_seconds,
    )
    keys = KeyService(db, cache_seconds=settings.resolve_cache_seconds, feed=feed, audit=audit)
    admin_key = (
        keys.ensure_bootstrap(settings.admin_key.get_secret_value() if settings.admin_key else None)
        if first_start
        else None
    )
    tenant = keys.default_tenant()
    system = Principal(
        key_id="system",
        key_name="system",
        role=Role.ADMIN,
        tenant_id=tenant.id,
        tenant_name=tenant.name,
    )
    installed = install_examples(registry, system) if settings.examples and first_start else []
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
        jobs.start(
            leader=JobLeaderLock(settings.data_dir / "jobs.lock") if settings.workers > 1 else None
        )
    monitoring = MonitoringService.from_settings(
        db,
        registry,
        settings,
        retrain=_retrain_on_drift(training),
        user_agent=f"maas/{package_version()} webhooks",
    )
    batcher = serving.batcher
    metrics.count_from(
        "maas_prediction_batches",
        "Model calls of online predictions: a micro-batch of concurrent requests, or one request "
        "alone (MAAS_BATCH_MAX_SIZE, MAAS_BATCH_MAX_WAIT_US).",
        lambda: batcher.batches_run,
    )
    metrics.count_from(
        "maas_prediction_batched_requests",
        "Online prediction requests answered by those model calls; divided by "
        "maas_prediction_batches_total, the mean batch size.",
        lambda: batcher.requests_run,
    )
    metrics.count_from(
        "maas_prediction_log_dropped_rows",
        "Prediction-log rows not written: the buffer was past half full or full "
        "(MAAS_MONITORING_BUFFER_ROWS), or a write failed.",
        lambda: monitoring.log.dropped,
    )
    monitoring.start(
        flush_seconds=settings.monitoring_flush_seconds,
        drift_seconds=settings.drift_check_seconds,
    )
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
        monitoring=monitoring,
    )
    if warm:
        serving.warm_in_background(lambda: _production_models(keys, registry, system))
    return services, Startup(
        admin_key=admin_key if settings.admin_key is None else None, examples=installed
    )


def _production_models(
    keys: KeyService, registry: RegistryService, system: Principal
) -> Iterator[tuple[str, str]]:
    """(tenant id, model name) of every model with a ``production`` alias, default tenant
    first."""
    for tenant in keys.tenant_records():
        who = Principal(system.key_id, system.key_name, Role.ADMIN, tenant.id, tenant.name)
        models_, _ = registry.list_models(who, limit=500)
        for model in models_:
            if "production" in model.aliases:
                yield tenant.id, model.name


def bootstrap(settings: Settings) -> Startup:
    """The work of a start, done once before ``maas serve --workers N`` starts its workers
    (in a child process of its own, so the supervisor stays small): migrations, the master key
    file, the default tenant and its first admin key, the example models."""
    quiet = settings.model_copy(update={"job_workers": 0})
    services, startup = build_services(quiet, Metrics(), first_start=True, warm=False)
    services.close()
    return startup


def worker_app() -> FastAPI:
    """The app of one ``maas serve --workers N`` worker (a uvicorn factory): settings from the
    environment and the config file, as ``maas serve`` exported them; no first-start work."""
    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    app = create_app(settings, first_start=False)
    tune_for_serving(settings)
    return app


def tune_for_serving(settings: Settings) -> None:
    """Tune the process for serving, once the server is built (``maas serve`` calls it; tests
    do not).

    Arrow allocates from the C library's heap, which the server trims after large requests
    (``arrow_on_system_heap``), and large blocks get mappings of their own, so that what a
    large request freed goes back to the system (``map_large_allocations``, from
    ``settings.large_allocation_bytes`` on).

    Python's garbage collector: everything loaded so far (modules, the app, its services) is
    moved out of the collector's sight (``gc.freeze``): a full collection over the ~200,000
    objects the libraries bring took ~90 ms, a pause some request would wait out. The youngest
    generation is collected every 10,000 allocations instead of 700, so the many short-lived
    objects of each request cost fewer collections."""
    arrow_on_system_heap()
    map_large_allocations(settings.large_allocation_bytes)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def _retrain_on_drift(training: TrainingService) -> RetrainTrigger:
    """What a drift alert calls when the model's policy asks for retraining: a challenger
    job through the training service, promoted only if it beats the champion."""

    def retrain(principal: Principal, model: str, policy: RetrainPolicy) -> str:
        try:
            request = RetrainRequest(
                metric=policy.metric or "",
                alias=policy.alias,
                dataset=policy.dataset,
                dataset_version=policy.dataset_version,
                min_improvement=policy.min_improvement,
                description="Started by a drift alert",
            )
        except ValidationError as exc:
            raise InvalidParameterError(
                f"The retraining policy of {model!r} is not a valid retraining request: {exc}",
                field="retrain_on_alert",
            ) from None
        return training.submit_retraining(principal, model, request).id

    return retrain


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


def create_app(settings: Settings, *, first_start: bool = True) -> FastAPI:
    """Build the whole server for ``settings``. Nothing happens at import time.
    ``first_start``: see ``build_services``."""
    metrics = Metrics()
    services, startup = build_services(settings, metrics, first_start=first_start)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()
        log.info("maas stopped")

    app = MaasAPI(
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
    routers = (
        health.router,
        info.router,
        models.router,
        predict.router,
        keys.router,
        tenants.router,
        audit_routes.router,
        job_routes.router,
        dataset_routes.router,
        monitoring_routes.router,
        oip_v2.router,
        ui_routes.router,
    )
    for router in routers:
        app.include_router(router)
    _check_every_route_has_a_rule(routers)

    def limit_for(method: str, path: str) -> int:
        if method == "POST" and path.startswith("/v1/models/") and path.endswith("/versions"):
            return settings.max_upload_bytes + 64 * 1024
        if method == "POST" and path.startswith("/v1/datasets/"):
            return settings.max_upload_bytes
        return settings.max_body_bytes

    app.add_middleware(
        RequestMiddleware, metrics=metrics, limit_for=limit_for, access_log=settings.access_log
    )
    endpoint = PredictEndpoint(app, _route(predict.router, "predict"))
    app.lean = (
        endpoint.match,
        RequestMiddleware(
            endpoint, metrics=metrics, limit_for=limit_for, access_log=settings.access_log
        ),
    )
    return app


class MaasAPI(FastAPI):
    """FastAPI, except that the requests the lean prediction endpoint takes (``lean``: its
    ``match`` and the endpoint inside its own ``RequestMiddleware``) go straight to it. They
    skip FastAPI's per-request layers as well as its routing: the telemetry check (three
    environment look-ups a request), the error and body-limit middleware. Every other request
    goes through the whole FastAPI app, ``RequestMiddleware`` included, as before."""

    lean: tuple[Callable[[Scope], ASGIApp | None], ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lean is not None and scope["type"] == "http":
            match, endpoint = self.lean
            if match(scope) is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _check_every_route_has_a_rule(routers: Iterable[APIRouter]) -> None:
    # The routers' own routes: FastAPI's app.routes holds included routers, not their routes.
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise RuntimeError(f"route {getattr(route, 'path', route)} is not an API route")
            if route.name not in PUBLIC | ANY_KEY | set(ROUTE_ROLES):
                raise RuntimeError(f"route {route.path} ({route.name}) has no role rule")


def _route(router: APIRouter, name: str) -> APIRoute:
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.name == name)
