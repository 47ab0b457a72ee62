"""Backup services: agents with a backup repository (Cinder's cinder-backup services).

An agent registers its service at start and again every report interval; only the agent
the host is bound to may (app/volumes/capacity/agent_hosts.py), a report is applied unless the one
held has a greater sequence number, and `heard_at` (this API's clock) says whether the
service is up, as for volume backends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.clock import database_now
from app.db.models import BackupService, utcnow
from app.db.upsert import insert_ignore
from app.volumes.capacity import agent_hosts

EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Registration:
    agent: str
    host: str
    availability_zone: str
    repository: str
    reaches: list[str]
    sent_at: datetime
    seq: int | None


async def register(session: AsyncSession, report: Registration, max_clock_skew: float) -> bool:
    """Upsert the service by host for the reporting agent; False (nothing but heard_at
    changes) when the row holds a newer report by sequence number. The first report binds
    the host to its agent; another agent's is Forbidden."""
    now = utcnow()
    await session.execute(
        insert_ignore(
            session,
            BackupService,
            {
                "host": report.host,
                "agent_id": None,
                "availability_zone": report.availability_zone,
                "repository": report.repository,
                "reaches": report.reaches,
                # Set below, from the database's clock.
                "reported_at": EPOCH,
                "report_seq": None,
                "heard_at": now,
                "disabled": False,
                "created_at": now,
            },
        )
    )
    service = (
        await session.scalars(
            select(BackupService).where(BackupService.host == report.host).with_for_update()
        )
    ).one()
    agent_hosts.check_owner(service.agent_id, report.agent, report.host)
    db_now = await database_now(session)
    agent_hosts.check_clock(report.sent_at, db_now, max_clock_skew)
    service.heard_at = now
    if service.agent_id is not None and not agent_hosts.is_newer(report.seq, service.report_seq):
        # An older report still proves the service is alive.
        return False
    service.agent_id = report.agent
    service.availability_zone = report.availability_zone
    service.repository = report.repository
    service.reaches = report.reaches
    # Never earlier than the report held, as for volume backends.
    service.reported_at = max(db_now, service.reported_at)
    if report.seq is not None:
        service.report_seq = report.seq
    return True


def is_up(service: BackupService, service_down_time: int, now: datetime | None = None) -> bool:
    """Heard from within service_down_time (either side, as Cinder's abs())."""
    elapsed = ((now or utcnow()) - service.heard_at).total_seconds()
    return abs(elapsed) <= service_down_time


async def all_services(session: AsyncSession) -> list[BackupService]:
    return list((await session.scalars(select(BackupService).order_by(BackupService.host))).all())


async def down_hosts(session: AsyncSession, service_down_time: int, now: datetime) -> list[str]:
    """Hosts of backup services not heard from within service_down_time: their queued
    jobs will not be taken, so the reaper fails them."""
    edge = now - timedelta(seconds=service_down_time)
    rows = await session.scalars(select(BackupService.host).where(BackupService.heard_at < edge))
    return list(rows.all())


async def by_host(session: AsyncSession, host: str | None) -> BackupService | None:
    if host is None:
        return None
    query = select(BackupService).where(BackupService.host == host)
    return (await session.scalars(query)).first()
