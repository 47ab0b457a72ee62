"""The job protocol, the lease reaper, and capability reports through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Backend, Job, Pool
from app.scheduler.cache import CapabilityCache
from app.volumes import reaper
from app.volumes.capacity import reports
from tests.api.helpers import (
    claim,
    expire_all_leases,
    fault,
    file_pool,
    finish,
    new_volume,
    next_seq,
    next_timestamp,
    report,
)
from tests.api.helpers import volume_status as status_of
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases  # job claims, leases and the reaper's clock


async def test_agent_endpoints_need_the_service_role(
    client: httpx.AsyncClient, member: Caller
) -> None:
    r = await client.post(
        "/agent/v1/jobs/claim",
        headers=member.headers(),
        json={"backends": ["a@b"], "wait": 0},
    )
    assert r.status_code == 403 and "forbidden" in r.json()
    r = await client.post("/agent/v1/jobs/claim", json={"backends": ["a@b"], "wait": 0})
    assert r.status_code == 401


async def test_expired_lease_is_retried_then_fails_the_volume(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    volume_id = await new_volume(client, member)
    runtime = app.state.runtime
    job: dict[str, Any] | None = None
    for attempt in range(1, runtime.settings.job_max_attempts + 1):
        job = await claim(client, service, ["node1@file"])
        assert job is not None and job["attempts"] == attempt
        await expire_all_leases(app)
        assert await reaper.reap_once(runtime) == 1
    assert await claim(client, service, ["node1@file"]) is None
    assert await status_of(client, member, volume_id) == "error"
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    [message] = r.json()["messages"]
    assert "stopped responding" in message["user_message"]
    # A late result from an agent that lost its lease changes nothing.
    assert job is not None
    r = await finish(client, service, job)
    assert r.status_code == 409 and "conflictingRequest" in r.json()


async def test_heartbeat_keeps_the_lease_and_lost_lease_is_409(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    await new_volume(client, member)
    job = await claim(client, service, ["node1@file"])
    assert job is not None
    url = f"/agent/v1/jobs/{job['id']}/heartbeat"
    r = await client.post(url, headers=service.headers(), json={"attempt": 1, "progress": 50})
    assert r.status_code == 200
    await expire_all_leases(app)
    await reaper.reap_once(app.state.runtime)
    r = await client.post(url, headers=service.headers(), json={"attempt": 1})
    assert r.status_code == 409
    again = await claim(client, service, ["node1@file"])
    assert again is not None and again["id"] == job["id"] and again["attempts"] == 2


@pytest.mark.parametrize(
    ("result", "said"),
    [
        ({"provider_location": 42}, "invalid job result: provider_location must be a string"),
        ({"provider_location": ["/x"]}, "invalid job result: provider_location must be a string"),
    ],
)
async def test_a_result_that_does_not_fit_its_kind_is_refused_and_changes_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    result: dict[str, Any],
    said: str,
) -> None:
    """A result is checked against its kind's result model before anything is recorded:
    the agent's mistake is a 400 naming what is wrong, the job stays leased and the
    agent may still post a valid result."""
    await report(client, service)
    volume_id = await new_volume(client, member)
    job = await claim(client, service, ["node1@file"])
    assert job is not None
    message = fault(await finish(client, service, job, result=result), 400, "badRequest")
    assert message == f"Job {job['id']} (create_volume): {said}."
    assert await status_of(client, member, volume_id) == "creating"
    async with app.state.runtime.sessionmaker() as session:
        stored = await session.get(Job, job["id"])
        assert stored is not None and stored.state == "running" and stored.result is None
    r = await finish(client, service, job, result={"provider_location": "/fake/v"})
    assert r.status_code == 200 and r.json() == {"state": "succeeded"}
    assert await status_of(client, member, volume_id) == "available"


async def test_older_report_is_ignored_and_smaller_total_keeps_claims(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    first = next_seq()
    newer = next_seq()
    assert (await report(client, service, pools=[file_pool(total=10)], seq=newer)) == {
        "accepted": True,
        "seq": newer,
    }
    assert (await report(client, service, pools=[file_pool(total=500)], seq=first)) == {
        "accepted": False,
        "seq": newer,
    }
    assert app.state.runtime.cache.pool("node1@file", "pool").total_capacity_gb == 10
    await new_volume(client, member, 8)
    # The backend now says it has 5 GB in all: the 8 GB stay claimed, nothing new fits.
    await report(client, service, pools=[file_pool(total=5)])
    async with app.state.runtime.sessionmaker() as session:
        pool = (await session.scalars(select(Pool))).one()
    assert pool.allocated_gb == 8
    volume_id = await new_volume(client, member, 1)
    assert await status_of(client, member, volume_id) == "error"


async def test_bad_reports_are_400(client: httpx.AsyncClient, service: Caller) -> None:
    base = {
        "host": "n@b",
        "availability_zone": "nova",
        "timestamp": next_timestamp(),
        "capabilities": {"pools": "many"},
    }
    for body in (
        base,
        {**base, "host": "nohost"},
        {**base, "timestamp": "yesterday"},
        {**base, "capabilities": {"pools": [{"total_capacity_gb": 1}]}},
        {**base, "capabilities": {"pools": [file_pool("a"), file_pool("a")]}},
    ):
        r = await client.post("/agent/v1/capabilities", json=body, headers=service.headers())
        assert r.status_code == 400, (body, r.text)


async def test_admin_views_of_backends(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service, zone="az9", pools=[file_pool("p1"), file_pool("p2")])
    r = await client.get(
        f"/v3/{member.project_id}/scheduler-stats/get_pools", headers=member.headers()
    )
    assert r.status_code == 403
    r = await client.get(
        f"/v3/{admin.project_id}/scheduler-stats/get_pools?detail=true", headers=admin.headers()
    )
    pools = {p["name"]: p["capabilities"] for p in r.json()["pools"]}
    assert set(pools) == {"node1@file#p1", "node1@file#p2"}
    assert pools["node1@file#p1"]["total_capacity_gb"] == 100
    r = await client.get(f"/v3/{admin.project_id}/os-services", headers=admin.headers())
    [svc] = r.json()["services"]
    assert svc["host"] == "node1@file" and svc["state"] == "up" and svc["zone"] == "az9"
    r = await client.get(f"/v3/{admin.project_id}/capabilities/node1@file", headers=admin.headers())
    assert r.status_code == 200 and r.json()["vendor_name"] == "Pumice"
    r = await client.get(f"/v3/{member.project_id}/os-availability-zone", headers=member.headers())
    assert r.json()["availabilityZoneInfo"] == [
        {"zoneName": "az9", "zoneState": {"available": True}}
    ]
    # A volume asked for in that zone lands there.
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1, "availability_zone": "az9"}},
        headers=member.headers(),
    )
    assert r.json()["volume"]["availability_zone"] == "az9"


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


async def test_a_report_with_auto_ratio_and_free_above_total_is_never_a_500(
    client: httpx.AsyncClient, service: Caller
) -> None:
    body = {
        "host": "node1@file",
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
    directory = reports.PoolDirectory()
    await reports.refresh(sessionmaker, fresh, directory)
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
        "host": "node1@file",
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
