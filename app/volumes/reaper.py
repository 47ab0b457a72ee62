"""The lease reaper: expired leases become retries, or failures with a user message, so
no resource stays in a transitional status because an agent died. Each job is settled
in a transaction of its own: one that cannot be settled does not hold up the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Job, utcnow
from app.runtime import Runtime
from app.volumes import results
from app.volumes.backups import services as backup_services
from app.volumes.kernel import jobs, messages

log = structlog.get_logger(__name__)

# Moves one job; returns it when it failed for good (its resource must be settled),
# the string "retried" when it went back to the queue, None when it had moved on.
Step = Callable[[AsyncSession, int], Awaitable[Job | str | None]]


async def reap_once(runtime: Runtime, *, backend: str | None = None) -> int:
    """One pass; with `backend`, every running job of it counts as expired (cleanup).
    Returns how many jobs it moved."""
    now = utcnow()
    down = [b.host for b in runtime.cache.backends() if not runtime.cache.is_up(b.host, now)]
    if backend is not None and backend not in down:
        down.append(backend)
    older_than = (
        now if backend is not None else now - timedelta(seconds=runtime.settings.service_down_time)
    )
    async with runtime.sessionmaker() as session:
        expired = await jobs.expired(session, backend=backend, now=now)
        # Backup services are hosts too: a down one's queued backups must not wait forever.
        down += await backup_services.down_hosts(session, runtime.settings.service_down_time, now)
        stranded = await jobs.stranded(session, down, older_than)
    moved = 0
    for job_id in expired:
        moved += await _settle(runtime, job_id, _expire_step(now))
    for job_id in stranded:
        moved += await _settle(runtime, job_id, _strand)
    return moved


def _expire_step(now: datetime) -> Step:
    async def step(session: AsyncSession, job_id: int) -> Job | str | None:
        item = await jobs.expire(session, job_id, now)
        if item is None:
            return None
        return "retried" if item.retried else item.job

    return step


async def _strand(session: AsyncSession, job_id: int) -> Job | str | None:
    return await jobs.strand(session, job_id)


async def _settle(runtime: Runtime, job_id: int, step: Step) -> int:
    try:
        async with runtime.sessionmaker() as session, session.begin():
            moved = await step(session, job_id)
            if moved is None:
                return 0
            outcome = None
            if isinstance(moved, Job):
                outcome = await results.apply(session, runtime, moved, ok=False)
    except Exception as exc:  # rolled back: the next pass tries this job again
        log.error("could not settle a job", job_id=job_id, error=str(exc))
        return 0
    if outcome is not None:
        outcome.after_commit(runtime)
    else:
        runtime.jobs.notify()
    return 1


async def run_forever(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.reaper_interval)
        try:
            await reap_once(runtime)
        except Exception as exc:  # the reaper must outlive a database hiccup
            log.warning("reaper pass failed", error=str(exc))


async def purge_messages_forever(runtime: Runtime) -> None:
    """Expired user messages go every message_reap_interval (Cinder's option)."""
    while True:
        try:
            async with runtime.sessionmaker() as session, session.begin():
                purged = await messages.purge_expired(session)
            if purged:
                log.info("expired messages purged", count=purged)
        except Exception as exc:  # the next interval tries again
            log.warning("message purge failed", error=str(exc))
        await asyncio.sleep(runtime.settings.message_reap_interval)
