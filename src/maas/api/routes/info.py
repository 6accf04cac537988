"""What this server is and what it can run."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from maas.api.deps import PrincipalDep
from maas.schemas.system import ServerInfo
from maas.services.catalog import available_formats, available_templates

router = APIRouter(prefix="/v1", tags=["server"])


def package_version() -> str:
    try:
        return version("maas")
    except PackageNotFoundError:
        return "0+unknown"


@router.get("/info", response_model=ServerInfo)
def server_info(principal: PrincipalDep) -> ServerInfo:
    """Server version, the artifact formats it serves, its templates, and who you are."""
    return ServerInfo(
        name="maas",
        version=package_version(),
        formats=available_formats(),
        templates=available_templates(),
        tenant=principal.tenant_name,
        role=principal.role.value,
    )
