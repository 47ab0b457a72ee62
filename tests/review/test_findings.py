"""Reviewer findings, fixed: each test states an invariant an earlier version broke."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Pool, QuotaUsage, Volume
from tests.api.helpers import claim, file_pool, finish, report, run_jobs
from tests.conftest import Caller

HOST = "node1@file"


async def ledgers(
    sessionmaker: async_sessionmaker[AsyncSession], project_id: str
) -> dict[str, Any]:
    """The pool ledger and quota usage next to what the live volumes say they are."""
    async with sessionmaker() as session:
        pool = (await session.scalars(select(Pool))).one()
        placed = await session.scalar(
            select(func.coalesce(func.sum(Volume.size), 0)).where(Volume.pool_id == pool.id)
        )
        count = await session.scalar(
            select(func.count()).select_from(Volume).where(Volume.project_id == project_id)
        )
        gigabytes = await session.scalar(
            select(func.coalesce(func.sum(Volume.size), 0)).where(Volume.project_id == project_id)
        )
        usage = {
            u.resource: u.in_use
            for u in await session.scalars(
                select(QuotaUsage).where(QuotaUsage.project_id == project_id)
            )
        }
    return {
        "pool": (pool.allocated_gb, float(placed or 0)),
        "volumes": (usage.get("volumes", 0), count),
        "gigabytes": (usage.get("gigabytes", 0), gigabytes),
    }


def assert_exact(state: dict[str, Any]) -> None:
    for key, (ledger, live) in state.items():
        assert ledger == live, f"{key}: ledger {ledger} but live volumes say {live}"


async def make_available(
    client: httpx.AsyncClient, member: Caller, service: Caller, size: int = 2
) -> str:
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": size}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    assert await run_jobs(client, service, [HOST]) == 1
    volume_id: str = r.json()["volume"]["id"]
    return volume_id


async def test_force_delete_while_extending_releases_the_delta(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await report(client, service, pools=[file_pool(total=100)])
    volume_id = await make_available(client, member, service, size=2)
    r = await client.post(
        f"/v3/{member.project_id}/volumes/{volume_id}/action",
        json={"os-extend": {"new_size": 5}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    # The agent is slow; the admin force-deletes the volume stuck in 'extending'.
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-force_delete": {}},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    # The agent runs both jobs (extend first, it was queued first), successfully.
    await run_jobs(client, service, [HOST])
    async with sessionmaker() as session:
        assert await session.get(Volume, volume_id) is None
    assert_exact(await ledgers(sessionmaker, member.project_id))


async def test_reset_status_while_extending_keeps_ledgers_exact(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await report(client, service, pools=[file_pool(total=100)])
    volume_id = await make_available(client, member, service, size=2)
    r = await client.post(
        f"/v3/{member.project_id}/volumes/{volume_id}/action",
        json={"os-extend": {"new_size": 5}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    # Refused while the extend is in flight: its job would find a status it does not
    # expect and what it claimed would never be given back.
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert r.status_code == 400 and "in flight" in r.text
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-reset_status": {"status": "extending"}},
        headers=admin.headers(),
    )
    assert r.status_code == 400  # never to a transitional status
    await run_jobs(client, service, [HOST])
    assert_exact(await ledgers(sessionmaker, member.project_id))


async def test_force_delete_supersedes_a_running_delete(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A user delete then an admin force delete: one delete job stays, so two results can
    never both release the volume's quota and claim."""
    await report(client, service, pools=[file_pool(total=100)])
    await make_available(client, member, service, size=3)
    volume_id = await make_available(client, member, service, size=2)
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers()
    )
    assert r.status_code == 202, r.text
    first = await claim(client, service, [HOST])
    assert first is not None
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-force_delete": {}},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    second = await claim(client, service, [HOST])
    assert second is not None and await claim(client, service, [HOST]) is None
    late = await finish(client, service, first)
    assert late.status_code == 409  # superseded: its result changes nothing
    assert (await finish(client, service, second)).status_code == 200
    assert_exact(await ledgers(sessionmaker, member.project_id))
