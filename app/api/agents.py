"""/agent/v1: what storage agents call (the service role on project 'service'; the
agent is the token's user, never a name in the body), and the admin's move of a host
to another agent. See docs/CONTRACTS.md."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select

from app.api.deps import RuntimeDep, ServiceDep, WorkDep
from app.api.policy import may
from app.api.schemas import agents as S
from app.api.schemas.contract import FAULT_RESPONSES, returns
from app.context import RequestContext
from app.db.models import Backend, BackupService, utcnow
from app.errors import BadRequest, Conflict
from app.identity import agents
from app.volumes import results
from app.volumes.attachments import restore
from app.volumes.backups import services as backup_services
from app.volumes.capacity import agent_hosts, reports
from app.volumes.kernel import jobs
from app.volumes.kernel.work import unit_of_work

# The agents get Cinder's fault bodies too (a 400, never a 422, for a bad body).
router = APIRouter(prefix="/agent/v1", tags=["agents"], responses=FAULT_RESPONSES)
MAX_WAIT = 30.0


def _printable(value: str) -> str:
    # PostgreSQL cannot store NUL in text, and no name needs control characters.
    if any(ord(c) < 32 for c in value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable)]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]


Seq = Annotated[int, Field(ge=0, le=2**63 - 1)]


# Bodies from older agents still carry the `agent_id` they named themselves by: it is
# ignored (the agent is the token's), as are other unknown fields.
class CapabilityReport(BaseModel):
    host: Annotated[Name, Field(pattern=r"^[^@#\s]+@[^@#\s]+$")]
    availability_zone: Name
    # The agent's clock: refused when too far ahead of the database's, ordering nothing.
    timestamp: datetime
    # Increasing per agent across restarts; orders reports of a backend.
    seq: Seq | None = None
    job_versions: dict[str, list[int]] = Field(default_factory=dict)
    capabilities: dict[str, Any]


class ClaimRequest(BaseModel):
    backends: list[Name] = Field(min_length=1, max_length=64)
    wait: float = Field(default=20.0, ge=0)


class Heartbeat(BaseModel):
    # The claim's `attempts`: a lease belongs to one attempt, not to the agent, so a
    # stale run of a job the agent claimed again cannot renew or finish it.
    attempt: int = Field(ge=1, le=1_000_000)
    progress: int | None = Field(default=None, ge=0, le=100)


class JobResult(BaseModel):
    attempt: int = Field(ge=1, le=1_000_000)
    ok: bool
    result: dict[str, Any] | None = None
    # Shown to users in a message; NUL cannot be stored in PostgreSQL text.
    error: Annotated[str, AfterValidator(lambda text: text.replace("\x00", ""))] | None = Field(
        default=None, max_length=4096
    )


class RestoreRequest(BaseModel):
    backends: list[Name] = Field(min_length=1, max_length=64)


class Reassignment(BaseModel):
    agent: Name


async def current_agent(ctx: ServiceDep, runtime: RuntimeDep) -> str:
    """The calling agent, from its token: the service role on project 'service' and the
    agent record of its user (registered on its first call)."""
    async with runtime.read_sessionmaker() as session:
        name = await agents.registered_name(session, ctx.user_id)
    if name is not None:
        return name
    # Registered in a transaction of its own, before the endpoint's unit of work: the
    # agent record stays even when the call it came with fails.
    async with unit_of_work(runtime) as work:
        return await agents.agent_for_user(work.session, ctx.user_id)


AgentDep = Annotated[str, Depends(current_agent)]


def _naive_utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None)


@router.post("/capabilities", **returns(S.ReportAccepted))
async def report_capabilities(
    report: CapabilityReport, agent: AgentDep, work: WorkDep
) -> dict[str, Any]:
    runtime = work.runtime
    accepted = await reports.ingest(
        work.session,
        runtime.cache,
        runtime.pools,
        host=report.host,
        availability_zone=report.availability_zone,
        capabilities=report.capabilities,
        sent_at=_naive_utc(report.timestamp),
        seq=report.seq,
        agent=agent,
        job_versions=report.job_versions,
        max_clock_skew=runtime.settings.report_max_clock_skew,
    )
    held = await work.session.scalar(select(Backend.report_seq).where(Backend.host == report.host))
    return {"accepted": accepted, "seq": held}


class BackupServiceReport(BaseModel):
    host: Annotated[Name, Field(pattern=r"^[^@#\s]+(@[^@#\s]+)?$")]
    availability_zone: Name
    repository: Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_printable)]
    reaches: list[Name] = Field(default_factory=list, max_length=256)
    timestamp: datetime
    seq: Seq | None = None


@router.post("/backup-services", **returns(S.ReportAccepted))
async def report_backup_service(
    report: BackupServiceReport, agent: AgentDep, work: WorkDep
) -> dict[str, Any]:
    accepted = await backup_services.register(
        work.session,
        backup_services.Registration(
            agent=agent,
            host=report.host,
            availability_zone=report.availability_zone,
            repository=report.repository,
            reaches=sorted(set(report.reaches)),
            sent_at=_naive_utc(report.timestamp),
            seq=report.seq,
        ),
        work.runtime.settings.report_max_clock_skew,
    )
    held = await work.session.scalar(
        select(BackupService.report_seq).where(BackupService.host == report.host)
    )
    return {"accepted": accepted, "seq": held}


@router.post("/jobs/claim", **returns(S.ClaimResponse))
async def claim_job(
    request: Request, body: ClaimRequest, agent: AgentDep, runtime: RuntimeDep
) -> dict[str, Any]:
    lease = runtime.settings.job_lease_seconds
    deadline = _now() + min(body.wait, MAX_WAIT)
    while True:
        if await request.is_disconnected():
            # Leasing a job to an agent that has gone would park it until the lease
            # expires and spend one of its attempts.
            return {"job": None}
        waiter = runtime.jobs.waiter()
        # One unit of work per poll, not per request: a claim is committed at once, and
        # the wait between polls holds no transaction.
        async with unit_of_work(runtime) as work:
            # Checked on every poll: an admin may move a backend away meanwhile.
            hosts = await agent_hosts.claimable(work.session, agent, body.backends)
            job = await jobs.claim(work.session, agent, hosts, lease) if hosts else None
        if job is not None:
            return {"job": jobs.describe(job, lease, runtime.sealer)}
        remaining = deadline - _now()
        if remaining <= 0:
            return {"job": None}
        # Woken at once by a job queued in this replica; other replicas' jobs are found
        # by the next poll.
        await runtime.jobs.wait(waiter, min(remaining, 1.0))


@router.post("/jobs/{job_id}/heartbeat", **returns(S.HeartbeatResponse))
async def heartbeat(
    job_id: JobId, body: Heartbeat, agent: AgentDep, work: WorkDep
) -> dict[str, Any]:
    await agent_hosts.check_job(work.session, job_id, agent)
    expires = await jobs.renew(
        work.session,
        job_id,
        agent,
        work.runtime.settings.job_lease_seconds,
        body.progress,
        attempt=body.attempt,
    )
    if expires is None:
        raise Conflict(f"Job {job_id} is not leased to agent {agent} for attempt {body.attempt}.")
    return {"lease_expires_at": expires.isoformat()}


@router.post("/jobs/{job_id}/result", **returns(S.JobResultResponse))
async def job_result(
    job_id: JobId, body: JobResult, agent: AgentDep, work: WorkDep
) -> dict[str, Any]:
    if not body.ok and not body.error:
        raise BadRequest("A failed job needs an 'error' saying why.")
    posted = await agent_hosts.check_job(work.session, job_id, agent)
    # Checked before anything is recorded: a refused result changes nothing.
    report = results.report(posted, body.ok, body.result, body.error)
    job = await jobs.finish(
        work.session, job_id, agent, report.ok, report.result, report.error, attempt=body.attempt
    )
    if job is None:
        raise Conflict(f"Job {job_id} is not leased to agent {agent} for attempt {body.attempt}.")
    outcome = await results.apply(work.session, work.runtime, job, ok=report.ok)
    work.after_commit(outcome)
    return {"state": job.state}


@router.post("/exports/restore", **returns(S.RestoredExports))
async def restore_exports(body: RestoreRequest, agent: AgentDep, work: WorkDep) -> dict[str, Any]:
    """After an agent's restart: export again what its backends' attachments hold."""
    hosts = await agent_hosts.claimable(work.session, agent, body.backends)
    wanted, outcome = await restore.restore(
        work.session, work.runtime, hosts, work.request_id or None
    )
    work.after_commit(outcome)
    return {"exports": wanted}


@router.post("/hosts/{host}/reassign", **returns(S.ReassignResponse))
async def reassign_host(
    host: Annotated[str, Path(min_length=1, max_length=255)],
    body: Reassignment,
    _ctx: Annotated[RequestContext, may("agent:reassign_host")],
    work: WorkDep,
) -> dict[str, Any]:
    """Move a backend or backup service to another agent (admin only)."""
    await agent_hosts.reassign(work.session, host, body.agent, utcnow())
    return {"host": host, "agent": body.agent}


def _now() -> float:
    return time.monotonic()
