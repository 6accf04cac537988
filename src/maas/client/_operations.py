"""The API's operations, one ``Call`` each: path, query, body and the type of the answer.

Arguments are checked before anything is sent: a bad argument raises the same
``InvalidInputError`` family the server would have answered with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from maas.client._base import Call, no_content, parse_as
from maas.client._types import (
    ColumnsInput,
    DatasetFile,
    ModelSource,
    RowsInput,
    SignatureInput,
    TableInput,
    TagsInput,
)
from maas.client._uploads import Upload
from maas.domain.roles import Role
from maas.domain.signature import Signature
from maas.errors import InvalidInputError, InvalidParameterError
from maas.schemas.datasets import (
    DatasetPage,
    DatasetPreview,
    DatasetRead,
    DatasetVersionPage,
    DatasetVersionRead,
)
from maas.schemas.jobs import JobPage, JobRead, JobStatus
from maas.schemas.keys import KeyCreate, KeyCreated, KeyRead
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
from maas.schemas.predict import PredictResponse
from maas.schemas.system import ServerInfo
from maas.schemas.tenants import TenantCreate, TenantCreated, TenantRead
from maas.schemas.training import RetrainRequest, TrainRequest

M = TypeVar("M", bound=BaseModel)


def _path(*segments: str | int) -> str:
    parts = []
    for segment in segments:
        text = str(segment)
        if text in {"", ".", ".."}:
            raise InvalidParameterError(
                f"A name in the URL path must not be {text!r}.",
                field="path",
                expected="a non-empty name",
                received=text,
            )
        parts.append(quote(text, safe="@"))
    return "/v1/" + "/".join(parts)


def _validated(schema: type[M], **values: Any) -> M:
    """``schema(**values)``, with pydantic's errors as the SDK's own ``InvalidParameterError``."""
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise _invalid_parameter(exc) from exc


def _invalid_parameter(exc: ValidationError, prefix: str = "") -> InvalidParameterError:
    """pydantic's errors, in the shape of the server's: the first one on the exception, all of
    them as ``details["errors"]`` (``field``, ``message``, ``received``)."""
    problems = [
        {
            "field": prefix + ".".join(str(part) for part in error["loc"]),
            "message": error["msg"],
            "received": error.get("input"),
        }
        for error in exc.errors(include_url=False)
    ]
    first = exc.errors()[0]
    where = problems[0]["field"] or None
    return InvalidParameterError(
        f"{where or 'value'}: {first['msg']}.",
        field=where,
        expected=first.get("ctx", {}).get("expected"),
        received=first.get("input"),
        details={"errors": problems},
    )


def _json(model: BaseModel, *, exclude_none: bool = False) -> bytes:
    return model.model_dump_json(exclude_none=exclude_none).encode()


def info() -> Call[ServerInfo]:
    return Call("GET", "/v1/info", parse_as(ServerInfo))


def list_models(q: str | None, offset: int, limit: int) -> Call[ModelPage]:
    params: dict[str, str | int] = {"offset": offset, "limit": limit}
    if q:
        params["q"] = q
    return Call("GET", "/v1/models", parse_as(ModelPage), params=params)


def get_model(name: str) -> Call[ModelRead]:
    return Call("GET", _path("models", name), parse_as(ModelRead))


def create_model(name: str, description: str, tags: TagsInput | None) -> Call[ModelRead]:
    body = _validated(ModelCreate, name=name, description=description, tags=dict(tags or {}))
    return Call("POST", "/v1/models", parse_as(ModelRead), json=_json(body))


def update_model(name: str, description: str | None, tags: TagsInput | None) -> Call[ModelRead]:
    body = _validated(ModelUpdate, description=description, tags=_optional_dict(tags))
    return Call(
        "PATCH", _path("models", name), parse_as(ModelRead), json=_json(body, exclude_none=True)
    )


def delete_model(name: str) -> Call[None]:
    return Call("DELETE", _path("models", name), no_content)


def list_versions(name: str) -> Call[VersionPage]:
    return Call("GET", _path("models", name, "versions"), parse_as(VersionPage))


def get_version(name: str, version: int) -> Call[VersionRead]:
    return Call("GET", _path("models", name, "versions", version), parse_as(VersionRead))


def update_version(
    name: str, version: int, description: str | None, tags: TagsInput | None
) -> Call[VersionRead]:
    body = _validated(VersionUpdate, description=description, tags=_optional_dict(tags))
    path = _path("models", name, "versions", version)
    return Call("PATCH", path, parse_as(VersionRead), json=_json(body, exclude_none=True))


def read_model(model: ModelSource) -> tuple[bytes, str]:
    """The artifact's bytes and a file name for the upload (blocking: reads a file).

    Raises:
        OSError: ``model`` is a path that cannot be read.
    """
    if isinstance(model, bytes):
        return model, "model.onnx"
    path = Path(os.fspath(model))
    return path.read_bytes(), path.name


def upload_onnx(
    name: str,
    content: bytes,
    filename: str,
    signature: SignatureInput,
    description: str,
    tags: TagsInput | None,
) -> Call[VersionRead]:
    if not isinstance(signature, Signature):
        try:
            signature = Signature.model_validate(dict(signature))
        except ValidationError as exc:
            raise _invalid_parameter(exc, prefix="signature.") from exc
    data = {"signature": signature.model_dump_json()}
    if description:
        data["description"] = description
    if tags:
        data["tags"] = orjson.dumps(dict(tags)).decode()
    files = {"file": (filename, content, "application/octet-stream")}
    path = _path("models", name, "versions")
    return Call("POST", path, parse_as(VersionRead), data=data, files=files)


def list_aliases(name: str) -> Call[list[AliasRead]]:
    return Call("GET", _path("models", name, "aliases"), parse_as(list[AliasRead]))


def set_alias(name: str, alias: str, version: int) -> Call[AliasRead]:
    body = _validated(AliasUpdate, version=version)
    path = _path("models", name, "aliases", alias)
    return Call("PUT", path, parse_as(AliasRead), json=_json(body))


def delete_alias(name: str, alias: str) -> Call[None]:
    return Call("DELETE", _path("models", name, "aliases", alias), no_content)


def rollback_alias(name: str, alias: str) -> Call[AliasRead]:
    return Call("POST", _path("models", name, "aliases", alias, "rollback"), parse_as(AliasRead))


def alias_history(name: str, alias: str) -> Call[list[AliasEventRead]]:
    path = _path("models", name, "aliases", alias, "history")
    return Call("GET", path, parse_as(list[AliasEventRead]))


def predict(
    ref: str, rows: RowsInput | None, columns: ColumnsInput | None, explain: bool
) -> Call[PredictResponse]:
    if (rows is None) == (columns is None):
        raise InvalidInputError(
            "Pass exactly one of rows or columns.",
            field="rows",
            expected="exactly one of rows, columns",
            received="both" if rows is not None else "neither",
        )
    body: dict[str, Any] = {"explain": explain}
    if rows is not None:
        body["rows"] = rows
    else:
        body["columns"] = columns
    try:
        # orjson writes numpy arrays and scalars as they are, and NaN as null (missing).
        content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=_json_default)
    except orjson.JSONEncodeError as exc:
        raise InvalidInputError(
            f"The input cannot be sent as JSON: {exc}.",
            field="rows" if rows is not None else "columns",
            expected="numbers, strings, booleans or null",
        ) from exc
    path = _path("models", ref, "predict")
    return Call("POST", path, parse_as(PredictResponse), json=content)


ARROW_STREAM = "application/vnd.apache.arrow.stream"


def _arrow_stream(table: TableInput) -> bytes:
    """``table`` as an Arrow IPC stream. pyarrow is imported here, on first use, so that
    ``import maas`` does not load it.

    Raises:
        InvalidInputError: ``table`` is not a pyarrow Table or RecordBatch or a pandas
            DataFrame pyarrow can convert.
    """
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    elif not isinstance(table, pa.Table):
        try:
            table = pa.Table.from_pandas(table, preserve_index=False)
        except (TypeError, ValueError, AttributeError, pa.ArrowException) as exc:
            raise InvalidInputError(
                f"The table cannot be sent as Arrow: {exc}.",
                field="table",
                expected="a pyarrow Table or RecordBatch, or a pandas DataFrame",
                received=type(table).__name__,
            ) from exc
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _read_arrow(response: httpx.Response) -> Any:
    import pyarrow as pa

    with pa.ipc.open_stream(response.content) as reader:
        return reader.read_all()


def predict_table(ref: str, table: TableInput, explain: bool) -> Call[PredictResponse]:
    path = _path("models", ref, "predict")
    params = {"explain": "true"} if explain else None
    body = Upload(ARROW_STREAM, _arrow_stream(table))
    return Call("POST", path, parse_as(PredictResponse), params=params, upload=body)


def predict_arrow(ref: str, table: TableInput, explain: bool) -> Call[Any]:
    path = _path("models", ref, "predict")
    params = {"explain": "true"} if explain else None
    body = Upload(ARROW_STREAM, _arrow_stream(table))
    return Call("POST", path, _read_arrow, params=params, upload=body, accept=ARROW_STREAM)


def list_datasets(q: str | None, offset: int, limit: int) -> Call[DatasetPage]:
    params: dict[str, str | int] = {"offset": offset, "limit": limit}
    if q:
        params["q"] = q
    return Call("GET", "/v1/datasets", parse_as(DatasetPage), params=params)


def get_dataset(name: str) -> Call[DatasetRead]:
    return Call("GET", _path("datasets", name), parse_as(DatasetRead))


def delete_dataset(name: str) -> Call[None]:
    return Call("DELETE", _path("datasets", name), no_content)


def list_dataset_versions(name: str) -> Call[DatasetVersionPage]:
    return Call("GET", _path("datasets", name, "versions"), parse_as(DatasetVersionPage))


def get_dataset_version(name: str, version: int) -> Call[DatasetVersionRead]:
    path = _path("datasets", name, "versions", version)
    return Call("GET", path, parse_as(DatasetVersionRead))


def preview_dataset(name: str, version: int, limit: int) -> Call[DatasetPreview]:
    path = _path("datasets", name, "versions", version, "data")
    return Call("GET", path, parse_as(DatasetPreview), params={"limit": limit})


_DATASET_MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
_SUFFIXES = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def dataset_upload(
    name: str,
    data: DatasetFile,
    format: str | None,  # noqa: A002 - the parameter's name on the wire
    *,
    append: bool,
    description: str = "",
    unit_column: str | None = None,
    time_column: str | None = None,
) -> Call[DatasetVersionRead]:
    """The upload (or append) of a dataset file, streamed from where it is.

    Raises:
        InvalidParameterError: the format is unknown, or cannot be told from the file.
    """
    if isinstance(data, bytes):
        source: bytes | Path | IO[bytes] = data
        guess = "parquet" if data.startswith(b"PAR1") else "csv"
    elif isinstance(data, str | os.PathLike):
        source = Path(os.fspath(data))
        guess = _SUFFIXES.get(source.suffix.lower(), "")
    else:
        source = data
        guess = _SUFFIXES.get(Path(str(getattr(data, "name", ""))).suffix.lower(), "")
    chosen = (format or guess).lower()
    if chosen not in _DATASET_MEDIA:
        raise InvalidParameterError(
            f"format must be csv or parquet. Got {format or 'nothing'!r} instead"
            + ("" if format else " (and the file's name does not say)")
            + ".",
            field="format",
            expected=list(_DATASET_MEDIA),
            received=format,
        )
    params: dict[str, str | int] = {}
    if description:
        params["description"] = description
    if unit_column:
        params["unit_column"] = unit_column
    if time_column:
        params["time_column"] = time_column
    path = _path("datasets", name, "append" if append else "versions")
    upload = Upload(content_type=_DATASET_MEDIA[chosen], source=source)
    return Call("POST", path, parse_as(DatasetVersionRead), params=params, upload=upload)


def train(
    name: str,
    *,
    template: str,
    dataset: str,
    target: str | None,
    dataset_version: int | None,
    features: Sequence[str] | None,
    params: Mapping[str, Any] | None,
    stability_runs: int,
    alias: str | None,
    description: str,
) -> Call[JobRead]:
    body = _validated(
        TrainRequest,
        template=template,
        dataset=dataset,
        target=target,
        dataset_version=dataset_version,
        features=None if features is None else list(features),
        params=dict(params or {}),
        stability_runs=stability_runs,
        alias=alias,
        description=description,
    )
    path = _path("models", name, "train")
    return Call("POST", path, parse_as(JobRead), json=_json(body, exclude_none=True))


def retrain(
    name: str,
    *,
    metric: str,
    alias: str,
    dataset: str | None,
    dataset_version: int | None,
    min_improvement: float,
    holdout_fraction: float,
    seed: int,
    stability_runs: int,
    description: str,
) -> Call[JobRead]:
    body = _validated(
        RetrainRequest,
        metric=metric,
        alias=alias,
        dataset=dataset,
        dataset_version=dataset_version,
        min_improvement=min_improvement,
        holdout_fraction=holdout_fraction,
        seed=seed,
        stability_runs=stability_runs,
        description=description,
    )
    path = _path("models", name, "retrain")
    return Call("POST", path, parse_as(JobRead), json=_json(body, exclude_none=True))


def get_job(job_id: str) -> Call[JobRead]:
    return Call("GET", _path("jobs", job_id), parse_as(JobRead))


def list_jobs(status: JobStatus | str | None, offset: int, limit: int) -> Call[JobPage]:
    params: dict[str, str | int] = {"offset": offset, "limit": limit}
    if status:
        try:
            params["status"] = JobStatus(status).value
        except ValueError as exc:
            raise InvalidParameterError(
                f"status must be one of {', '.join(JobStatus)}. Got {status!r} instead.",
                field="status",
                expected=list(JobStatus),
                received=status,
            ) from exc
    return Call("GET", "/v1/jobs", parse_as(JobPage), params=params)


def batch_predict(ref: str, dataset: str, dataset_version: int | None) -> Call[JobRead]:
    body: dict[str, Any] = {"dataset": dataset}
    if dataset_version is not None:
        body["dataset_version"] = dataset_version
    path = _path("models", ref, "batch")
    return Call("POST", path, parse_as(JobRead), json=orjson.dumps(body))


def _raw_bytes(response: httpx.Response) -> bytes:
    return response.content


def job_results(job_id: str) -> Call[bytes]:
    return Call("GET", _path("jobs", job_id, "results"), _raw_bytes)


def cancel_job(job_id: str) -> Call[JobRead]:
    return Call("POST", _path("jobs", job_id, "cancel"), parse_as(JobRead))


def check_wait(poll_seconds: float, timeout_seconds: float | None) -> None:
    """Raises: InvalidParameterError for a negative poll interval or timeout."""
    for field, value in (("poll_seconds", poll_seconds), ("timeout_seconds", timeout_seconds)):
        if value is not None and value < 0:
            raise InvalidParameterError(
                f"{field} must not be negative. Got {value!r} instead.",
                field=field,
                expected=">= 0",
                received=value,
            )


def wait_timed_out(job: JobRead, timeout_seconds: float) -> TimeoutError:
    return TimeoutError(
        f"Job {job.id} did not finish within {timeout_seconds:g} seconds "
        f"(status {job.status.value}, {job.progress:.0%} done: {job.message or 'no message'})."
    )


def list_keys() -> Call[list[KeyRead]]:
    return Call("GET", "/v1/keys", parse_as(list[KeyRead]))


def create_key(name: str, role: Role | str, expires_at: datetime | None) -> Call[KeyCreated]:
    body = _validated(KeyCreate, name=name, role=role, expires_at=expires_at)
    return Call("POST", "/v1/keys", parse_as(KeyCreated), json=_json(body))


def revoke_key(key_id: str) -> Call[None]:
    return Call("DELETE", _path("keys", key_id), no_content)


def list_tenants() -> Call[list[TenantRead]]:
    return Call("GET", "/v1/tenants", parse_as(list[TenantRead]))


def create_tenant(name: str) -> Call[TenantCreated]:
    body = _validated(TenantCreate, name=name)
    return Call("POST", "/v1/tenants", parse_as(TenantCreated), json=_json(body))


def _optional_dict(tags: TagsInput | None) -> dict[str, str] | None:
    return None if tags is None else dict(tags)


def _json_default(value: Any) -> Any:
    """Values orjson does not write itself: numpy object arrays, pandas values, dates."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pandas Series
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
