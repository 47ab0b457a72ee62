"""The lease reaper: expired leases become retries, or failures with a user message, so
no resource stays in a transitional status because an agent died."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from app.db.models import utcnow
from app.runtime import Runtime
from app.volumes import jobs, results
from app.volumes.volumes import Outcome

log = structlog.get_logger(__name__)


async def reap_once(runtime: Runtime, *, backend: str | None = None) -> int:
    """One pass; with `backend`, every running job of it counts as expired (cleanup).
    Returns how many jobs it moved."""
    now = utcnow()
    outcomes: list[Outcome] = []
    retried = False
    async with runtime.sessionmaker() as session, session.begin():
        expired = await jobs.expire_leases(session, backend=backend, now=now)
        for item in expired:
            if item.retried:
                retried = True
            else:
                outcomes.append(await results.apply(session, runtime, item.job, ok=False))
        down = [b.host for b in runtime.cache.backends() if not runtime.cache.is_up(b.host, now)]
        if backend is not None and backend not in down:
            down.append(backend)
        wait = timedelta(seconds=runtime.settings.service_down_time)
        stranded = await jobs.fail_stranded(
            session, down, now if backend is not None else now - wait
        )
        for job in stranded:
            outcomes.append(await results.apply(session, runtime, job, ok=False))
    for outcome in outcomes:
        outcome.after_commit(runtime)
    if retried:
        runtime.jobs.notify()
    return len(expired) + len(stranded)


async def run_forever(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.reaper_interval)
        try:
            await reap_once(runtime)
        except Exception as exc:  # the reaper must outlive a database hiccup
            log.warning("reaper pass failed", error=str(exc))
