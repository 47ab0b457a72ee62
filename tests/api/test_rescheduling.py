"""A failed create is rescheduled on a backend not tried yet, with the claim moved."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db.models import Pool
from tests.api.helpers import claim, file_pool, finish, new_volume, report
from tests.api.helpers import volume_status as status_of
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases  # claims moved between pools

HOSTS = ["n1@file", "n2@file", "n3@file", "n4@file"]


async def ledgers(app: FastAPI) -> dict[int, float]:
    async with app.state.runtime.sessionmaker() as session:
        return {p.id: p.allocated_gb for p in (await session.scalars(select(Pool))).all()}


async def test_failed_creates_move_on_and_then_explain(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    for host in HOSTS:
        await report(client, service, host=host, pools=[file_pool(total=100)])
    volume_id = await new_volume(client, member, 5)
    tried: list[str] = []
    for attempt in range(app.state.runtime.settings.scheduler_max_attempts):
        job = await claim(client, service, HOSTS)
        assert job is not None and job["kind"] == "create_volume"
        assert job["backend"] not in tried
        tried.append(job["backend"])
        assert sorted((await ledgers(app)).values()) == [0, 0, 0, 5]
        r = await finish(client, service, job, ok=False, error=f"boom {attempt}")
        assert r.status_code == 200
    assert await claim(client, service, HOSTS) is None
    assert await status_of(client, member, volume_id) == "error"
    assert sorted((await ledgers(app)).values()) == [0, 0, 0, 0]
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    [message] = r.json()["messages"]
    for host, attempt in zip(tried, range(3), strict=True):
        assert f"{host}: boom {attempt}" in message["user_message"]


async def test_a_retry_that_finds_no_other_backend_says_so(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service, host="n1@file")
    volume_id = await new_volume(client, member)
    job = await claim(client, service, ["n1@file"])
    assert job is not None
    await finish(client, service, job, ok=False, error="disk on fire")
    assert await status_of(client, member, volume_id) == "error"
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    text = r.json()["messages"][0]["user_message"]
    assert "IgnoreAttemptedHostsFilter" in text and "n1@file: disk on fire" in text


async def test_different_host_hint(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service, host="n1@file", pools=[file_pool(total=1000)])
    await report(client, service, host="n2@file", pools=[file_pool(total=10)])
    first = await client.post(
        f"/v3/{member.project_id}/volumes", json={"volume": {"size": 1}}, headers=member.headers()
    )
    first_id = first.json()["volume"]["id"]
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1}, "OS-SCH-HNT:scheduler_hints": {"different_host": first_id}},
        headers=member.headers(),
    )
    assert r.status_code == 202
    jobs = [await claim(client, service, ["n1@file", "n2@file"]) for _ in range(2)]
    assert sorted(j["backend"] for j in jobs if j) == ["n1@file", "n2@file"]


async def test_every_failed_placement_has_its_leftovers_removed(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    """An agent whose lease ran out may still finish a create: each failed placement
    queues the removal of whatever it left, never of the copy the volume moved to."""
    hosts = HOSTS[:2]
    for host in hosts:
        await report(client, service, host=host, pools=[file_pool(total=100)])
    volume_id = await new_volume(client, member, 1)
    first = await claim(client, service, hosts)
    assert first is not None
    await finish(client, service, first, ok=False, error="lost the disk")
    second = await claim(client, service, hosts)
    assert second is not None and second["kind"] == "create_volume"
    removal = await claim(client, service, hosts, removals=True)
    assert removal is not None and removal["kind"] == "delete_volume_copy"
    assert removal["backend"] == first["backend"]
    assert removal["payload"]["volume"]["host"] == first["payload"]["volume"]["host"]
    assert removal["payload"]["keep"]["host"] == second["payload"]["volume"]["host"]
    await finish(client, service, removal)

    await finish(client, service, second, ok=False, error="lost that one too")
    assert await status_of(client, member, volume_id) == "error"
    last = await claim(client, service, hosts, removals=True)
    assert last is not None and last["kind"] == "delete_volume_copy"
    assert last["backend"] == second["backend"] and last["payload"]["keep"] is None
    # The removal neither blocks nor is cancelled by the volume's own delete.
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers()
    )
    assert r.status_code == 202
    assert (await finish(client, service, last)).status_code == 200
    assert await claim(client, service, hosts, removals=True) is None
