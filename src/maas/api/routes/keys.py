"""API key management under ``/v1/keys`` (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.responses import Response

from maas.api.deps import KeysDep, PrincipalDep
from maas.schemas.keys import KeyCreate, KeyCreated, KeyRead

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", response_model=list[KeyRead])
def list_keys(principal: PrincipalDep, keys: KeysDep) -> list[KeyRead]:
    """The keys of the caller's tenant (never their secrets)."""
    return keys.list_keys(principal)


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, principal: PrincipalDep, keys: KeysDep) -> KeyCreated:
    """Create a key. Its secret is in this response only: store it now."""
    return keys.create_key(principal, name=body.name, role=body.role, expires_at=body.expires_at)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def revoke_key(
    key_id: Annotated[str, Path(max_length=36)], principal: PrincipalDep, keys: KeysDep
) -> Response:
    """Revoke a key; it stops working at once."""
    keys.revoke_key(principal, key_id)
    return Response(status_code=204)
