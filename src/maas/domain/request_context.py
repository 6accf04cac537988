"""The id of the request being served, for logs and audit records (a context variable)."""

from __future__ import annotations

import contextvars

__all__ = ["request_id_var"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "maas_request_id", default=None
)
