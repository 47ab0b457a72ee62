"""Backup services: agents with a backup repository (Cinder's cinder-backup services).

An agent registers its service at start and again every report interval; the latest
report wins by the agent's own timestamp, and `heard_at` (this API's clock) says whether
the service is up, as for volume backends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BackupService, utcnow
from app.db.upsert import insert_ignore


@dataclass(frozen=True)
class Registration:
    agent_id: str
    host: str
    availability_zone: str
    repository: str
    reaches: list[str]
    reported_at: datetime


async def register(session: AsyncSession, report: Registration) -> bool:
    """Upsert the service by host; False (nothing but heard_at changes) when the row
    holds a newer report."""
    now = utcnow()
    await session.execute(
        insert_ignore(
            session,
            BackupService,
            {
                "host": report.host,
                "agent_id": report.agent_id,
                "availability_zone": report.availability_zone,
                "repository": report.repository,
                "reaches": report.reaches,
                "reported_at": report.reported_at,
                "heard_at": now,
                "disabled": False,
                "created_at": now,
            },
        )
    )
    accepted = await session.execute(
        update(BackupService)
        .where(BackupService.host == report.host, BackupService.reported_at <= report.reported_at)
        .values(
            agent_id=report.agent_id,
            availability_zone=report.availability_zone,
            repository=report.repository,
            reaches=report.reaches,
            reported_at=report.reported_at,
            heard_at=now,
        )
    )
    if accepted.rowcount == 1:  # type: ignore[attr-defined]
        return True
    # An older report still proves the service is alive.
    await session.execute(
        update(BackupService).where(BackupService.host == report.host).values(heard_at=now)
    )
    return False


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
