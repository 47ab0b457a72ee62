"""The durable job queue. A job is inserted in the transaction that changes the status
asking for it; agents claim jobs for their backends under a lease, renew it while they
work, and report one result. Every state change is a guarded UPDATE, so two agents (or
an agent and the reaper) racing on one job cannot both win."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import jobkinds
from app.db.models import Backup, Job, utcnow
from app.sealing import Sealer

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
P = TypeVar("P", bound=jobkinds.Wire)
LEASE_EXPIRED_ERROR = "The storage agent stopped responding before it finished the operation."
STRANDED_ERROR = "The storage backend is down and did not take the operation in time."


def failure_reason(job: Job, agent: str = "storage") -> str:
    """Why a failed job failed, for its user message: the agent's words, or a plain
    stand-in when it gave none (a lease that ran out)."""
    return job.error or f"the {agent} agent reported a failure"


def enqueue(
    session: AsyncSession,
    *,
    kind: jobkinds.JobKind[P, Any],
    payload: P,
    backend: str,
    resource_id: str,
    max_attempts: int,
    request_id: str | None = None,
    sealer: Sealer | None = None,
) -> Job:
    """Queue a job of a catalog kind; its payload is the kind's model (stored and sent
    as its JSON dump, with the kind's payload version). The kind's sealed members are
    stored sealed by `sealer` (required for such a kind)."""
    data = kind.dump(payload)
    if kind.sealed:
        if sealer is None:
            raise TypeError(f"{kind.name} seals {', '.join(kind.sealed)}: give a sealer")
        for name in kind.sealed:
            if data.get(name) is not None:  # an optional member left out
                data[name] = sealer.seal(data[name])
    job = Job(
        kind=kind.name,
        backend=backend,
        resource_type=kind.resource.value,
        resource_id=resource_id,
        payload=data,
        payload_version=kind.version,
        state=PENDING,
        max_attempts=max_attempts,
        request_id=request_id,
    )
    session.add(job)
    return job


async def claim(
    session: AsyncSession, agent_id: str, backends: list[str], lease_seconds: int
) -> Job | None:
    """Lease the oldest pending job of these backends to this agent, or None."""
    for _ in range(5):
        job_id = (
            await session.scalars(
                select(Job.id)
                .where(Job.state == PENDING, Job.backend.in_(backends))
                .order_by(Job.id)
                .limit(1)
            )
        ).first()
        if job_id is None:
            return None
        now = utcnow()
        won = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == PENDING)
            .values(
                state=RUNNING,
                lease_owner=agent_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Job.attempts + 1,
                updated_at=now,
            )
        )
        if won.rowcount == 1:  # type: ignore[attr-defined]
            return await session.get(Job, job_id, populate_existing=True)
    return None


def _holds(job_id: int, agent_id: str, attempt: int) -> list[Any]:
    """The lease is this agent's and this attempt's: a stale run of a job the agent
    claimed again cannot renew or finish it."""
    return [
        Job.id == job_id,
        Job.state == RUNNING,
        Job.lease_owner == agent_id,
        Job.attempts == attempt,
    ]


async def renew(
    session: AsyncSession,
    job_id: int,
    agent_id: str,
    lease_seconds: int,
    progress: int | None,
    *,
    attempt: int,
) -> datetime | None:
    """Extend the lease if this agent still holds it for this attempt; None when not."""
    now = utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    values: dict[str, Any] = {"lease_expires_at": expires, "updated_at": now}
    if progress is not None:
        values["progress"] = max(0, min(100, progress))
    result = await session.execute(
        update(Job).where(*_holds(job_id, agent_id, attempt)).values(**values)
    )
    return expires if result.rowcount == 1 else None  # type: ignore[attr-defined]


async def finish(
    session: AsyncSession,
    job_id: int,
    agent_id: str,
    ok: bool,
    result: dict[str, Any] | None,
    error: str | None,
    *,
    attempt: int,
) -> Job | None:
    """Record the agent's result if it still holds the lease for this attempt; None when
    it does not."""
    now = utcnow()
    done = await session.execute(
        update(Job)
        .where(*_holds(job_id, agent_id, attempt))
        .values(
            state=SUCCEEDED if ok else FAILED,
            result=result,
            error=error,
            lease_expires_at=None,
            progress=100 if ok else Job.progress,
            updated_at=now,
        )
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(Job, job_id, populate_existing=True)


@dataclass(frozen=True)
class Expired:
    job: Job
    retried: bool


async def expired(
    session: AsyncSession, *, backend: str | None, now: datetime, limit: int = 100
) -> list[int]:
    """Running jobs whose lease ran out (or every running job of `backend`, for a
    cleanup)."""
    query = select(Job.id).where(Job.state == RUNNING)
    query = (
        query.where(Job.backend == backend) if backend else query.where(Job.lease_expires_at < now)
    )
    return list((await session.scalars(query.order_by(Job.id).limit(limit))).all())


async def expire(session: AsyncSession, job_id: int, now: datetime) -> Expired | None:
    """Back to pending while attempts remain, else failed; None if the job moved on."""
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None or job.state != RUNNING:
        return None
    retry = job.attempts < job.max_attempts
    moved = await session.execute(
        update(Job)
        .where(
            Job.id == job.id,
            Job.state == RUNNING,
            Job.lease_owner == job.lease_owner,
            Job.lease_expires_at == job.lease_expires_at,
        )
        .values(
            state=PENDING if retry else FAILED,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
            error=None if retry else LEASE_EXPIRED_ERROR,
        )
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await session.refresh(job)
    return Expired(job, retry)


def opened_payload(job: Job, sealer: Sealer) -> dict[str, Any]:
    """The payload as its agent needs it: the kind's sealed members opened."""
    kind = jobkinds.lookup(job.kind, job.payload_version)
    payload = dict(job.payload or {})
    for name in kind.sealed if kind is not None else ():
        if isinstance(payload.get(name), str):
            payload[name] = sealer.unseal(payload[name])
    return payload


def describe(job: Job, lease_seconds: int, sealer: Sealer) -> dict[str, Any]:
    """The claim's answer to the agent (the only place a sealed member is opened)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "backend": job.backend,
        "resource_type": job.resource_type,
        "resource_id": job.resource_id,
        "payload_version": job.payload_version,
        "payload": opened_payload(job, sealer),
        "attempts": job.attempts,
        "lease_seconds": lease_seconds,
        "lease_expires_at": job.lease_expires_at.isoformat() if job.lease_expires_at else None,
        # The id of the request that queued it: the agent's log lines carry it too.
        "request_id": job.request_id,
    }


async def stranded(
    session: AsyncSession, down_backends: list[str], older_than: datetime, limit: int = 100
) -> list[int]:
    """Pending jobs of backends that are down, queued before `older_than`."""
    if not down_backends:
        return []
    query = (
        select(Job.id)
        .where(Job.state == PENDING, Job.backend.in_(down_backends), Job.created_at < older_than)
        .order_by(Job.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def strand(session: AsyncSession, job_id: int) -> Job | None:
    """Fail a stranded job so its resource leaves its transitional status."""
    moved = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == PENDING)
        .values(state=FAILED, error=STRANDED_ERROR, updated_at=utcnow())
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(Job, job_id, populate_existing=True)


async def active(session: AsyncSession, resource_id: str, *, lock: bool = False) -> list[Job]:
    query = (
        select(Job)
        .where(
            Job.resource_id == resource_id,
            Job.state.in_((PENDING, RUNNING)),
            # Jobs on a copy the volume no longer uses (a migration's leftover):
            # operations on the volume neither wait for them nor cancel them.
            Job.kind.not_in(jobkinds.DETACHED),
        )
        .order_by(Job.id)
    )
    if lock:
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


async def backup_reading(
    session: AsyncSession, *, volume_id: str | None = None, snapshot_id: str | None = None
) -> str | None:
    """The backup whose create job in flight reads this volume (a backup of the volume
    itself) or this snapshot, or whose restore in flight writes this volume, if any:
    that job is the backup's, not the source's, so `active` does not see it."""
    query = (
        select(Backup.id)
        .join(Job, Job.resource_id == Backup.id)
        .where(Job.state.in_((PENDING, RUNNING)))
    )
    creating = Job.kind == jobkinds.CREATE_BACKUP.name
    if snapshot_id is not None:
        query = query.where(creating, Backup.snapshot_id == snapshot_id)
    else:
        query = query.where(
            or_(
                and_(creating, Backup.volume_id == volume_id, Backup.snapshot_id.is_(None)),
                and_(
                    Job.kind == jobkinds.RESTORE_BACKUP.name,
                    Backup.restore_volume_id == volume_id,
                ),
            )
        )
    return (await session.scalars(query.limit(1))).first()


async def cancel_active(session: AsyncSession, resource_id: str, why: str) -> list[Job]:
    """Fail the resource's queued and running jobs (a force delete overrides them); an
    agent still running one is refused its result (409). The cancelled jobs come back so
    the caller can give back what they held."""
    out: list[Job] = []
    for job in await active(session, resource_id):
        moved = await session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state.in_((PENDING, RUNNING)))
            .values(
                state=FAILED,
                error=why,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=utcnow(),
            )
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            await session.refresh(job)
            out.append(job)
    return out


async def cancel(session: AsyncSession, job_id: int, why: str) -> Job | None:
    """Fail one queued or running job (its requester stopped waiting); None when it had
    already ended. An agent still running it is refused its result (409)."""
    moved = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_((PENDING, RUNNING)))
        .values(
            state=FAILED, error=why, lease_owner=None, lease_expires_at=None, updated_at=utcnow()
        )
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(Job, job_id, populate_existing=True)


async def wait_for_end(
    maker: async_sessionmaker[AsyncSession],
    job_id: int,
    seconds: float,
    *,
    interval: float = 0.05,
    max_interval: float = 0.5,
) -> Job | None:
    """Wait, holding no transaction, until the job has succeeded or failed; None when
    `seconds` passed first. Each look is a short read of its own (any replica may record
    the result); the pause between looks grows to `max_interval`. For a request that
    answers with what the agent did (a connection's properties), after its own work
    has committed."""
    deadline = time.monotonic() + seconds
    while True:
        async with maker() as session:
            job = await session.get(Job, job_id)
            if job is not None and job.state in (SUCCEEDED, FAILED):
                return job
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, max_interval)
