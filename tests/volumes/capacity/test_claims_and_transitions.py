"""Table-driven: the claim guard on a pool, and which status each volume operation
accepts. Both on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Backend, Pool, Volume, utcnow
from app.volumes.capacity import claims
from tests.api.helpers import file_pool, report, run_jobs
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases  # claims and guarded transitions (row locks)

# (ledger, reported allocated, thin limit, thick limit, size, thin request, new ledger|None)
CLAIMS = [
    (0, 0, 10, 10, 10, True, 10),  # exactly to the limit
    (0, 0, 10, 10, 11, True, None),  # one over
    (9, 0, 10, 10, 1, True, 10),
    (9, 0, 10, 10, 2, True, None),
    (0, 8, 10, 10, 2, True, 2),  # the report's allocation counts when it is larger
    (0, 8, 10, 10, 3, True, None),
    (5, 3, 10, 10, 5, True, 10),  # the ledger counts when it is larger
    (0, 0, 40, 10, 20, True, 20),  # thin limit for a thin request ...
    (0, 0, 40, 10, 20, False, None),  # ... the thick one for a thick request
    (12, 0, 10, 10, 1, True, None),  # already above a shrunken limit: nothing more
    (0, 0, 10, 10, 0.5, True, 0.5),
]


@pytest.mark.parametrize(
    ("ledger", "reported", "thin_limit", "thick_limit", "size", "thin", "expected"), CLAIMS
)
async def test_claim_guard(
    sessionmaker: async_sessionmaker[AsyncSession],
    ledger: float,
    reported: float,
    thin_limit: float,
    thick_limit: float,
    size: float,
    thin: bool,
    expected: float | None,
) -> None:
    async with sessionmaker() as session, session.begin():
        backend = Backend(
            host="n@b", availability_zone="nova", report={}, reported_at=utcnow(), job_versions={}
        )
        session.add(backend)
        await session.flush()
        pool = Pool(
            backend_id=backend.id,
            name="p",
            allocated_gb=ledger,
            reported_allocated_gb=reported,
            limit_gb=thin_limit,
            limit_thick_gb=thick_limit,
            present=True,
        )
        session.add(pool)
        await session.flush()
        pool_id = pool.id
    async with sessionmaker() as session, session.begin():
        got = await claims.claim(session, pool_id, size, thin=thin)
    assert got == expected
    async with sessionmaker() as session:
        stored = (await session.scalars(select(Pool.allocated_gb))).one()
    assert stored == (ledger if expected is None else expected)


async def test_a_pool_no_longer_reported_takes_no_claims(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        backend = Backend(
            host="n@b", availability_zone="nova", report={}, reported_at=utcnow(), job_versions={}
        )
        session.add(backend)
        await session.flush()
        pool = Pool(
            backend_id=backend.id,
            name="p",
            allocated_gb=0,
            reported_allocated_gb=0,
            limit_gb=100,
            limit_thick_gb=100,
            present=False,
        )
        session.add(pool)
        await session.flush()
        pool_id = pool.id
    async with sessionmaker() as session, session.begin():
        assert await claims.claim(session, pool_id, 1, thin=True) is None


# --- status transitions ------------------------------------------------------------------

# status -> (delete, force delete, extend) accepted?
STATUSES: dict[str, tuple[bool, bool, bool]] = {
    "available": (True, True, True),
    "error": (True, True, False),
    "error_deleting": (True, True, False),
    "error_extending": (True, True, False),
    "error_managing": (True, True, False),
    "creating": (False, True, False),
    "deleting": (False, True, False),
    "extending": (False, True, False),
    "in-use": (False, True, False),
}


async def volume_in(
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
    status: str,
) -> str:
    await report(client, service, pools=[file_pool(total=100)])
    r = await client.post(
        f"/v3/{member.project_id}/volumes", json={"volume": {"size": 1}}, headers=member.headers()
    )
    volume_id: str = r.json()["volume"]["id"]
    await run_jobs(client, service, ["node1@file"])
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Volume).where(Volume.id == volume_id).values(status=status))
    return volume_id


async def status_of(sessionmaker: async_sessionmaker[AsyncSession], volume_id: str) -> Any:
    async with sessionmaker() as session:
        return (await session.scalars(select(Volume.status).where(Volume.id == volume_id))).first()


@pytest.mark.parametrize("status", list(STATUSES))
async def test_which_status_each_operation_accepts(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
    status: str,
) -> None:
    deletable, force_deletable, extendable = STATUSES[status]
    base = f"/v3/{member.project_id}/volumes"

    volume_id = await volume_in(client, member, service, sessionmaker, status)
    r = await client.post(
        f"{base}/{volume_id}/action", json={"os-extend": {"new_size": 2}}, headers=member.headers()
    )
    assert (r.status_code == 202) == extendable, r.text
    if not extendable:
        assert await status_of(sessionmaker, volume_id) == status  # untouched

    volume_id = await volume_in(client, member, service, sessionmaker, status)
    r = await client.delete(f"{base}/{volume_id}", headers=member.headers())
    assert (r.status_code == 202) == deletable, r.text
    assert await status_of(sessionmaker, volume_id) == ("deleting" if deletable else status)

    volume_id = await volume_in(client, member, service, sessionmaker, status)
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-force_delete": {}},
        headers=admin.headers(),
    )
    assert (r.status_code == 202) == force_deletable, r.text
