"""The server ``benchmarks/templates_api.py`` drives and its API calls: ``maas serve`` in a
subprocess on a throw-away data folder, and upload, train, wait, evaluate and predict through
the Python SDK and HTTP.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from child_process import BenchmarkError, Served, free_port

from maas import Client
from maas.schemas.jobs import JobRead, JobStatus
from maas.schemas.models import VersionRead

POLL_SECONDS = 0.2


# --- the server ---------------------------------------------------------------------------


class Server:
    """``maas serve`` in a subprocess on a free loopback port, with its own data folder."""

    def __init__(self, *, job_workers: int = 1, keep_data: bool = False) -> None:
        self.job_workers = job_workers
        self.keep_data = keep_data
        self.data_dir = Path(tempfile.mkdtemp(prefix="maas-bench-"))
        self.log_path = self.data_dir / "server.log"
        self.api_key = "maas_" + secrets.token_urlsafe(32)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Nothing of the caller's MAAS_* configuration (database, S3, config file) may leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
        env |= {
            "MAAS_DATA_DIR": str(self.data_dir / "data"),
            "MAAS_HOST": "127.0.0.1",
            "MAAS_PORT": str(self.port),
            "MAAS_ADMIN_KEY": self.api_key,
            "MAAS_EXAMPLES": "false",
            "MAAS_JOB_WORKERS": str(self.job_workers),
        }
        # In a session of its own: Ctrl-C reaches this script, which then stops the server.
        self._served = Served("maas serve", [sys.executable, "-m", "maas", "serve"], env,
                              self.log_path)  # fmt: skip

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, ready_seconds: float = 120.0) -> None:
        """Start the server and wait until ``/health/ready`` answers 200.

        Raises:
            BenchmarkError: the server exited, or was not ready in time.
        """
        self._served.start()
        deadline = time.monotonic() + ready_seconds
        while time.monotonic() < deadline:
            self._served.check_alive()
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BenchmarkError(
            f"maas serve was not ready in {ready_seconds:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server (gracefully, then by force, with whatever it started) and remove its
        data folder."""
        self._served.stop()
        if self.keep_data:
            print(f"server data and log kept in {self.data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        return self._served.log_tail(lines)


# --- the API calls ------------------------------------------------------------------------


@dataclass
class Trained:
    version: VersionRead
    seconds: float
    """Wall time from the submit to seeing the job succeeded."""

    @property
    def ref(self) -> str:
        return f"{self.version.model}@{self.version.version}"

    @property
    def report(self) -> dict[str, Any]:
        return self.version.report or {}


class Api:
    """The few SDK calls a benchmark makes: upload, train, batch-predict; each one timed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.upload_seconds = 0.0

    def upload(self, name: str, frame: pd.DataFrame, **columns: str) -> None:
        """Upload ``frame`` as Parquet as a new version of dataset ``name``."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        started = time.perf_counter()
        self.client.upload_dataset(name, buffer.getvalue(), format="parquet", **columns)
        self.upload_seconds += time.perf_counter() - started

    def train(
        self,
        model: str,
        dataset: str,
        *,
        template: str,
        target: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Trained:
        """Train ``model`` from ``template`` on ``dataset`` and return the new version.

        Raises:
            BenchmarkError: the job failed or was cancelled (with its message and log).
        """
        started = time.perf_counter()
        job = self.client.train(
            model,
            template=template,
            dataset=dataset,
            target=target,
            params=params or {},
            stability_runs=1,
        )
        job = self._wait(job)
        seconds = time.perf_counter() - started
        assert job.result is not None
        version = self.client.get_version(job.result["model"], int(job.result["version"]))
        return Trained(version, seconds)

    def batch(self, ref: str, dataset: str) -> tuple[pd.DataFrame, float]:
        """Batch-predict ``dataset`` with ``ref``; return the results and the seconds taken.

        Raises:
            BenchmarkError: the job failed or was cancelled (with its message and log).
        """
        started = time.perf_counter()
        job = self._wait(self.client.batch_predict(ref, dataset))
        results = pd.read_parquet(io.BytesIO(self.client.job_results(job.id)))
        return results, time.perf_counter() - started

    def _wait(self, job: JobRead) -> JobRead:
        done = self.client.wait_for_job(job.id, poll_seconds=POLL_SECONDS)
        if done.status is not JobStatus.SUCCEEDED:
            raise BenchmarkError(
                f"{done.kind} job {done.id} {done.status.value}: {done.message}\n"
                f"request: {json.dumps(done.request)}\nlog:\n{done.log or '(empty)'}"
            )
        return done
