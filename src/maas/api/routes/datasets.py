"""Dataset routes under ``/v1/datasets``: upload, append, versions, previews.

Uploads are the raw request body (``text/csv`` or ``application/vnd.apache.parquet``), not
multipart: the body is streamed to a temporary file as it arrives, so a 1 GB file never sits in
memory, and the size limit is enforced while it streams.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from maas.api.deps import DatasetsDep, PrincipalDep, SettingsDep
from maas.domain.datasets import DatasetFormat
from maas.domain.names import check_name
from maas.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from maas.schemas.datasets import (
    DatasetPage,
    DatasetPreview,
    DatasetRead,
    DatasetVersionPage,
    DatasetVersionRead,
)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

Name = Annotated[str, Path(description="Dataset name", max_length=64)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="Version number")]
Format = Annotated[
    DatasetFormat | None,
    Query(
        alias="format",
        description="csv or parquet; needed only when the content type is application/octet-stream",
    ),
]
Column = Annotated[str | None, Query(max_length=128)]

_MEDIA_TYPES = {
    "text/csv": DatasetFormat.CSV,
    "application/csv": DatasetFormat.CSV,
    "application/vnd.apache.parquet": DatasetFormat.PARQUET,
    "application/x-parquet": DatasetFormat.PARQUET,
}
_GENERIC = {"", "application/octet-stream"}
_RECEIVE_CHUNK = 1024 * 1024

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself as the body (not multipart).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get("", response_model=DatasetPage)
def list_datasets(
    principal: PrincipalDep,
    datasets: DatasetsDep,
    q: Annotated[str | None, Query(max_length=100, description="Substring of name")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DatasetPage:
    """List the datasets of the caller's tenant, by name."""
    items, total = datasets.list_datasets(principal, q=q, offset=offset, limit=limit)
    return DatasetPage(items=items, total=total, offset=offset, limit=limit)


@router.get("/{name}", response_model=DatasetRead)
def get_dataset(name: Name, principal: PrincipalDep, datasets: DatasetsDep) -> DatasetRead:
    """A dataset with its latest version and row count."""
    return datasets.get_dataset(principal, name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_dataset(name: Name, principal: PrincipalDep, datasets: DatasetsDep) -> Response:
    """Delete a dataset with all its versions and their files."""
    datasets.delete(principal, name)
    return Response(status_code=204)


@router.get("/{name}/versions", response_model=DatasetVersionPage)
def list_dataset_versions(
    name: Name, principal: PrincipalDep, datasets: DatasetsDep
) -> DatasetVersionPage:
    """Every version of a dataset, oldest first."""
    items = datasets.list_versions(principal, name)
    return DatasetVersionPage(items=items, total=len(items))


@router.get("/{name}/versions/{version}", response_model=DatasetVersionRead)
def get_dataset_version(
    name: Name, version: Version, principal: PrincipalDep, datasets: DatasetsDep
) -> DatasetVersionRead:
    """One version with its schema, profile and data-quality findings."""
    return datasets.get_version(principal, name, version)


@router.get("/{name}/versions/{version}/data", response_model=DatasetPreview)
def preview_dataset(
    name: Name,
    version: Version,
    principal: PrincipalDep,
    datasets: DatasetsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> DatasetPreview:
    """The first rows of a version, for a quick look."""
    return datasets.preview(principal, name, version, limit=limit)


@router.post(
    "/{name}/versions",
    response_model=DatasetVersionRead,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
)
async def upload_dataset(
    name: Name,
    request: Request,
    principal: PrincipalDep,
    datasets: DatasetsDep,
    settings: SettingsDep,
    fmt: Format = None,
    description: Annotated[str, Query(max_length=4000)] = "",
    unit_column: Column = None,
    time_column: Column = None,
) -> DatasetVersionRead:
    """Upload a CSV or Parquet file as the next version of ``name`` (created if new).

    The body is the file. It is checked, profiled and stored as Parquet; the answer carries
    the inferred schema, the profile and the data-quality findings. A bad file (not CSV, not
    UTF-8, ragged rows, empty, a header only, a column named twice) is refused with nothing
    stored.
    """
    check_name(name, field="name")
    file_format = _format_of(request.headers.get("content-type"), fmt)
    with datasets.temp_file() as path:
        await _receive(request, path, settings.max_upload_bytes)
        return await run_in_threadpool(
            datasets.upload,
            principal,
            name,
            path,
            format=file_format,
            description=description,
            unit_column=unit_column,
            time_column=time_column,
        )


@router.post(
    "/{name}/append",
    response_model=DatasetVersionRead,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
)
async def append_dataset(
    name: Name,
    request: Request,
    principal: PrincipalDep,
    datasets: DatasetsDep,
    settings: SettingsDep,
    fmt: Format = None,
    unit_column: Column = None,
    time_column: Column = None,
) -> DatasetVersionRead:
    """Append the rows of a CSV or Parquet file to the latest version, as a new version.

    The new rows must have the dataset's columns, with values of their types; a mismatch is
    refused (422) naming the column.
    """
    check_name(name, field="name")
    file_format = _format_of(request.headers.get("content-type"), fmt)
    with datasets.temp_file() as path:
        await _receive(request, path, settings.max_upload_bytes)
        return await run_in_threadpool(
            datasets.append,
            principal,
            name,
            path,
            format=file_format,
            unit_column=unit_column,
            time_column=time_column,
        )


def _format_of(content_type: str | None, fmt: DatasetFormat | None) -> DatasetFormat:
    """The upload's format from its content type, or from ``?format=`` for a generic one.

    Raises:
        UnsupportedMediaTypeError: the content type is not CSV or Parquet, is generic without
            ``?format=``, or contradicts ``?format=``.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    expected = [*_MEDIA_TYPES, "application/octet-stream with ?format=csv|parquet"]
    if media in _GENERIC:
        if fmt is None:
            raise UnsupportedMediaTypeError(
                "Say what the file is: content type text/csv or application/vnd.apache.parquet,"
                " or add ?format=csv or ?format=parquet.",
                field="content-type",
                expected=expected,
                received=media or None,
            )
        return fmt
    known = _MEDIA_TYPES.get(media)
    if known is None:
        raise UnsupportedMediaTypeError(
            f"Content type {media!r} is not a dataset format; send CSV or Parquet.",
            field="content-type",
            expected=expected,
            received=media,
        )
    if fmt is not None and fmt is not known:
        raise UnsupportedMediaTypeError(
            f"Content type {media!r} says {known.value}, but ?format= says {fmt.value}.",
            field="format",
            expected=known.value,
            received=fmt.value,
        )
    return known


async def _receive(request: Request, path: FilePath, limit: int) -> None:
    """Stream the request body into ``path``, a chunk at a time.

    Raises:
        PayloadTooLargeError: the body is longer than ``limit`` bytes.
    """
    size = 0
    pending = bytearray()
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"The file is larger than {limit} bytes.",
                    field="body",
                    expected=f"<= {limit} bytes",
                )
            pending += chunk
            if len(pending) >= _RECEIVE_CHUNK:
                await run_in_threadpool(out.write, pending)
                pending = bytearray()
        if pending:
            await run_in_threadpool(out.write, pending)
