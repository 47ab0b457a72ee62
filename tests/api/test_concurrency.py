"""Exact under concurrency: 50 parallel creates against a pool that holds 10."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.context import RequestContext
from app.db.models import Pool, QuotaUsage, Volume
from app.volumes.kernel import jobs
from app.volumes.kernel.repository import VOLUMES
from app.volumes.volumes import flows
from tests.api.helpers import claim, file_pool, report, run_jobs
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases  # concurrent claims and row-lock order


async def test_fifty_creates_on_room_for_ten(
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await report(client, service, pools=[file_pool(total=10)])

    async def create(i: int) -> httpx.Response:
        return await client.post(
            f"/v3/{member.project_id}/volumes",
            json={"volume": {"size": 1, "name": f"c{i}"}},
            headers=member.headers(),
        )

    responses = await asyncio.gather(*(create(i) for i in range(50)))
    assert [r.status_code for r in responses] == [202] * 50
    assert await run_jobs(client, service, ["node1@file"]) == 10

    r = await client.get(f"/v3/{member.project_id}/volumes/detail", headers=member.headers())
    statuses = [v["status"] for v in r.json()["volumes"]]
    assert statuses.count("available") == 10 and statuses.count("error") == 40

    r = await client.get(
        f"/v3/{member.project_id}/messages?limit=100", headers=member.headers("3.3")
    )
    assert len(r.json()["messages"]) == 40

    async with sessionmaker() as session:
        pool = (await session.scalars(select(Pool))).one()
        placed = await session.scalar(
            select(func.coalesce(func.sum(Volume.size), 0)).where(Volume.pool_id == pool.id)
        )
        live = await session.scalar(select(func.count()).select_from(Volume))
        usage = {
            u.resource: u.in_use
            for u in (
                await session.scalars(
                    select(QuotaUsage).where(QuotaUsage.project_id == member.project_id)
                )
            )
        }
    assert pool.allocated_gb == placed == 10
    assert usage == {"volumes": live, "gigabytes": live} and live == 50

    # Deleting the error volumes gives their quota back and never touches the pool.
    for volume in (
        await client.get(
            f"/v3/{member.project_id}/volumes/detail?status=error", headers=member.headers()
        )
    ).json()["volumes"]:
        d = await client.delete(
            f"/v3/{member.project_id}/volumes/{volume['id']}", headers=member.headers()
        )
        assert d.status_code == 202
    async with sessionmaker() as session:
        usage = {
            u.resource: u.in_use
            for u in (
                await session.scalars(
                    select(QuotaUsage).where(QuotaUsage.project_id == member.project_id)
                )
            )
        }
        pool = (await session.scalars(select(Pool))).one()
    assert usage == {"volumes": 10, "gigabytes": 10}
    assert pool.allocated_gb == 10


async def test_force_delete_and_a_job_result_lock_in_one_order_and_never_deadlock(
    db_url: str,
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    if not db_url.startswith("postgresql"):
        # SQLite locks the whole database: no row-lock order to get wrong.
        pytest.skip("PostgreSQL only: SQLite locks the whole database")
    await report(client, service, pools=[file_pool(total=100)])
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 2}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, ["node1@file"])
    assert job is not None
    job_id, volume_id = job["id"], job["resource_id"]

    errors: list[BaseException] = []
    result_holds_job = asyncio.Event()
    admin = RequestContext(user_id="admin", project_id="admin", is_admin=True)

    async def agent_result() -> None:  # what POST /jobs/{id}/result does
        try:
            async with sessionmaker() as session, session.begin():
                done = await jobs.finish(
                    session, job_id, "agent", True, {}, None, attempt=job["attempts"]
                )
                assert done is not None
                result_holds_job.set()
                await asyncio.sleep(0.3)  # the force delete is now waiting on the job
                await VOLUMES.lock(session, done.resource_id)  # job, then volume
        except Exception as exc:
            errors.append(exc)

    async def force_delete() -> None:  # what os-force_delete does
        try:
            await result_holds_job.wait()
            async with sessionmaker() as session, session.begin():
                await flows.get(session, admin, volume_id, for_update=True, with_jobs=True)
                await jobs.cancel_active(session, volume_id, "superseded")  # job, then volume
        except Exception as exc:
            errors.append(exc)

    await asyncio.wait_for(asyncio.gather(agent_result(), force_delete()), 30)
    assert not errors, errors
