"""Service settings, read from the environment (PUMICE_*) by pydantic-settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUMICE_", extra="ignore")

    data_dir: Path = Path("pumice-data")
    database_url: str = ""
    # Connections per replica (PostgreSQL): mind max_connections across replicas.
    db_pool_size: int = 10
    db_max_overflow: int = 10
    host: str = "127.0.0.1"
    port: int = 8776
    # The URL clients reach this service at; derived from host/port when empty.
    public_url: str = ""
    region: str = "RegionOne"

    token_ttl_seconds: int = 3600 * 8
    # A backend that has not reported for this long is down (Cinder's option name).
    service_down_time: int = 60
    # A report dated further ahead of the database's clock than this is refused.
    report_max_clock_skew: float = 60.0
    job_lease_seconds: int = 30
    job_max_attempts: int = 3
    reaper_interval: float = 2.0
    # How often a replica re-reads capability reports written by other replicas.
    cache_refresh_interval: float = 0.5

    default_volume_type: str = "__DEFAULT__"
    default_availability_zone: str = "nova"
    # Cinder's default_group_type: the group type GET /group_types/default names (none
    # unless configured).
    default_group_type: str | None = None

    quota_volumes: int = 10
    quota_gigabytes: int = 1000
    quota_snapshots: int = 10
    quota_backups: int = 10
    quota_backup_gigabytes: int = 1000
    quota_groups: int = 10
    quota_per_volume_gigabytes: int = -1

    scheduler_default_filters: list[str] = Field(
        default=[
            "AvailabilityZoneFilter",
            "CapacityFilter",
            "CapabilitiesFilter",
            "IgnoreAttemptedHostsFilter",
            "SameBackendFilter",
            "DifferentBackendFilter",
            "JsonFilter",
            "DriverFilter",
        ]
    )
    scheduler_default_weighers: list[str] = Field(default=["CapacityWeigher"])
    scheduler_max_attempts: int = 3

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pumice.db').resolve()}"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
