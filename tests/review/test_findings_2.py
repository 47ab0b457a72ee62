"""Second review: defects found in the review fixes, the store and the claim guard.
Each test states an invariant an earlier version broke."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.context import RequestContext
from app.db.models import Backend
from app.scheduler import store
from app.scheduler.cache import CapabilityCache
from app.volumes import jobs, results
from app.volumes import volumes as flows
from tests.api.helpers import claim, file_pool, next_timestamp, report
from tests.conftest import Caller

HOST = "node1@file"


async def test_force_delete_and_result_do_not_deadlock(
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
    job = await claim(client, service, [HOST])
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
                await results._volume(session, done)  # job, then volume
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


def _auto_mosr_pool(**extra: Any) -> dict[str, Any]:
    # 'auto' ratio with free = total + 1: 1 + prov / (total - free + 1) divides by zero.
    return file_pool(
        total=100.0,
        thin=True,
        mosr="auto",
        provisioned_capacity_gb=5.0,
        free_capacity_gb=101.0,
        **extra,
    )


async def test_report_with_auto_ratio_and_free_above_total_is_400_not_500(
    client: httpx.AsyncClient, service: Caller
) -> None:
    body = {
        "host": HOST,
        "availability_zone": "nova",
        "timestamp": next_timestamp(),
        "capabilities": {
            "volume_backend_name": "file",
            "storage_protocol": "file",
            "pools": [_auto_mosr_pool()],
        },
    }
    r = await client.post("/agent/v1/capabilities", json=body, headers=service.headers())
    assert r.status_code in (200, 400), r.text


async def test_one_bad_stored_report_does_not_wedge_the_refresh(
    client: httpx.AsyncClient,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await report(client, service, host="node2@file", pools=[file_pool(total=100)])
    # A row written by an older release whose checks were looser.
    async with sessionmaker() as session, session.begin():
        session.add(
            Backend(
                host="node0@old",
                availability_zone="nova",
                report={"volume_backend_name": "old", "pools": [_auto_mosr_pool()]},
                reported_at=datetime(2026, 1, 1),
                heard_at=datetime(2026, 1, 1),
                agent_id="node0",
                job_versions={},
            )
        )
    fresh = CapabilityCache()
    directory = store.PoolDirectory()
    await store.refresh(sessionmaker, fresh, directory)
    assert fresh.pool("node2@file", "pool") is not None
    assert directory.id_of("node2@file#pool") is not None


async def test_legacy_report_pool_is_known_to_both_store_and_cache(
    app: FastAPI,
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
) -> None:
    caps = {
        "volume_backend_name": "file",
        "storage_protocol": "file",
        **file_pool(name="legacy", total=100.0),
    }
    body = {
        "host": HOST,
        "availability_zone": "nova",
        "timestamp": next_timestamp(),
        "capabilities": caps,
    }
    r = await client.post("/agent/v1/capabilities", json=body, headers=service.headers())
    assert r.status_code == 200, r.text
    runtime = app.state.runtime
    keys = [p.key for p in runtime.cache.pools()]
    assert keys and all(runtime.pools.id_of(k) is not None for k in keys), (
        keys,
        runtime.pools.ids,
    )
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    r = await client.get(f"/v3/{member.project_id}/volumes/{vid}", headers=member.headers())
    assert r.json()["volume"]["status"] == "creating", r.text
