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

__all__ = ["Settings", "load_settings"]


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

    job_workers: int = Field(default=1, ge=0, le=64)
    """Training and batch jobs this server process runs at once, each in its own child
    process (0: this process runs none; jobs wait for another replica)."""

    model_cache_size: int = Field(default=32, gt=0)
    """How many loaded model versions stay in memory per process (least recently used leave)."""

    resolve_cache_seconds: float = Field(default=2.0, ge=0)
    """How long a process trusts its cached alias → version and key look-ups before it asks the
    database again. Changes made through this process take effect at once."""

    log_level: str = "INFO"
    """Logging level of the structured (JSON lines) log."""

    log_json: bool = True
    """Write logs as JSON lines (false: plain text for a terminal)."""

    config_file: Path | None = None
    """Optional TOML or JSON file with the same fields; environment variables win over it."""

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.admin_key is not None and len(self.admin_key.get_secret_value()) < 16:
            raise ValueError("admin_key must be at least 16 characters long")
        if self.master_key is not None and not _looks_like_key(self.master_key.get_secret_value()):
            raise ValueError("master_key must be 32 bytes as 64 hex digits or as base64")
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
