"""Liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from maas.schemas.system import Health

router = APIRouter(tags=["operations"])


def _ready(request: Request) -> tuple[bool, dict[str, str]]:
    services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        with services.registry.db.session() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure, it never raises
        checks["database"] = f"failed: {type(exc).__name__}"
    return all(v == "ok" for v in checks.values()), checks


@router.get("/health/live", response_model=Health)
def live() -> Health:
    """The process is up and answering."""
    return Health(status="ok")


@router.get("/health/ready", response_model=Health, responses={503: {"model": Health}})
def ready(request: Request) -> Response:
    """The server can serve: its database answers."""
    ok, checks = _ready(request)
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    services = request.app.state.services
    request.app.state.metrics.models_loaded.set(services.serving.loaded_count())
    return Response(
        request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
