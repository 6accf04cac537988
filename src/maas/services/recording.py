"""Writes the audit record of a change inside the change's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from maas.domain.audit_chain import Outcome
from maas.domain.principal import Principal
from maas.domain.request_context import request_id_var
from maas.store.audit import AuditRepository

__all__ = ["record_change"]


def record_change(
    session: Session,
    principal: Principal,
    action: str,
    resource: str,
    details: dict[str, Any] | None = None,
    *,
    tenant_id: str | None = None,
) -> None:
    """Append ``action`` on ``resource`` by ``principal`` to the audit chain, in ``session``'s
    transaction: the change and its record commit together or not at all."""
    AuditRepository(session).append(
        tenant_id=tenant_id or principal.tenant_id,
        actor=principal.actor,
        action=action,
        resource=resource,
        outcome=Outcome.SUCCESS,
        request_id=request_id_var.get(),
        details=details,
    )
