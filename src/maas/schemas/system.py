"""Wire models of health and server information."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["Health", "ServerInfo"]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


class ServerInfo(BaseModel):
    name: str
    version: str
    formats: list[str]
    templates: list[str]
    tenant: str
    role: str
