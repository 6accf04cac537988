"""The audit trail of the caller's tenant, as JSON lines (admin only)."""

from __future__ import annotations

import io

from fastapi import APIRouter
from fastapi.responses import Response

from maas.api.deps import AuditDep, PrincipalDep

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_class=Response, responses={200: {"content": {"application/x-ndjson": {}}}})
def export_audit(principal: PrincipalDep, audit: AuditDep) -> Response:
    """Every audit record of the caller's tenant, oldest first, one JSON object per line.

    Each line carries its ``prev_hash`` and ``hash``; ``maas audit verify`` checks the whole
    chain on the server's machine.
    """
    out = io.StringIO()
    audit.flush(force=True)
    audit.export(out, principal.tenant_id)
    return Response(out.getvalue(), media_type="application/x-ndjson")
