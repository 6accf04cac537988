"""Wire models of datasets: datasets, their versions (schema, profile, quality findings) and
previews of their rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from maas.domain.datasets import (
    CategoryCount,
    ColumnProfile,
    DatasetColumn,
    DatasetProfile,
    DatasetSource,
    QualityCheck,
    QualityFinding,
    Severity,
)

__all__ = [
    "CategoryCount",
    "ColumnProfile",
    "DatasetColumn",
    "DatasetPage",
    "DatasetPreview",
    "DatasetProfile",
    "DatasetRead",
    "DatasetSource",
    "DatasetVersionPage",
    "DatasetVersionRead",
    "QualityCheck",
    "QualityFinding",
    "Severity",
]


class DatasetRead(BaseModel):
    name: str
    description: str
    latest_version: int | None
    rows: int | None = Field(description="Rows of the latest version")
    created_at: datetime
    updated_at: datetime


class DatasetPage(BaseModel):
    items: list[DatasetRead]
    total: int
    offset: int
    limit: int


class DatasetVersionRead(BaseModel):
    """One immutable version: where its Parquet file is, what it holds and what to look at."""

    dataset: str
    version: int
    artifact_uri: str
    sha256: str = Field(description="sha256 of the stored (encrypted) Parquet object")
    size: int = Field(description="Bytes stored")
    rows: int
    column_count: int
    columns: list[DatasetColumn] = Field(description="The schema: name, type, nullable")
    profile: DatasetProfile
    quality: list[QualityFinding] = Field(description="Data-quality findings, in plain words")
    source: DatasetSource
    parent_version: int | None = Field(description="The version an append added rows to")
    created_by: str
    created_at: datetime


class DatasetVersionPage(BaseModel):
    items: list[DatasetVersionRead]
    total: int


class DatasetPreview(BaseModel):
    """The first rows of a version, for a quick look (timestamps as ISO 8601, missing as
    null)."""

    dataset: str
    version: int
    columns: list[str]
    rows: list[dict[str, Any]]
    total_rows: int
