"""The asynchronous SDK client: ``Client``'s methods as coroutines."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import httpx

from maas.client import _operations
from maas.client._async_monitoring import AsyncMonitoringMethods
from maas.client._base import USE_CLIENT_DEFAULT, BaseClient, Call, TimeoutArg
from maas.client._types import (
    ColumnsInput,
    DatasetFile,
    ModelSource,
    RowsInput,
    SignatureInput,
    TableInput,
    TagsInput,
    TimeoutTypes,
)
from maas.domain.roles import Role
from maas.errors import InvalidParameterError
from maas.schemas.datasets import (
    DatasetPage,
    DatasetPreview,
    DatasetRead,
    DatasetVersionPage,
    DatasetVersionRead,
)
from maas.schemas.jobs import JobPage, JobRead, JobStatus
from maas.schemas.keys import KeyCreated, KeyRead
from maas.schemas.models import (
    AliasEventRead,
    AliasRead,
    ModelPage,
    ModelRead,
    VersionPage,
    VersionRead,
)
from maas.schemas.predict import PredictResponse
from maas.schemas.system import ServerInfo
from maas.schemas.tenants import TenantCreated, TenantRead

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(AsyncMonitoringMethods, BaseClient):
    """A connection to a maas server.

    Use it as an async context manager, or await ``aclose()``::

        async with AsyncClient("http://127.0.0.1:8000", api_key="maas_...") as client:
            await client.predict("pump-rul", rows=[{"torque": 41.2, "speed": 1500}])

    Every method takes a keyword ``timeout`` (seconds, an ``httpx.Timeout``, or ``None`` to wait
    forever); it defaults to the client's own. Besides the errors each method lists, any call may
    raise ``AuthenticationError`` (missing or unknown key), ``PermissionDeniedError`` (the key's
    role is too small), ``RateLimitedError`` (with ``retry_after`` seconds), ``MaasError`` (any
    other problem the server reports) and ``httpx.TransportError`` (the server is unreachable).

    Args:
        url: the server's base URL, for example ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <api_key>``; ``None`` or empty sends none.
        timeout: the default timeout of every call.
        transport: an httpx transport to send through (``httpx.MockTransport`` in tests).
        http_client: an ``httpx.AsyncClient`` to send through (over ``httpx.ASGITransport`` in
            tests); the caller keeps ownership and closes it.

    Raises:
        InvalidParameterError: ``url`` is not an http(s) URL, or both ``transport`` and
            ``http_client`` are given.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: TimeoutTypes = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(url, api_key, timeout=timeout)
        if transport is not None and http_client is not None:
            raise InvalidParameterError(
                "Pass transport or http_client, not both.", field="transport"
            )
        self._owns_http = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.AsyncClient(transport=transport)
        )

    async def aclose(self) -> None:
        """Close the connections, unless the ``httpx.AsyncClient`` was passed in."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call[T], timeout: TimeoutArg) -> T:
        response = await self._http.send(self._build_request(self._http, call, timeout))
        return self._read_response(call, response)

    async def info(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> ServerInfo:
        """The server's version, formats, templates, and who the key belongs to.

        Returns:
            The server information, with the key's tenant and role.

        Raises:
            AuthenticationError: the key is missing, unknown, expired or revoked.
        """
        return await self._send(_operations.info(), timeout)

    async def list_models(
        self,
        q: str | None = None,
        offset: int = 0,
        limit: int = 50,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ModelPage:
        """One page of the tenant's models, by name.

        Args:
            q: keep only models whose name contains this text.
            offset: how many models to skip.
            limit: the most models to return.

        Returns:
            The page, with the total count of matching models.

        Raises:
            InvalidInputError: ``offset`` or ``limit`` is out of range.
        """
        return await self._send(_operations.list_models(q, offset, limit), timeout)

    async def get_model(self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> ModelRead:
        """One model, with its aliases and latest version.

        Raises:
            ModelNotFoundError: no model has this name.
        """
        return await self._send(_operations.get_model(name), timeout)

    async def create_model(
        self,
        name: str,
        description: str = "",
        tags: TagsInput | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ModelRead:
        """Create an empty model (``upload_onnx`` also creates models as needed).

        Returns:
            The new model.

        Raises:
            InvalidNameError: the name is not a valid model name.
            AlreadyExistsError: a model with this name exists.
        """
        return await self._send(_operations.create_model(name, description, tags), timeout)

    async def update_model(
        self,
        name: str,
        description: str | None = None,
        tags: TagsInput | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ModelRead:
        """Change a model's description and/or tags; ``None`` leaves a field as it is.

        Returns:
            The updated model.

        Raises:
            ModelNotFoundError: no model has this name.
        """
        return await self._send(_operations.update_model(name, description, tags), timeout)

    async def delete_model(self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Delete a model with all its versions and aliases.

        Raises:
            ModelNotFoundError: no model has this name.
        """
        await self._send(_operations.delete_model(name), timeout)

    async def list_versions(
        self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> VersionPage:
        """Every version of a model.

        Raises:
            ModelNotFoundError: no model has this name.
        """
        return await self._send(_operations.list_versions(name), timeout)

    async def get_version(
        self, name: str, version: int, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> VersionRead:
        """One version of a model, with its signature, metrics and checksum.

        Raises:
            ModelNotFoundError: no model has this name.
            VersionNotFoundError: the model has no such version.
        """
        return await self._send(_operations.get_version(name, version), timeout)

    async def update_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        tags: TagsInput | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> VersionRead:
        """Change a version's description and/or tags (the rest of a version is immutable).

        Raises:
            ModelNotFoundError: no model has this name.
            VersionNotFoundError: the model has no such version.
        """
        return await self._send(
            _operations.update_version(name, version, description, tags), timeout
        )

    async def upload_onnx(
        self,
        name: str,
        model: ModelSource,
        signature: SignatureInput,
        description: str = "",
        tags: TagsInput | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> VersionRead:
        """Register an ONNX model as the next version of ``name``, creating the model if needed.

        Args:
            name: the model's name.
            model: the ONNX bytes, or the path of the ``.onnx`` file.
            signature: the input columns and outputs the model takes and returns.
            description: what this version is.
            tags: free-form labels of this version.

        Returns:
            The new version.

        Raises:
            InvalidParameterError: the signature is malformed (raised before sending).
            UnsupportedFormatError: the bytes are not a loadable ONNX model.
            SchemaMismatchError: the model's inputs do not match the signature.
            PayloadTooLargeError: the file is larger than the server accepts.
            OSError: ``model`` is a path that cannot be read.
        """
        content, filename = await anyio.to_thread.run_sync(_operations.read_model, model)
        call = _operations.upload_onnx(name, content, filename, signature, description, tags)
        return await self._send(call, timeout)

    async def list_aliases(
        self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> list[AliasRead]:
        """Every alias of a model and the version it points to.

        Raises:
            ModelNotFoundError: no model has this name.
        """
        return await self._send(_operations.list_aliases(name), timeout)

    async def set_alias(
        self, name: str, alias: str, version: int, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> AliasRead:
        """Point ``alias`` (``production``, ``staging``, ...) at ``version``.

        Returns:
            The alias, with the version it pointed to before.

        Raises:
            ModelNotFoundError: no model has this name.
            VersionNotFoundError: the model has no such version.
            InvalidNameError: the alias is malformed or reserved.
        """
        return await self._send(_operations.set_alias(name, alias, version), timeout)

    async def delete_alias(
        self, name: str, alias: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> None:
        """Remove an alias; the version it pointed to stays.

        Raises:
            ModelNotFoundError: no model has this name.
            AliasNotFoundError: the model has no such alias.
        """
        await self._send(_operations.delete_alias(name, alias), timeout)

    async def rollback_alias(
        self, name: str, alias: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> AliasRead:
        """Point an alias back at the version it pointed to before its last move.

        Returns:
            The alias after the rollback.

        Raises:
            AliasNotFoundError: the model has no such alias.
            ConflictError: the alias has no earlier version to go back to.
        """
        return await self._send(_operations.rollback_alias(name, alias), timeout)

    async def alias_history(
        self, name: str, alias: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> list[AliasEventRead]:
        """Every move of an alias, oldest first.

        Raises:
            ModelNotFoundError: no model has this name.
            AliasNotFoundError: the model has no such alias.
        """
        return await self._send(_operations.alias_history(name, alias), timeout)

    async def predict(
        self,
        ref: str,
        rows: RowsInput | None = None,
        columns: ColumnsInput | None = None,
        explain: bool = False,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> PredictResponse:
        """Predict with a model, given rows or columns of input.

        Args:
            ref: ``NAME`` (its ``production`` alias), ``NAME@ALIAS`` or ``NAME@VERSION``.
            rows: the input as one object per row.
            columns: the input as one sequence per column (numpy arrays welcome).
            explain: also return each input's contribution to each prediction.

        Returns:
            The predictions, with the version that made them.

        Raises:
            InvalidInputError: not exactly one of ``rows`` and ``columns`` is given, or they
                cannot be encoded as JSON (raised before sending).
            ModelNotFoundError / AliasNotFoundError / VersionNotFoundError: ``ref`` names
                nothing.
            SchemaMismatchError: a column is missing, extra or of the wrong type; ``field``,
                ``expected`` and ``received`` say which.
            ModelExecutionError: the model failed on valid input.
        """
        return await self._send(_operations.predict(ref, rows, columns, explain), timeout)

    async def predict_table(
        self,
        ref: str,
        table: TableInput,
        explain: bool = False,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> PredictResponse:
        """Predict with a model for a table sent as an Arrow IPC stream (no JSON on the way
        in: the fast path for large batches).

        Args:
            ref: ``NAME`` (its ``production`` alias), ``NAME@ALIAS`` or ``NAME@VERSION``.
            table: one column per input: a ``pyarrow.Table`` or ``RecordBatch``, or a
                ``pandas.DataFrame`` (needs pyarrow, imported on first use).
            explain: also return each input's contribution to each prediction.

        Returns:
            The predictions, with the version that made them.

        Raises:
            InvalidInputError: ``table`` cannot be written as Arrow (raised before sending).
            ModelNotFoundError / AliasNotFoundError / VersionNotFoundError: ``ref`` names
                nothing.
            SchemaMismatchError: a column is missing, extra or of the wrong Arrow type.
        """
        return await self._send(_operations.predict_table(ref, table, explain), timeout)

    async def predict_arrow(
        self,
        ref: str,
        table: TableInput,
        explain: bool = False,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> Any:
        """Like ``predict_table``, with the answer as an Arrow table too: columns
        ``prediction``, ``p_<class>`` per class, ``contribution.<input>`` (with ``explain``)...;
        its schema metadata names the model and version (``maas.model``, ``maas.version``).

        Returns:
            A ``pyarrow.Table``, one row per prediction.

        Raises:
            As ``predict_table``.
        """
        return await self._send(_operations.predict_arrow(ref, table, explain), timeout)

    async def list_datasets(
        self,
        q: str | None = None,
        offset: int = 0,
        limit: int = 50,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> DatasetPage:
        """One page of the tenant's datasets, by name.

        Args:
            q: keep only datasets whose name or description contains this text.
            offset: how many datasets to skip.
            limit: the most datasets to return.

        Returns:
            The page, with the total count of matching datasets.

        Raises:
            InvalidInputError: ``offset`` or ``limit`` is out of range.
        """
        return await self._send(_operations.list_datasets(q, offset, limit), timeout)

    async def get_dataset(
        self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> DatasetRead:
        """One dataset, with its latest version and row count.

        Raises:
            NotFoundError: no dataset has this name.
        """
        return await self._send(_operations.get_dataset(name), timeout)

    async def delete_dataset(self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Delete a dataset with all its versions.

        Raises:
            NotFoundError: no dataset has this name.
            PermissionDeniedError: the key is not a developer or admin key.
        """
        await self._send(_operations.delete_dataset(name), timeout)

    async def list_dataset_versions(
        self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> DatasetVersionPage:
        """Every version of a dataset, oldest first, with schemas, profiles and findings.

        Raises:
            NotFoundError: no dataset has this name.
        """
        return await self._send(_operations.list_dataset_versions(name), timeout)

    async def get_dataset_version(
        self, name: str, version: int, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> DatasetVersionRead:
        """One version of a dataset: schema, profile and data-quality findings.

        Raises:
            NotFoundError: no such dataset, or no such version of it.
        """
        return await self._send(_operations.get_dataset_version(name, version), timeout)

    async def upload_dataset(
        self,
        name: str,
        data: DatasetFile,
        format: str | None = None,  # noqa: A002 - the parameter's name on the wire
        description: str = "",
        unit_column: str | None = None,
        time_column: str | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> DatasetVersionRead:
        """Upload a CSV or Parquet file as the next version of dataset ``name`` (created if
        new). The file is streamed, never read whole; pass a longer ``timeout`` for big files.

        Args:
            name: the dataset's name.
            data: the file's path, its bytes, or a binary file object.
            format: ``csv`` or ``parquet``; by default from the file name's suffix (bytes:
                Parquet if they start with ``PAR1``, else CSV).
            description: what the dataset is (kept as it was when empty).
            unit_column: the column naming each row's machine or unit (found by name if not
                given).
            time_column: the column ordering each unit's rows (found by type or name if not
                given).

        Returns:
            The new version, with its schema, profile and data-quality findings.

        Raises:
            InvalidParameterError: the format is unknown or cannot be told (before sending).
            InvalidNameError: the name is malformed.
            InvalidInputError: the file is empty, has only a header, is not UTF-8, has ragged
                rows or a column named twice.
            UnsupportedFormatError: the file is not CSV or Parquet as said.
            SchemaMismatchError: ``unit_column`` or ``time_column`` is not a column.
            PayloadTooLargeError: the file is larger than the server accepts.
            OSError: ``data`` is a path that cannot be read.
        """
        call = _operations.dataset_upload(
            name,
            data,
            format,
            append=False,
            description=description,
            unit_column=unit_column,
            time_column=time_column,
        )
        return await self._send(call, timeout)

    async def append_dataset(
        self,
        name: str,
        data: DatasetFile,
        format: str | None = None,  # noqa: A002 - the parameter's name on the wire
        unit_column: str | None = None,
        time_column: str | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> DatasetVersionRead:
        """Append the rows of a CSV or Parquet file to a dataset's latest version, making a
        new version (the data retraining then uses).

        Args:
            name: the dataset's name.
            data: the file's path, its bytes, or a binary file object.
            format: ``csv`` or ``parquet``; by default from the file name's suffix.
            unit_column: overrides the unit column of the latest version.
            time_column: overrides the time column of the latest version.

        Returns:
            The new version; ``parent_version`` is the one the rows were added to.

        Raises:
            NotFoundError: no dataset has this name.
            SchemaMismatchError: a column is missing or extra, or a value does not fit its
                column's type; ``field`` names the column.
            InvalidInputError, UnsupportedFormatError: the file is bad, as for uploads.
            ConflictError: another version was added meanwhile; append again.
            OSError: ``data`` is a path that cannot be read.
        """
        call = _operations.dataset_upload(
            name, data, format, append=True, unit_column=unit_column, time_column=time_column
        )
        return await self._send(call, timeout)

    async def preview_dataset(
        self,
        name: str,
        version: int,
        limit: int = 20,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> DatasetPreview:
        """The first ``limit`` rows of a dataset version, for a quick look.

        Raises:
            NotFoundError: no such dataset, or no such version of it.
            InvalidInputError: ``limit`` is out of range (1 to 1000).
        """
        return await self._send(_operations.preview_dataset(name, version, limit), timeout)

    async def train(
        self,
        name: str,
        *,
        template: str,
        dataset: str,
        target: str | None = None,
        dataset_version: int | None = None,
        features: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        stability_runs: int = 3,
        alias: str | None = None,
        description: str = "",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> JobRead:
        """Train the next version of ``name`` from a template on a dataset, as a background
        job; follow it with ``get_job`` or ``wait_for_job``. When it succeeds,
        ``job.result["version"]`` is the new version, whose ``report`` holds the evaluation.

        Args:
            name: the model's name (created if new).
            template: a template name from ``info().templates``.
            dataset: the dataset's name.
            target: the column to predict (templates that need none ignore it).
            dataset_version: the dataset version to train on; the newest by default.
            features: the input columns; every other column by default.
            params: the template's parameters.
            stability_runs: fits with different seeds, for each metric's mean and std (1-10).
            alias: point this alias (e.g. ``staging``) at the new version.
            description: what the new version is.

        Returns:
            The queued job.

        Raises:
            InvalidParameterError: an argument is malformed (raised before sending).
            NotFoundError: no such dataset or dataset version.
            InvalidInputError / SchemaMismatchError: the template, its parameters or the
                columns do not fit.
        """
        call = _operations.train(
            name,
            template=template,
            dataset=dataset,
            target=target,
            dataset_version=dataset_version,
            features=features,
            params=params,
            stability_runs=stability_runs,
            alias=alias,
            description=description,
        )
        return await self._send(call, timeout)

    async def retrain(
        self,
        name: str,
        *,
        metric: str,
        alias: str = "production",
        dataset: str | None = None,
        dataset_version: int | None = None,
        min_improvement: float = 0.0,
        holdout_fraction: float = 0.2,
        seed: int = 0,
        stability_runs: int = 1,
        description: str = "",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> JobRead:
        """Retrain ``name`` on newer data as a background job, and promote the challenger
        only if it beats the champion (the version ``alias`` points at) on ``metric``, both
        scored on the same held-out data. The challenger is registered either way; its
        ``report["comparison"]`` and the job's ``result`` (``promoted``, ``reason``, both
        scores) say what happened.

        Args:
            name: the model's name.
            metric: the held-out metric that decides (e.g. ``f1``, ``roc_auc``, ``rmse``).
            alias: the champion's alias, moved to the challenger on a promotion.
            dataset: the dataset to train on; the champion's by default.
            dataset_version: its version; the newest by default.
            min_improvement: promote only when better by more than this (metric units).
            holdout_fraction: the share held out when the rows added since the champion's
                data cannot be held out alone.
            seed: seed of the held-out split.
            stability_runs: fits with different seeds, for each metric's mean and std (1-10).
            description: what the new version is.

        Returns:
            The queued job.

        Raises:
            InvalidParameterError: an argument is malformed (raised before sending), or the
                metric cannot compare this template's models.
            NotFoundError: no such model, alias, dataset or dataset version.
            ConflictError: the champion was not trained from a template on a dataset.
        """
        call = _operations.retrain(
            name,
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
        return await self._send(call, timeout)

    async def get_job(self, job_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> JobRead:
        """One job: status, progress, message, log and (when done) result.

        Raises:
            NotFoundError: the tenant has no job with this id.
        """
        return await self._send(_operations.get_job(job_id), timeout)

    async def list_jobs(
        self,
        status: JobStatus | str | None = None,
        offset: int = 0,
        limit: int = 50,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> JobPage:
        """One page of the tenant's jobs, newest first.

        Args:
            status: keep only jobs in this state (``queued``, ``running``, ``succeeded``,
                ``failed``, ``cancelled``).
            offset: how many jobs to skip.
            limit: the most jobs to return.

        Raises:
            InvalidParameterError: ``status`` is not a job state (raised before sending).
            InvalidInputError: ``offset`` or ``limit`` is out of range.
        """
        return await self._send(_operations.list_jobs(status, offset, limit), timeout)

    async def batch_predict(
        self,
        ref: str,
        dataset: str,
        *,
        dataset_version: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> JobRead:
        """Predict a whole dataset version with a model, as a background job.

        Args:
            ref: ``NAME``, ``NAME@ALIAS`` or ``NAME@VERSION`` (resolved when submitted).
            dataset: the dataset's name.
            dataset_version: its version; the newest when omitted.

        Returns:
            The queued job; follow it with ``wait_for_job``, then fetch ``job_results``.

        Raises:
            NotFoundError: no such model, version, alias or dataset.
            SchemaMismatchError: the dataset lacks an input column of the model.
        """
        return await self._send(_operations.batch_predict(ref, dataset, dataset_version), timeout)

    async def job_results(self, job_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> bytes:
        """The Parquet file a succeeded batch prediction wrote.

        Raises:
            NotFoundError: no such job.
            ConflictError: the job is not a succeeded batch prediction.
        """
        return await self._send(_operations.job_results(job_id), timeout)

    async def cancel_job(self, job_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> JobRead:
        """Cancel a queued job, or stop a running one.

        Returns:
            The job after the cancellation.

        Raises:
            NotFoundError: the tenant has no job with this id.
        """
        return await self._send(_operations.cancel_job(job_id), timeout)

    async def wait_for_job(
        self,
        job_id: str,
        *,
        poll_seconds: float = 1.0,
        timeout_seconds: float | None = None,
        on_progress: Callable[[JobRead], Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> JobRead:
        """Poll a job until it has succeeded, failed or been cancelled.

        A failed or cancelled job is returned, not raised: check ``job.status`` (and
        ``job.message`` for why).

        Args:
            job_id: the job's id.
            poll_seconds: the pause between two polls.
            timeout_seconds: give up after this long; ``None`` waits as long as it takes.
            on_progress: called with the job after every poll (the last one included);
                awaited when it returns an awaitable.
            timeout: the timeout of each poll's request.

        Returns:
            The finished job.

        Raises:
            TimeoutError: the job has not finished within ``timeout_seconds``.
            InvalidParameterError: ``poll_seconds`` or ``timeout_seconds`` is negative.
            NotFoundError: the tenant has no job with this id.
        """
        _operations.check_wait(poll_seconds, timeout_seconds)
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while True:
            job = await self.get_job(job_id, timeout=timeout)
            if on_progress is not None:
                shown = on_progress(job)
                if inspect.isawaitable(shown):
                    await shown
            if job.status.finished:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise _operations.wait_timed_out(job, timeout_seconds or 0.0)
            wait = poll_seconds
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            await anyio.sleep(wait)

    async def list_tenants(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[TenantRead]:
        """Every tenant of the installation.

        Raises:
            PermissionDeniedError: the key is not an admin key of the ``default`` tenant.
        """
        return await self._send(_operations.list_tenants(), timeout)

    async def create_tenant(
        self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> TenantCreated:
        """Create a tenant (a plant or a company) and its first admin key, shown only here.

        Raises:
            PermissionDeniedError: the key is not an admin key of the ``default`` tenant.
            InvalidNameError: the name is malformed.
            AlreadyExistsError: the tenant exists.
        """
        return await self._send(_operations.create_tenant(name), timeout)

    async def list_keys(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[KeyRead]:
        """Every API key of the tenant (never their secrets).

        Raises:
            PermissionDeniedError: the key is not an admin key.
        """
        return await self._send(_operations.list_keys(), timeout)

    async def create_key(
        self,
        name: str,
        role: Role | str = Role.CONSUMER,
        expires_at: datetime | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> KeyCreated:
        """Create an API key; its secret is in the answer and never shown again.

        Args:
            name: what the key is for.
            role: ``consumer``, ``viewer``, ``developer`` or ``admin``.
            expires_at: when the key stops working; ``None`` for never.

        Returns:
            The key, with its secret in ``key``.

        Raises:
            InvalidParameterError: the name or role is invalid (raised before sending).
            PermissionDeniedError: the key is not an admin key.
        """
        return await self._send(_operations.create_key(name, role, expires_at), timeout)

    async def revoke_key(self, key_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Revoke an API key at once.

        Raises:
            KeyNotFoundError: the tenant has no key with this id.
            PermissionDeniedError: the key is not an admin key.
        """
        await self._send(_operations.revoke_key(key_id), timeout)
