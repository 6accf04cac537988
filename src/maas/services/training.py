"""Training as a service: check a request, queue it as a job, register what the job made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import ValidationError

from maas.domain.names import check_alias, check_name, parse_model_ref
from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.domain.signature import Signature
from maas.errors import ConflictError, InvalidParameterError, SchemaMismatchError
from maas.jobs.kinds import DATA_FILE, MODEL_FILE, VERSION_FILE
from maas.jobs.runner import JobKind, JobRunner
from maas.ml.templates.catalog import get_template
from maas.schemas.jobs import JobPage, JobRead, JobStatus
from maas.schemas.training import TrainRequest
from maas.services.datasets import DatasetService
from maas.services.recording import record_change
from maas.services.registry import RegistryService
from maas.store.db import Database
from maas.store.jobs import ClaimedJob, JobRepository

__all__ = ["TrainingService"]


class TrainingService:
    def __init__(self, db: Database, datasets: DatasetService, registry: RegistryService) -> None:
        self.db = db
        self.datasets = datasets
        self.registry = registry
        self.runner: JobRunner | None = None

    def kinds(self) -> dict[str, JobKind]:
        """The parent-side halves of the job kinds this service runs."""
        return {
            "train": JobKind("train", self._prepare_training, self._finalize_training),
            "batch_predict": JobKind("batch_predict", self._prepare_batch, self._finalize_batch),
        }

    # submitting -------------------------------------------------------------------------

    def submit_training(self, principal: Principal, model: str, request: TrainRequest) -> JobRead:
        """Check everything that can be checked before a job starts, then queue it.

        Raises:
            InvalidNameError: the model or alias name is malformed.
            InvalidParameterError: unknown template or parameter, or a bad parameter value.
            DatasetNotFoundError: no such dataset or version.
            SchemaMismatchError: the target or a feature is not a column of the dataset.
        """
        check_name(model, field="model")
        if request.alias is not None:
            check_alias(request.alias, field="alias")
        cls = get_template(request.template)
        try:
            params = cls.spec.params.model_validate(request.params).model_dump(mode="json")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidParameterError(
                f"Parameter {where!r} of template {request.template!r}: {first['msg']}.",
                field=f"params.{where}",
                expected=first["type"],
                received=first.get("input"),
            ) from exc
        version = self.datasets.get_version(principal, request.dataset, request.dataset_version)
        columns = [c.name for c in version.columns]
        for field, names in (
            ("target", [request.target] if request.target else []),
            ("features", request.features or []),
        ):
            for name in names:
                if name not in columns:
                    raise SchemaMismatchError(
                        f"Column {name!r} is not in dataset {request.dataset!r} version "
                        f"{version.version}; its columns are {columns}.",
                        field=field,
                        expected=columns,
                        received=name,
                    )
        body: dict[str, Any] = {
            **request.model_dump(mode="json"),
            "params": params,
            "model": model,
            "dataset_version": version.version,
        }
        with self.db.writer() as session, session.begin():
            job = JobRepository(session).add(
                tenant_id=principal.tenant_id,
                kind="train",
                request=body,
                created_by=principal.actor,
            )
            record_change(
                session,
                principal,
                "job.submit",
                f"job:{job.id}",
                {"kind": "train", "model": model, "template": request.template},
            )
        if self.runner is not None:
            self.runner.wake()
        return job

    def submit_batch(
        self, principal: Principal, ref: str, dataset: str, dataset_version: int | None
    ) -> JobRead:
        """Queue a batch prediction of a whole dataset version with the version ``ref`` names
        now (resolved at submission, so an alias move later does not change the job).

        Raises:
            InvalidNameError, ModelNotFoundError, AliasNotFoundError, VersionNotFoundError,
            NotFoundError (dataset), SchemaMismatchError (an input column is missing).
        """
        name, selector = parse_model_ref(ref)
        version = self.registry.resolve(principal.tenant_id, name, selector)
        data = self.datasets.get_version(principal, dataset, dataset_version)
        columns = [c.name for c in data.columns]
        for column in version.signature.input_names:
            if column not in columns:
                raise SchemaMismatchError(
                    f"Dataset {dataset!r} version {data.version} has no column {column!r}, an "
                    f"input of model {name!r}.",
                    field="dataset",
                    expected=version.signature.input_names,
                    received=columns,
                )
        body = {
            "model": name,
            "version": version.version,
            "dataset": dataset,
            "dataset_version": data.version,
        }
        with self.db.writer() as session, session.begin():
            job = JobRepository(session).add(
                tenant_id=principal.tenant_id,
                kind="batch_predict",
                request=body,
                created_by=principal.actor,
            )
            record_change(session, principal, "job.submit", f"job:{job.id}", body)
        if self.runner is not None:
            self.runner.wake()
        return job

    def batch_results(self, principal: Principal, job_id: str) -> bytes:
        """The Parquet file a succeeded batch prediction wrote.

        Raises:
            JobNotFoundError: no such job in the tenant.
            ConflictError: the job is not a batch prediction that succeeded.
        """
        job = self.get_job(principal, job_id)
        if job.kind != "batch_predict" or job.status is not JobStatus.SUCCEEDED or not job.result:
            raise ConflictError(
                f"Job {job_id!r} has no results: it is a {job.kind} job, {job.status.value}.",
                field="job",
                expected="a succeeded batch_predict job",
                received=f"{job.kind}, {job.status.value}",
            )
        return self.registry.artifacts.get(job.result["results_uri"], sha256=job.result["sha256"])

    def get_job(self, principal: Principal, job_id: str) -> JobRead:
        """Raises: JobNotFoundError."""
        with self.db.session() as session:
            return JobRepository(session).get(principal.tenant_id, job_id)

    def list_jobs(
        self,
        principal: Principal,
        *,
        status: JobStatus | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> JobPage:
        with self.db.session() as session:
            items, total = JobRepository(session).list(
                principal.tenant_id, status=status, offset=offset, limit=limit
            )
        return JobPage(items=items, total=total)

    def cancel_job(self, principal: Principal, job_id: str) -> JobRead:
        """Raises: JobNotFoundError, ConflictError (already finished)."""
        with self.db.writer() as session, session.begin():
            job = JobRepository(session).request_cancel(principal.tenant_id, job_id)
            record_change(session, principal, "job.cancel", f"job:{job_id}")
        if self.runner is not None:
            self.runner.wake()
        return job

    # running (called by the job runner) -------------------------------------------------

    @staticmethod
    def _principal(job: ClaimedJob) -> Principal:
        # The job acts with the rights it was submitted with: developer, in its tenant.
        return Principal(
            key_id=f"job-{job.id[:8]}",
            key_name=f"job {job.id[:8]} for {job.created_by}",
            role=Role.DEVELOPER,
            tenant_id=job.tenant_id,
            tenant_name=job.tenant_name,
        )

    def _prepare_training(self, job: ClaimedJob, workdir: Path) -> None:
        table = self.datasets.read_version(
            self._principal(job), job.request["dataset"], job.request["dataset_version"]
        )
        pq.write_table(table, workdir / DATA_FILE)

    def _prepare_batch(self, job: ClaimedJob, workdir: Path) -> None:
        request = job.request
        principal = self._principal(job)
        version = self.registry.get_version(principal, request["model"], request["version"])
        (workdir / MODEL_FILE).write_bytes(
            self.registry.artifacts.get(version.artifact_uri, sha256=version.sha256)
        )
        (workdir / VERSION_FILE).write_text(version.model_dump_json())
        table = self.datasets.read_version(
            principal, request["dataset"], request["dataset_version"]
        )
        pq.write_table(table, workdir / DATA_FILE)

    def _finalize_batch(
        self, job: ClaimedJob, result: dict[str, Any], workdir: Path
    ) -> dict[str, Any]:
        data = (workdir / result["results_file"]).read_bytes()
        stored = self.registry.artifacts.put(f"{job.tenant_id}/batch/{job.id}.parquet", data)
        return {
            "model": job.request["model"],
            "version": job.request["version"],
            "dataset": f"{job.request['dataset']}@{job.request['dataset_version']}",
            "rows": result["rows"],
            "results_uri": stored.uri,
            "sha256": stored.sha256,
            "size": stored.size,
        }

    def _finalize_training(
        self, job: ClaimedJob, result: dict[str, Any], workdir: Path
    ) -> dict[str, Any]:
        request = job.request
        principal = self._principal(job)
        artifact = (workdir / result["artifact_file"]).read_bytes()
        version = self.registry.register_version(
            principal,
            request["model"],
            artifact=artifact,
            format=result["format"],
            signature=Signature.model_validate(result["signature"]),
            params={**result["params"], "target": request.get("target")},
            metrics=result["metrics"],
            template=result["template"],
            source_dataset=f"{request['dataset']}@{request['dataset_version']}",
            description=request.get("description", ""),
            report=result["report"],
        )
        if request.get("alias"):
            self.registry.set_alias(principal, request["model"], request["alias"], version.version)
        return {"model": version.model, "version": version.version, "alias": request.get("alias")}
