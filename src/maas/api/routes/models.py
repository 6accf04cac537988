"""Registry routes: models, versions and aliases under ``/v1/models``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Form, Path, Query, UploadFile, status
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from maas.api.deps import PrincipalDep, RegistryDep, SettingsDep
from maas.domain.signature import Signature
from maas.errors import InvalidInputError, PayloadTooLargeError, SchemaMismatchError
from maas.schemas.models import (
    AliasEventRead,
    AliasRead,
    AliasUpdate,
    ModelCreate,
    ModelPage,
    ModelRead,
    ModelUpdate,
    VersionPage,
    VersionRead,
    VersionUpdate,
)

router = APIRouter(prefix="/v1/models", tags=["models"])

Name = Annotated[str, Path(description="Model name", max_length=64)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="Version number")]
Alias = Annotated[str, Path(description="Alias such as production", max_length=40)]


@router.get("", response_model=ModelPage)
def list_models(
    principal: PrincipalDep,
    registry: RegistryDep,
    q: Annotated[str | None, Query(max_length=100, description="Substring of name")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ModelPage:
    """List the models of the caller's tenant, by name."""
    items, total = registry.list_models(principal, q=q, offset=offset, limit=limit)
    return ModelPage(items=items, total=total, offset=offset, limit=limit)


@router.post("", response_model=ModelRead, status_code=status.HTTP_201_CREATED)
def create_model(body: ModelCreate, principal: PrincipalDep, registry: RegistryDep) -> ModelRead:
    """Create an empty model (uploading or training a version also creates it)."""
    return registry.create_model(principal, body.name, description=body.description, tags=body.tags)


@router.get("/{name}", response_model=ModelRead)
def get_model(name: Name, principal: PrincipalDep, registry: RegistryDep) -> ModelRead:
    """A model with its aliases and latest version."""
    return registry.get_model(principal, name)


@router.patch("/{name}", response_model=ModelRead)
def update_model(
    name: Name, body: ModelUpdate, principal: PrincipalDep, registry: RegistryDep
) -> ModelRead:
    """Change a model's description, tags or serving settings (micro-batching)."""
    return registry.update_model(
        principal,
        name,
        description=body.description,
        tags=body.tags,
        serving=None if body.serving is None else body.serving.model_dump(exclude_none=True),
    )


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_model(name: Name, principal: PrincipalDep, registry: RegistryDep) -> Response:
    """Delete a model with all its versions, aliases and artifacts."""
    registry.delete_model(principal, name)
    return Response(status_code=204)


@router.get("/{name}/versions", response_model=VersionPage)
def list_versions(name: Name, principal: PrincipalDep, registry: RegistryDep) -> VersionPage:
    """All versions of a model, oldest first."""
    items = registry.list_versions(principal, name)
    return VersionPage(items=items, total=len(items))


def _parse_json_form(value: str | None, field: str) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(
            f"Form field {field!r} must be JSON text.", field=field, received=value[:200]
        ) from exc


@router.post("/{name}/versions", response_model=VersionRead, status_code=status.HTTP_201_CREATED)
async def upload_version(
    name: Name,
    principal: PrincipalDep,
    registry: RegistryDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The ONNX model file")],
    signature: Annotated[str, Form(description="JSON of the input/output signature")],
    description: Annotated[str, Form(max_length=4000)] = "",
    tags: Annotated[str | None, Form(description="JSON object of tags")] = None,
) -> VersionRead:
    """Upload an ONNX model as the next version of ``name`` (the model is created if new).

    The file is checked before anything is stored: it must parse as ONNX, carry no external
    data, and fit the signature.
    """
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLargeError(
            f"The model file is larger than {settings.max_upload_bytes} bytes.",
            field="file",
            expected=f"<= {settings.max_upload_bytes} bytes",
        )
    try:
        sig = Signature.model_validate(_parse_json_form(signature, "signature"))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SchemaMismatchError(
            f"signature is not valid: {first['msg']}",
            field="signature." + ".".join(str(p) for p in first["loc"]),
            expected=first["type"],
        ) from exc
    tag_map = _parse_json_form(tags, "tags") or {}
    if not isinstance(tag_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tag_map.items()
    ):
        raise InvalidInputError(
            "tags must be a JSON object of strings.", field="tags", expected="object"
        )
    return await run_in_threadpool(
        registry.register_version,
        principal,
        name,
        artifact=data,
        format="onnx",
        signature=sig,
        description=description,
        tags=tag_map,
    )


@router.get("/{name}/versions/{version}", response_model=VersionRead)
def get_version(
    name: Name, version: Version, principal: PrincipalDep, registry: RegistryDep
) -> VersionRead:
    """One version with its lineage, signature, parameters and metrics."""
    return registry.get_version(principal, name, version)


@router.patch("/{name}/versions/{version}", response_model=VersionRead)
def update_version(
    name: Name,
    version: Version,
    body: VersionUpdate,
    principal: PrincipalDep,
    registry: RegistryDep,
) -> VersionRead:
    """Change a version's description or tags (everything else is immutable)."""
    return registry.update_version(
        principal, name, version, description=body.description, tags=body.tags
    )


@router.get("/{name}/aliases", response_model=list[AliasRead])
def list_aliases(name: Name, principal: PrincipalDep, registry: RegistryDep) -> list[AliasRead]:
    """The aliases of a model and the versions they point at."""
    return registry.list_aliases(principal, name)


@router.put("/{name}/aliases/{alias}", response_model=AliasRead)
def set_alias(
    name: Name, alias: Alias, body: AliasUpdate, principal: PrincipalDep, registry: RegistryDep
) -> AliasRead:
    """Point an alias (``production``, ``staging``, ...) at a version; atomic."""
    return registry.set_alias(principal, name, alias, body.version)


@router.delete(
    "/{name}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def delete_alias(
    name: Name, alias: Alias, principal: PrincipalDep, registry: RegistryDep
) -> Response:
    """Remove an alias; calls through it get 404 afterwards."""
    registry.delete_alias(principal, name, alias)
    return Response(status_code=204)


@router.post("/{name}/aliases/{alias}/rollback", response_model=AliasRead)
def rollback_alias(
    name: Name, alias: Alias, principal: PrincipalDep, registry: RegistryDep
) -> AliasRead:
    """Move an alias back to the version it pointed at before its last move."""
    return registry.rollback_alias(principal, name, alias)


@router.get("/{name}/aliases/{alias}/history", response_model=list[AliasEventRead])
def alias_history(
    name: Name, alias: Alias, principal: PrincipalDep, registry: RegistryDep
) -> list[AliasEventRead]:
    """Every move of an alias, oldest first."""
    return registry.alias_history(principal, name, alias)
