"""RFC 9457 problem documents: the body of every error response."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["FieldProblem", "Problem"]


class FieldProblem(BaseModel):
    """One field's failure, for problems that concern several fields."""

    field: str
    message: str
    expected: Any = None
    received: Any = None


class Problem(BaseModel):
    """``application/problem+json``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    field: str | None = None
    expected: Any = None
    received: Any = None
    errors: list[FieldProblem] | None = None
