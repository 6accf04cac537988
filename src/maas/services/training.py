"""Training as a service: check a request, queue it as a job, register what the job made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from maas.domain.names import check_alias, check_name, parse_model_ref
from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.domain.signature import Signature
from maas.errors import (
    AliasNotFoundError,
    ConflictError,
    InvalidParameterError,
    SchemaMismatchError,
)
from maas.jobs.kinds import DATA_FILE, MODEL_FILE, VERSION_FILE
from maas.jobs.runner import JobKind, JobRunner
from maas.ml.templates.base import Template, validate_params
from maas.ml.templates.catalog import get_template
from maas.schemas.jobs import JobPage, JobRead, JobStatus
from maas.schemas.models import VersionRead
from maas.schemas.training import RetrainRequest, TrainRequest
from maas.services.datasets import DatasetService
from maas.services.recording import record_change
from maas.services.registry import RegistryService
from maas.store.db import Database
from maas.store.jobs import ClaimedJob, JobRepository

__all__ = ["TrainingService"]


def _checked_params(cls: type[Template], params: dict[str, Any]) -> dict[str, Any]:
    """The template's validated parameters, as JSON.

    Raises:
        InvalidParameterError: with ``field`` ``params.<name>``.
    """
    try:
        return validate_params(cls.spec, params).model_dump(mode="json")  # type: ignore[no-any-return]
    except InvalidParameterError as exc:
        exc.field = f"params.{exc.field}"
        raise


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
            "retrain": JobKind("retrain", self._prepare_retraining, self._finalize_retraining),
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
        given = dict(request.params)
        _checked_params(cls, given)
        version = self.datasets.get_version(principal, request.dataset, request.dataset_version)
        columns = [c.name for c in version.columns]
        # Where the template's default unit / time column is not in the data, the columns the
        # dataset was uploaded with (or found to have) take its place.
        roles = {
            "unit_column": version.profile.unit_column,
            "series_column": version.profile.unit_column,
            "time_column": version.profile.time_column,
        }
        fields = cls.spec.params.model_fields
        for role, column in roles.items():
            if column and role in fields and role not in given:
                if fields[role].default not in columns:
                    given[role] = column
        params = _checked_params(cls, given)
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
        return self._queue(
            principal,
            "train",
            body,
            {"kind": "train", "model": model, "template": request.template},
        )

    def submit_retraining(
        self, principal: Principal, model: str, request: RetrainRequest
    ) -> JobRead:
        """Queue a retraining of ``model``: a challenger with the champion's template and
        parameters on a newer dataset version, compared with the champion (the version
        ``request.alias`` points at) on the same held-out data; promoted only if better.

        Raises:
            InvalidNameError: the model or alias name is malformed.
            ModelNotFoundError, AliasNotFoundError: no champion to compare with.
            ConflictError: the champion was not trained from a template on a dataset.
            InvalidParameterError: the metric cannot be compared for this template.
            DatasetNotFoundError: no such dataset or version.
            SchemaMismatchError: the new data lacks a column the champion was trained on.
        """
        check_name(model, field="model")
        check_alias(request.alias, field="alias")
        champion = self.registry.resolve(principal.tenant_id, model, request.alias)
        if champion.template is None or not champion.source_dataset:
            raise ConflictError(
                f"Version {champion.version} of {model!r} (alias {request.alias!r}) was not "
                "trained from a template on a dataset here, so there is nothing to retrain it "
                "with; train a new version with POST /v1/models/{name}/train.",
                field="alias",
                expected="a version trained by a template job",
                received=f"version {champion.version} ({champion.format})",
            )
        classes = champion.signature.classes
        # imported here, not at start: it brings scikit-learn, which serving does not need
        from maas.ml.comparison import comparable_metrics

        metrics = comparable_metrics(champion.template, len(classes) if classes else None)
        if request.metric not in metrics:
            raise InvalidParameterError(
                f"Metric {request.metric!r} cannot compare {champion.template!r} models; "
                f"choose one of {metrics}.",
                field="metric",
                expected=metrics,
                received=request.metric,
            )
        source_name, _, source_version = champion.source_dataset.rpartition("@")
        dataset = request.dataset or source_name
        version = self.datasets.get_version(principal, dataset, request.dataset_version)
        cls = get_template(champion.template)
        params = {k: v for k, v in champion.params.items() if k in cls.spec.params.model_fields}
        target = champion.params.get("target")
        features = champion.params.get("features")
        columns = [c.name for c in version.columns]
        wanted = [*([target] if target else []), *(features or [])]
        for name in wanted:
            if name not in columns:
                raise SchemaMismatchError(
                    f"Column {name!r}, which version {champion.version} of {model!r} was "
                    f"trained with, is not in dataset {dataset!r} version {version.version}.",
                    field="dataset",
                    expected=wanted,
                    received=columns,
                )
        body: dict[str, Any] = {
            "model": model,
            "alias": request.alias,
            "champion_version": champion.version,
            "champion_dataset": champion.source_dataset,
            "template": champion.template,
            "params": params,
            "target": target,
            "features": features,
            "dataset": dataset,
            "dataset_version": version.version,
            "new_from": self._new_from(
                principal,
                dataset,
                version.version,
                source_name,
                int(source_version) if source_version.isdigit() else None,
            ),
            "metric": request.metric,
            "min_improvement": request.min_improvement,
            "holdout_fraction": request.holdout_fraction,
            "seed": request.seed,
            "stability_runs": request.stability_runs,
            "description": request.description,
        }
        return self._queue(
            principal,
            "retrain",
            body,
            {
                "kind": "retrain",
                "model": model,
                "champion": champion.version,
                "metric": request.metric,
            },
        )

    def _new_from(
        self,
        principal: Principal,
        dataset: str,
        version: int,
        source: str,
        source_version: int | None,
    ) -> int | None:
        """The first row of ``dataset@version`` that the champion's data did not have: the
        champion's version's row count when the new version descends from it by appends."""
        if dataset != source or source_version is None or source_version > version:
            return None
        versions = {v.version: v for v in self.datasets.list_versions(principal, dataset)}
        current = versions.get(version)
        while current is not None and current.version != source_version:
            current = versions.get(current.parent_version) if current.parent_version else None
        return None if current is None else current.rows

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
        return self._queue(principal, "batch_predict", body, body)

    def _queue(
        self, principal: Principal, kind: str, body: dict[str, Any], detail: dict[str, Any]
    ) -> JobRead:
        """Add a job and its audit record in one transaction, then wake the runner."""
        with self.db.writer() as session, session.begin():
            job = JobRepository(session).add(
                tenant_id=principal.tenant_id, kind=kind, request=body, created_by=principal.actor
            )
            record_change(session, principal, "job.submit", f"job:{job.id}", detail)
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
        self._stage_version_and_data(job, job.request["version"], workdir)

    def _stage_version_and_data(self, job: ClaimedJob, version_number: int, workdir: Path) -> None:
        """Write the job's model version (artifact and record) and dataset version into
        ``workdir``, for the child to read."""
        request = job.request
        principal = self._principal(job)
        version = self.registry.get_version(principal, request["model"], version_number)
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
        version = self._register_trained(
            job, result, workdir, request.get("description", ""), result["report"]
        )
        if request.get("alias"):
            self.registry.set_alias(principal, request["model"], request["alias"], version.version)
        return {"model": version.model, "version": version.version, "alias": request.get("alias")}

    def _prepare_retraining(self, job: ClaimedJob, workdir: Path) -> None:
        self._stage_version_and_data(job, job.request["champion_version"], workdir)

    def _finalize_retraining(
        self, job: ClaimedJob, result: dict[str, Any], workdir: Path
    ) -> dict[str, Any]:
        """Register the challenger (always: the comparison is kept with it) and move the alias
        to it only when it won and the alias still points at the champion it beat."""
        request = job.request
        principal = self._principal(job)
        comparison = dict(result["report"]["comparison"])
        alias, name = request["alias"], request["model"]
        promote = bool(comparison["promoted"])
        if promote:
            try:
                now = self.registry.resolve(job.tenant_id, name, alias).version
            except AliasNotFoundError:
                now = None
            if now != request["champion_version"]:
                promote = False
                comparison["promoted"] = False
                comparison["reason"] += (
                    f"; not promoted: {alias!r} moved to version {now} during the job"
                )
        version = self._register_trained(
            job,
            result,
            workdir,
            request.get("description")
            or f"Retrained challenger of version {request['champion_version']}",
            {**result["report"], "comparison": comparison},
        )
        if promote:
            self.registry.set_alias(principal, name, alias, version.version)
        return {
            "model": name,
            "version": version.version,
            "champion_version": request["champion_version"],
            "alias": alias,
            "promoted": promote,
            "metric": comparison["metric"],
            "champion_score": comparison["champion"]["metrics"].get(comparison["metric"]),
            "challenger_score": comparison["challenger"]["metrics"].get(comparison["metric"]),
            "reason": comparison["reason"],
        }

    def _register_trained(
        self,
        job: ClaimedJob,
        result: dict[str, Any],
        workdir: Path,
        description: str,
        report: dict[str, Any],
    ) -> VersionRead:
        """Register the version a training child wrote, with its lineage."""
        request = job.request
        return self.registry.register_version(
            self._principal(job),
            request["model"],
            artifact=(workdir / result["artifact_file"]).read_bytes(),
            format=result["format"],
            signature=Signature.model_validate(result["signature"]),
            params={**result["params"], "target": request.get("target")},
            metrics=result["metrics"],
            template=result["template"],
            source_dataset=f"{request['dataset']}@{request['dataset_version']}",
            description=description,
            report=report,
        )
