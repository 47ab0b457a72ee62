"""/agent/v1: what storage agents call (service role only). See docs/CONTRACTS.md."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import AfterValidator, BaseModel, Field

from app.api.deps import RuntimeDep, ServiceDep, SessionDep
from app.errors import BadRequest, Conflict
from app.scheduler import store
from app.volumes import backup_services, jobs, results

router = APIRouter(prefix="/agent/v1", tags=["agents"])
MAX_WAIT = 30.0


def _printable(value: str) -> str:
    # PostgreSQL cannot store NUL in text, and no name needs control characters.
    if any(ord(c) < 32 for c in value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable)]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class CapabilityReport(BaseModel):
    agent_id: Name
    host: Annotated[Name, Field(pattern=r"^[^@#\s]+@[^@#\s]+$")]
    availability_zone: Name
    timestamp: datetime
    job_versions: dict[str, list[int]] = Field(default_factory=dict)
    capabilities: dict[str, Any]


class ClaimRequest(BaseModel):
    agent_id: Name
    backends: list[Name] = Field(min_length=1, max_length=64)
    wait: float = Field(default=20.0, ge=0)


class Heartbeat(BaseModel):
    agent_id: Name
    # The claim's `attempts`: a lease belongs to one attempt, not to the agent, so a
    # stale run of a job the agent claimed again cannot renew or finish it.
    attempt: int | None = Field(default=None, ge=1, le=1_000_000)
    progress: int | None = Field(default=None, ge=0, le=100)


class JobResult(BaseModel):
    agent_id: Name
    attempt: int | None = Field(default=None, ge=1, le=1_000_000)
    ok: bool
    result: dict[str, Any] | None = None
    # Shown to users in a message; NUL cannot be stored in PostgreSQL text.
    error: Annotated[str, AfterValidator(lambda text: text.replace("\x00", ""))] | None = Field(
        default=None, max_length=4096
    )


@router.post("/capabilities")
async def report_capabilities(
    report: CapabilityReport, _ctx: ServiceDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    ts = report.timestamp
    reported_at = ts if ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None)
    async with session.begin():
        accepted = await store.ingest(
            session,
            runtime.cache,
            runtime.pools,
            host=report.host,
            availability_zone=report.availability_zone,
            capabilities=report.capabilities,
            reported_at=reported_at,
            agent_id=report.agent_id,
            job_versions=report.job_versions,
        )
    return {"accepted": accepted}


class BackupServiceReport(BaseModel):
    agent_id: Name
    host: Annotated[Name, Field(pattern=r"^[^@#\s]+(@[^@#\s]+)?$")]
    availability_zone: Name
    repository: Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_printable)]
    reaches: list[Name] = Field(default_factory=list, max_length=256)
    timestamp: datetime


@router.post("/backup-services")
async def report_backup_service(
    report: BackupServiceReport, _ctx: ServiceDep, session: SessionDep
) -> dict[str, Any]:
    ts = report.timestamp
    async with session.begin():
        accepted = await backup_services.register(
            session,
            backup_services.Registration(
                agent_id=report.agent_id,
                host=report.host,
                availability_zone=report.availability_zone,
                repository=report.repository,
                reaches=sorted(set(report.reaches)),
                reported_at=ts if ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None),
            ),
        )
    return {"accepted": accepted}


@router.post("/jobs/claim")
async def claim_job(
    request: Request, body: ClaimRequest, _ctx: ServiceDep, runtime: RuntimeDep
) -> dict[str, Any]:
    lease = runtime.settings.job_lease_seconds
    deadline = _now() + min(body.wait, MAX_WAIT)
    while True:
        if await request.is_disconnected():
            # Leasing a job to an agent that has gone would park it until the lease
            # expires and spend one of its attempts.
            return {"job": None}
        waiter = runtime.jobs.waiter()
        async with runtime.sessionmaker() as session, session.begin():
            job = await jobs.claim(session, body.agent_id, body.backends, lease)
        if job is not None:
            return {"job": jobs.describe(job, lease)}
        remaining = deadline - _now()
        if remaining <= 0:
            return {"job": None}
        # Woken at once by a job queued in this replica; other replicas' jobs are found
        # by the next poll.
        await runtime.jobs.wait(waiter, min(remaining, 1.0))


@router.post("/jobs/{job_id}/heartbeat")
async def heartbeat(
    job_id: JobId, body: Heartbeat, _ctx: ServiceDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    async with session.begin():
        expires = await jobs.renew(
            session,
            job_id,
            body.agent_id,
            runtime.settings.job_lease_seconds,
            body.progress,
            attempt=body.attempt,
        )
    if expires is None:
        raise Conflict(f"Job {job_id} is not leased to agent {body.agent_id}.")
    return {"lease_expires_at": expires.isoformat()}


@router.post("/jobs/{job_id}/result")
async def job_result(
    job_id: JobId, body: JobResult, _ctx: ServiceDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    if not body.ok and not body.error:
        raise BadRequest("A failed job needs an 'error' saying why.")
    async with session.begin():
        job = await jobs.finish(
            session, job_id, body.agent_id, body.ok, body.result, body.error, attempt=body.attempt
        )
        if job is None:
            raise Conflict(f"Job {job_id} is not leased to agent {body.agent_id}.")
        outcome = await results.apply(session, runtime, job, ok=body.ok)
    outcome.after_commit(runtime)
    return {"state": job.state}


def _now() -> float:
    return time.monotonic()
