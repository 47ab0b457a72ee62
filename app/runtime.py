"""What one API replica holds while it runs: settings, database, token keys, the
capability cache and scheduler, and the wake-ups for long-polling agents."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.identity.tokens import TokenIssuer
from app.scheduler.cache import CapabilityCache
from app.scheduler.scheduler import Scheduler
from app.sealing import Sealer
from app.volumes.capacity.reports import PoolDirectory


@dataclass
class JobSignal:
    """Wakes long-polling agents of this replica when a job is queued here; agents of
    other replicas find it on their next poll."""

    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        """Take this before looking for work, wait on it after finding none: a job
        queued in between has already set it, so no wake-up is lost."""
        return self._event

    @staticmethod
    async def wait(waiter: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(waiter.wait(), seconds)
        except TimeoutError:
            pass


@dataclass(frozen=True)
class CheckedToken:
    user_id: str
    is_admin: bool
    # As named in the database: the service role counts on project 'service' only.
    project_name: str
    at: float


@dataclass
class TokenChecks:
    """Tokens recently found to still stand for a live user, project and roles, with
    the admin power found then. A revocation or password change made through this
    replica forgets the user's entries at once; one made elsewhere (another replica,
    the CLI) is seen here once an entry is `ttl_seconds` old: that is the window in
    which a revoked token may still work on other replicas."""

    ttl_seconds: float = 10.0
    max_entries: int = 50_000
    _checked: dict[str, CheckedToken] = field(default_factory=dict)

    def recall(self, token_id: str) -> CheckedToken | None:
        checked = self._checked.get(token_id)
        if checked is None or time.monotonic() - checked.at >= self.ttl_seconds:
            return None
        return checked

    def remember(
        self, token_id: str, user_id: str, is_admin: bool, project_name: str
    ) -> CheckedToken:
        if len(self._checked) >= self.max_entries:
            self._checked.clear()
        checked = CheckedToken(user_id, is_admin, project_name, time.monotonic())
        self._checked[token_id] = checked
        return checked

    def clear(self) -> None:
        """Forget every entry (a project disabled or deleted: its members' tokens)."""
        self._checked.clear()

    def forget_user(self, user_id: str) -> None:
        self._checked = {k: v for k, v in self._checked.items() if v.user_id != user_id}


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # For requests that only read (GET/HEAD) and token checks.
    read_engine: AsyncEngine
    read_sessionmaker: async_sessionmaker[AsyncSession]
    tokens: TokenIssuer
    cache: CapabilityCache
    scheduler: Scheduler
    sealer: Sealer
    pools: PoolDirectory = field(default_factory=PoolDirectory)
    jobs: JobSignal = field(default_factory=JobSignal)
    token_checks: TokenChecks = field(default_factory=TokenChecks)
    started: float = field(default_factory=time.monotonic)

    async def first_reports(self) -> None:
        """Cinder's scheduler_driver_init_wait_time: right after a start with no
        capability report known (a new deployment, `pumice up`), a placement waits up to
        that long from the start for a first report rather than failing for want of one.
        A replica that loaded reports from the database has them at once."""
        deadline = self.started + self.settings.scheduler_driver_init_wait_time
        # Polled: reports reach the cache two ways (this replica's ingest, the refresh of
        # other replicas' from the database), and a look at it costs nothing.
        while not self.cache.backends() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
