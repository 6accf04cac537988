"""Configuration: one ``Settings`` object built from ``MAAS_*`` environment variables and an
optional TOML/JSON config file. The only module that reads the environment."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "export_settings", "load_settings"]


class Settings(BaseSettings):
    """Everything the server, the CLI and the workers need to know about their environment."""

    model_config = SettingsConfigDict(
        env_prefix="MAAS_", extra="forbid", use_attribute_docstrings=True
    )

    data_dir: Path = Path("maas-data")
    """Folder holding the embedded database (SQLite) and the local artifact store."""

    database_url: str | None = None
    """SQLAlchemy URL of the registry database; default: SQLite file `maas.db` in `data_dir`.
    Use `postgresql+psycopg://user@host/db` (or `postgresql://...`) for several replicas."""

    artifact_uri: str | None = None
    """Where model artifacts live: `file:///path` or `s3://bucket/prefix`; default: the folder
    `artifacts` in `data_dir`."""

    s3_endpoint_url: str | None = None
    """Endpoint of an S3-compatible object store (MinIO, Ceph, moto); empty for AWS itself."""

    s3_region: str = "us-east-1"
    """Region name passed to the S3 client."""

    host: str = "127.0.0.1"
    """Address the HTTP server binds to."""

    port: int = Field(default=8000, ge=0, le=65535)
    """Port the HTTP server listens on (0 picks a free port)."""

    admin_key: SecretStr | None = None
    """At first start, becomes the admin API key instead of a generated one (automated
    installs). Ignored once an admin key exists."""

    examples: bool = True
    """Train and register the example manufacturing models at first start."""

    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    """Largest request body accepted, in bytes (413 beyond)."""

    max_upload_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """Largest uploaded model artifact, in bytes (413 beyond)."""

    max_rows: int = Field(default=200_000, gt=0)
    """Most rows accepted in one prediction request (413 beyond)."""

    rate_limit_per_second: float = Field(default=500.0, ge=0)
    """Requests per second each API key may make, per server process (0 turns the limit
    off). Beyond it: 429 with Retry-After."""

    rate_limit_burst: int = Field(default=1000, ge=1)
    """Requests a key may make at once before the per-second rate applies."""

    predict_timeout_seconds: float = Field(default=30.0, gt=0)
    """Longest a prediction may run before the caller gets 504 (the model's thread is left to
    finish; its result is dropped)."""

    failed_auth_per_second: float = Field(default=5.0, ge=0)
    """Requests without a valid key each client address may make a second (burst 4×);
    beyond it: 429. Slows key guessing and keeps denied-request audit records bounded."""

    master_key: SecretStr | None = None
    """Master key for encryption at rest: 32 bytes as 64 hex digits or base64. Wraps the
    per-tenant data keys that encrypt artifacts (AES-256-GCM)."""

    master_key_file: Path | None = None
    """File holding the master key (raw 32 bytes, hex or base64). On the embedded defaults,
    when neither this nor `master_key` is set, `maas serve` creates `master.key` in `data_dir`
    at first start, so artifacts are encrypted from the start."""

    allow_plaintext_artifacts: bool = False
    """Read artifacts stored before encryption was turned on. Off: every artifact must be
    encrypted, so a tampered header cannot pass a blob off as plaintext."""

    audit_flush_seconds: float = Field(default=10.0, gt=0)
    """How often aggregated prediction counts are written to the audit trail."""

    monitoring_sample_rate: float = Field(default=0.1, ge=0, le=1)
    """Share of predictions whose inputs are logged (for drift checks and the log export);
    models may set their own. Every prediction's output is logged regardless (see
    `monitoring_log_outputs`)."""

    monitoring_log_outputs: bool = True
    """Log the id and output of every prediction, so that any prediction can receive ground
    truth feedback. Off: only the sampled predictions are logged and get an id (cheaper for
    heavy batch traffic)."""

    monitoring_buffer_rows: int = Field(default=20_000, ge=1)
    """Most prediction-log rows a process holds in memory between writes, which bounds what the
    log costs the server. The log is written every `monitoring_flush_seconds` and, at most once
    a second, as soon as a quarter of the buffer is used, so it keeps up with about half this
    many rows a second (10,000 by default: a tenth of a core). Past half of it, requests log
    their sampled rows only; requests beyond it are not logged. Both are counted, neither slows
    a prediction down."""

    monitoring_flush_seconds: float = Field(default=2.0, gt=0)
    """How often the prediction log and the live traffic counts are written to the database."""

    monitoring_retention_rows: int = Field(default=100_000, ge=1)
    """Most logged predictions kept per model version (the oldest go first)."""

    monitoring_retention_days: float = Field(default=30.0, gt=0)
    """Days logged predictions, traffic counts, drift checks and webhook deliveries are kept."""

    drift_check_seconds: float = Field(default=300.0, ge=0)
    """How often each server process checks drift of the models with recent traffic (a
    lease makes one process check a given model per interval); 0 turns scheduled checks off."""

    drift_window_hours: float = Field(default=24.0, gt=0)
    """How far back a drift check looks at logged inputs, unless a model sets its own."""

    drift_min_rows: int = Field(default=300, ge=1)
    """Fewest logged inputs in the window for a drift check to say anything (else `no_data`),
    unless a model sets its own; PSI on fewer rows raises false warnings."""

    drift_reference_rows: int = Field(default=500, ge=10)
    """For versions without a training profile (uploads): how many of their first logged
    inputs (and predictions) become the reference that later ones are compared with."""

    drift_psi_warning: float = Field(default=0.1, gt=0)
    """PSI from which a feature's drift is a `warning`, unless a model sets its own."""

    drift_psi_alert: float = Field(default=0.25, gt=0)
    """PSI from which a feature's drift is an `alert`, unless a model sets its own."""

    webhook_allow_private: bool = False
    """Allow webhook URLs whose host is, or resolves to, a loopback, private or link-local
    address. Off by default, so that a developer key cannot make the server send requests
    into its own network (SSRF); turn on when the receivers sit on the plant's network."""

    job_workers: int = Field(default=1, ge=0, le=64)
    """Training and batch jobs this server process runs at once, each in its own child
    process (0: this process runs none; jobs wait for another replica)."""

    model_cache_size: int = Field(default=32, gt=0)
    """How many loaded model versions stay in memory per process (least recently used leave)."""

    large_allocation_bytes: int = Field(default=1024 * 1024, ge=0)
    """Where glibc is the C library: blocks of this size or more get a memory mapping of their
    own, handed back to the system when freed, so big requests do not leave the server's memory
    at its high-water mark; 0 leaves glibc's own (rising) threshold, or the one set with
    ``MALLOC_MMAP_THRESHOLD_``."""

    resolve_cache_seconds: float = Field(default=2.0, ge=0)
    """How long a process trusts its cached alias → version and key look-ups before it asks the
    database again. Changes made through this process take effect at once."""

    batch_max_size: int = Field(default=64, ge=0, le=100_000)
    """Micro-batching: most rows of concurrent small prediction requests for one model version
    run as one model call (0 or 1: no batching). A model's own `serving` settings win."""

    batch_max_wait_us: int = Field(default=500, ge=0, le=1_000_000)
    """Micro-batching: longest a request waits for others to join its batch, in microseconds
    (0: no batching). A request with no other request on its way never waits."""

    workers: int = Field(default=1, ge=1, le=64)
    """Server processes `maas serve` runs, sharing the port and the registry (each with its own
    model cache and rate limits; the first one also runs the background jobs)."""

    log_level: str = "INFO"
    """Logging level of the structured (JSON lines) log."""

    log_json: bool = True
    """Write logs as JSON lines (false: plain text for a terminal)."""

    access_log: bool = True
    """Log one line per request (method, path, status, duration) at level INFO. Off: only
    warnings and errors are logged, which spares each prediction that line's cost (about a
    sixth of a small prediction's time on a busy server)."""

    config_file: Path | None = None
    """Optional TOML or JSON file with the same fields; environment variables win over it."""

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.admin_key is not None and len(self.admin_key.get_secret_value()) < 16:
            raise ValueError("admin_key must be at least 16 characters long")
        if self.master_key is not None and not _looks_like_key(self.master_key.get_secret_value()):
            raise ValueError("master_key must be 32 bytes as 64 hex digits or as base64")
        if self.drift_psi_warning >= self.drift_psi_alert:
            raise ValueError("drift_psi_warning must be smaller than drift_psi_alert")
        if self.artifact_uri is not None and not self.artifact_uri.startswith(("file://", "s3://")):
            raise ValueError(
                f"artifact_uri must start with file:// or s3://, got {self.artifact_uri!r}"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in ``data_dir``."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{(self.data_dir / 'maas.db').resolve()}"

    @property
    def resolved_artifact_uri(self) -> str:
        """The artifact store URI, defaulting to ``data_dir/artifacts``."""
        if self.artifact_uri:
            return self.artifact_uri
        return (self.data_dir / "artifacts").resolve().as_uri()

    @property
    def embedded(self) -> bool:
        """Whether both the database and the artifacts live in ``data_dir`` (one machine)."""
        return self.database_url is None and self.artifact_uri is None

    @property
    def binds_loopback(self) -> bool:
        """Whether ``host`` is a loopback address (only this machine can connect)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def _looks_like_key(text: str) -> bool:
    text = text.strip()
    if len(text) == 64:
        try:
            bytes.fromhex(text)
        except ValueError:
            return False
        return True
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):
        try:
            if len(base64.b64decode(padded, altchars=altchars, validate=True)) == 32:
                return True
        except (ValueError, binascii.Error):
            continue
    return False


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    if path.suffix == ".json":
        return JsonConfigSettingsSource(settings_cls, json_file=path)
    return TomlConfigSettingsSource(settings_cls, toml_file=path)


def export_settings(overrides: dict[str, Any]) -> None:
    """Put ``overrides`` (field name → value) into this process's environment as ``MAAS_*``
    variables, so that the processes it starts (``maas serve --workers``) build the same
    settings with ``load_settings()``.

    Raises:
        ValueError: a name is not a setting.
    """
    for name, value in overrides.items():
        if name not in Settings.model_fields:
            raise ValueError(f"{name!r} is not a setting")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        os.environ[f"MAAS_{name.upper()}"] = text


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the config file named by ``MAAS_CONFIG_FILE`` (or
    ``config_file=`` here) and explicit overrides, which win."""
    config_file = overrides.get("config_file") or os.environ.get("MAAS_CONFIG_FILE")
    if not config_file:
        return Settings(**overrides)
    path = Path(config_file)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")

    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
            file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _file_source(settings_cls, path))

    built = _FileSettings(**{**overrides, "config_file": path})
    return Settings.model_validate(built.model_dump())
