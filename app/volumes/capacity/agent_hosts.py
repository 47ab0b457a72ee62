"""Which agent serves which host: backends ('node@backend') and backup services
('node@backup') are bound to the agent whose report for them came first, and only that
agent may report for them, claim their jobs and finish them. Moving a host to another
agent is an admin act (reassign).

Reports are also checked against the database's clock here and ordered by the agent's
sequence number, never by the agent's own timestamp."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent, Backend, BackupService, Job
from app.errors import BadRequest, Conflict, Forbidden, NotFound

RUNNING = "running"


def check_owner(owner: str | None, agent: str, host: str) -> None:
    """A host nobody holds yet is free to bind; another agent's is not."""
    if owner is not None and owner != agent:
        raise Forbidden(f"Host {host} is served by another agent.")


def check_clock(sent_at: datetime, now: datetime, max_skew: float) -> None:
    """A report dated ahead of the database's clock by more than the allowed skew is
    refused: the agent's clock is wrong, and nothing it dates can be trusted."""
    if sent_at > now + timedelta(seconds=max_skew):
        raise BadRequest(
            f"The report is dated {sent_at.isoformat()}, more than {max_skew:g} s ahead of "
            f"the API's clock ({now.isoformat()}): check the agent's clock."
        )


def is_newer(seq: int | None, held: int | None) -> bool:
    """Apply a report unless both it and the held one carry a sequence number and its
    own is not greater (a report delayed in transit). Reports without one (agents from
    before sequence numbers) are applied in arrival order."""
    return seq is None or held is None or seq > held


async def claimable(session: AsyncSession, agent: str, hosts: list[str]) -> list[str]:
    """The hosts of a claim that are this agent's. Forbidden when one is another
    agent's; a host not bound yet (never reported) has no jobs to give out."""
    owners: dict[str, str | None] = {}
    for model in (Backend, BackupService):
        rows = await session.execute(
            select(model.host, model.agent_id).where(model.host.in_(hosts))
        )
        owners.update({host: owner for host, owner in rows})
    for host in sorted(owners):
        check_owner(owners[host], agent, host)
    return [host for host in hosts if owners.get(host) == agent]


async def check_job(session: AsyncSession, job_id: int, agent: str) -> Job:
    """The job, if its host is this agent's (Forbidden if not; Conflict when there is no
    such job, as for a lease that is gone)."""
    job = await session.get(Job, job_id)
    if job is None:
        raise Conflict(f"Job {job_id} is not leased to agent {agent}.")
    if await _owner(session, job.backend) != agent:
        raise Forbidden(f"Job {job_id} belongs to host {job.backend}, not served by {agent}.")
    return job


async def reassign(session: AsyncSession, host: str, agent: str, now: datetime) -> None:
    """Bind a backend or backup service to another agent (admin). Its sequence starts
    over (the new agent's numbers are its own), and jobs the previous agent is running
    there are given back to the reaper, which retries them."""
    if await session.get(Agent, agent) is None:
        raise NotFound(f"Could not find agent: {agent}.")
    moved = 0
    for model in (Backend, BackupService):
        result = await session.execute(
            update(model).where(model.host == host).values(agent_id=agent, report_seq=None)
        )
        moved += result.rowcount  # type: ignore[attr-defined]
    if not moved:
        raise NotFound(f"Could not find host: {host}.")
    await session.execute(
        update(Job)
        .where(Job.backend == host, Job.state == RUNNING, Job.lease_owner != agent)
        .values(lease_expires_at=now - timedelta(seconds=1))
    )


async def _owner(session: AsyncSession, host: str) -> str | None:
    for model in (Backend, BackupService):
        found = (await session.execute(select(model.agent_id).where(model.host == host))).first()
        if found is not None:
            return found[0]
    return None
