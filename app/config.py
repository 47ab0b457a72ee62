"""Service settings, read from the environment (PUMICE_*) by pydantic-settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUMICE_", extra="ignore")

    data_dir: Path = Path("pumice-data")
    database_url: str = ""
    # Connections per replica (PostgreSQL): mind max_connections across replicas.
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # PostgreSQL deadlines, so no request waits on an unreachable or stuck database
    # longer than about these (seconds): opening a connection, one statement (a lock
    # wait included). Past them the answer is 503 with Retry-After.
    db_connect_timeout: float = 5.0
    db_statement_timeout: float = 10.0
    # Waiting for one of the pool's connections is load, not an outage: a burst of
    # requests queues for up to this long (SQLAlchemy's default), then gets 503 busy.
    db_pool_timeout: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8776
    # The URL clients reach this service at; derived from host/port when empty.
    public_url: str = ""
    region: str = "RegionOne"

    token_ttl_seconds: int = 3600 * 8
    # Token signing keys, newest (signing) first, separated by commas: every replica
    # given the same list verifies every replica's tokens. Unset: a key file in data_dir.
    # Checked at start (app/identity/keyring.py), not here: pydantic's errors echo input.
    token_keys: SecretStr | None = None
    # Keys that seal the secrets the database keeps (CHAP secrets; app/sealing.py),
    # the sealing one first, separated by commas. Unset: a key file in data_dir.
    secret_keys: SecretStr | None = None
    # Bodies larger than this are refused (413) before authentication and parsing;
    # Cinder's osapi_max_request_body_size. Agents' capability reports get their own.
    max_request_body_size: int = 114688
    max_agent_request_body_size: int = 8 * 1024 * 1024
    # How long a replica trusts its last check that a token still stands: a revocation
    # or a user, project or role change made elsewhere works here within this time.
    token_check_ttl_seconds: float = 10.0
    # Login throttling, counted in the database (every replica): a user from one
    # address, or one address, gets this many failed password checks per window...
    login_max_failures: int = 10
    # ...and a user from all addresses together this many (more than one address can
    # spend, so one attacker alone cannot lock a user out).
    login_user_max_failures: int = 50
    # The window starts at the first failure; a lock lasts until it ends.
    login_failure_window_seconds: int = 300
    # Once half a limit is spent, each further failure is answered this much later.
    login_failure_delay_seconds: float = 1.0
    # After a start with no capability report known, placements wait this long (from
    # the start) for a first one instead of failing (Cinder's option and default).
    scheduler_driver_init_wait_time: float = 60.0
    # A backend that has not reported for this long is down (Cinder's option name).
    service_down_time: int = 60
    # A report dated further ahead of the database's clock than this is refused.
    report_max_clock_skew: float = 60.0
    job_lease_seconds: int = 30
    job_max_attempts: int = 3
    reaper_interval: float = 2.0
    # How often expired user messages are deleted (Cinder's option, its default).
    message_reap_interval: float = 86400.0
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
    # How long a request that connects a host to a volume (os-initialize_connection, an
    # attachment update) waits for the agent to export it.
    connection_timeout: float = 60.0

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pumice.db').resolve()}"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
