"""The agent's config file (TOML): where the API is, how to authenticate, which backends.

Every mistake is reported at start as one readable `AgentConfigError`, including bad
driver options (validated by the driver's own options model), so an agent never starts
half-configured.
"""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.drivers import DriverConfigError, parse_options
from app.drivers.base import BackendOptions
from app.drivers.registry import describe_validation_error

PASSWORD_VARIABLE = "PUMICE_AGENT_PASSWORD"


class AgentConfigError(Exception):
    """The config file is missing, not TOML, or not a valid agent config."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Section):
    # One API URL, or several (replicas): calls go to one, and move to the next when it
    # stops answering.
    api_url: str | list[str]
    host: str = Field(default_factory=socket.gethostname, min_length=1)
    availability_zone: str = "nova"
    report_interval: float = Field(default=10.0, gt=0)
    state_dir: Path | None = None
    max_concurrent_jobs: int = Field(default=4, ge=1)
    # How long one claim request long-polls the API.
    claim_wait: int = Field(default=20, ge=0, le=300)
    # Backoff between retries of a failed API call grows up to this (seconds).
    retry_max_interval: float = Field(default=5.0, gt=0)
    # On SIGTERM, running jobs get this long to finish before they are abandoned.
    shutdown_grace: float = Field(default=10.0, ge=0)
    log_level: str = "info"
    # 'host:port' to expose Prometheus metrics on; unset: none.
    metrics_address: str | None = None

    @field_validator("api_url")
    @classmethod
    def _http_urls(cls, value: str | list[str]) -> str | list[str]:
        urls = [value] if isinstance(value, str) else value
        if not urls:
            raise ValueError("must name at least one URL")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError("must be an http:// or https:// URL")
        stripped = [url.rstrip("/") for url in urls]
        if len(set(stripped)) != len(stripped):
            raise ValueError("names a URL twice")
        return stripped[0] if isinstance(value, str) else stripped

    @property
    def api_urls(self) -> list[str]:
        return [self.api_url] if isinstance(self.api_url, str) else list(self.api_url)

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        # "@" and "#" separate host, backend and pool in Cinder's host strings.
        if "@" in value or "#" in value:
            raise ValueError("must not contain '@' or '#'")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, colon, port = value.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be 'host:port', e.g. '127.0.0.1:9102'")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return level


class AuthSection(_Section):
    username: str
    # Or, left out of the file, the agent's environment's PUMICE_AGENT_PASSWORD (a
    # container's secret), so a config file can be shared without its password.
    password: str = Field(default="", validate_default=True)
    project_name: str
    user_domain_id: str = "default"
    project_domain_id: str = "default"
    # Keystone v3 base URL; default: the API's own identity service.
    auth_url: str | None = None

    @field_validator("password")
    @classmethod
    def _from_file_or_environment(cls, value: str) -> str:
        password = value or os.environ.get(PASSWORD_VARIABLE, "")
        if not password:
            raise PydanticCustomError(
                "missing",
                "Field required (or set {variable} in the environment)",
                {"variable": PASSWORD_VARIABLE},
            )
        return password


class BackendConfig(_Section):
    name: str
    driver: str
    # Cinder's backend_availability_zone: overrides the agent's zone for this backend.
    availability_zone: str | None = None
    options: BackendOptions

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "@" in value or "#" in value:
            raise ValueError("must be non-empty without '@' or '#'")
        return value


class BackupSection(_Section):
    """The agent's backup repository: with it, the agent is also a cinder-backup style
    service that backs up the volumes of its own backends."""

    repository: Path
    # The backup service's host name; default "<agent host>@backup".
    host: str | None = None
    # Default: the agent's zone.
    availability_zone: str | None = None
    compression: Literal["zstd", "none"] = "zstd"
    chunk_mib: int = Field(default=32, ge=1, le=1024)

    @field_validator("repository")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path")
        return value

    @field_validator("host")
    @classmethod
    def _backup_host(cls, value: str | None) -> str | None:
        if value is not None and (not value or "#" in value or value.count("@") > 1):
            raise ValueError("must be non-empty, without '#', with at most one '@'")
        return value


class AgentConfig(_Section):
    agent: AgentSection
    auth: AuthSection
    backends: list[BackendConfig] = Field(min_length=1)
    backup: BackupSection | None = None

    @model_validator(mode="after")
    def _backup_host_is_its_own(self) -> AgentConfig:
        # Jobs are routed by host: the backup service must not share a backend's.
        if self.backup_host in {self.backend_host(b) for b in self.backends}:
            raise ValueError(f"backup.host {self.backup_host} is also a backend's host")
        return self

    @property
    def backup_host(self) -> str | None:
        if self.backup is None:
            return None
        return self.backup.host or f"{self.agent.host}@backup"

    @property
    def agent_id(self) -> str:
        return self.agent.host

    @property
    def auth_url(self) -> str | None:
        """The Keystone URL the config names; None: each API URL's own identity service
        (so authentication fails over with the API)."""
        return self.auth.auth_url.rstrip("/") if self.auth.auth_url else None

    def backend_host(self, backend: BackendConfig) -> str:
        """Cinder's service host for a backend: `host@backend`."""
        return f"{self.agent.host}@{backend.name}"


def load_config(path: Path) -> AgentConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AgentConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise AgentConfigError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_config(raw)
    except AgentConfigError as exc:
        raise AgentConfigError(f"{path}: {exc}") from None


def parse_config(raw: dict[str, Any]) -> AgentConfig:
    """Validate a parsed config; driver options are checked by each driver's model."""
    backends = raw.get("backends")
    if backends is not None and not isinstance(backends, list):
        raise AgentConfigError("backends: must be a list of [[backends]] tables")
    parsed_backends = [_parse_backend(i, b) for i, b in enumerate(backends or [])]
    names = [b.name for b in parsed_backends]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AgentConfigError(f"backends: duplicate name {', '.join(duplicates)}")
    try:
        return AgentConfig.model_validate({**raw, "backends": parsed_backends})
    except ValidationError as exc:
        raise AgentConfigError(describe_validation_error(exc)) from None


# Keys of a [[backends]] table that are not driver options.
_COMMON_BACKEND_KEYS = ("name", "driver", "availability_zone")


def _parse_backend(index: int, raw: object) -> BackendConfig:
    where = f"backends[{index}]"
    if not isinstance(raw, dict):
        raise AgentConfigError(f"{where}: must be a table")
    table = dict(raw)
    common = {
        key: table.pop(key) for key in ("name", "driver", "availability_zone") if key in table
    }
    if "name" in common:
        where = f"{where} ({common['name']})"
    for key in ("name", "driver"):
        if key not in common:
            raise AgentConfigError(f"{where}: {key}: Field required")
    try:
        options = parse_options(str(common["driver"]), table)
        return BackendConfig.model_validate({**common, "options": options})
    except DriverConfigError as exc:
        raise AgentConfigError(f"{where}: {exc.message}") from None
    except ValidationError as exc:
        raise AgentConfigError(f"{where}: {describe_validation_error(exc)}") from None
