"""os-migrate_volume and retype by migration: the scheduler checks or picks the target,
the target pool is claimed while the agent copies, and the result moves the volume (or,
on failure, leaves it where it was) with every claim exact."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Job
from tests.api.helpers import (
    claim,
    create_volume,
    file_pool,
    finish,
    ledgers,
    make_type,
    migrate,
    report,
    retype,
    run_jobs,
    volume_action,
)
from tests.api.helpers import show_volume as show
from tests.conftest import Caller, MakeCaller

pytestmark = pytest.mark.both_databases  # claims on two pools, copies removed in order

A, B = "n1@a", "n1@b"


async def two_backends(client: httpx.AsyncClient, service: Caller) -> None:
    await report(client, service, host=A, pools=[file_pool(disk_type="ssd")])
    await report(client, service, host=B, pools=[file_pool(disk_type="hdd")])


async def volume_on(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller, vtype: str, size: int
) -> str:
    r = await create_volume(client, member, size, volume_type=vtype)
    assert r.status_code == 202, r.text
    volume_id: str = r.json()["volume"]["id"]
    await run_jobs(client, service, [A, B])
    return volume_id


async def ssd_volume(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller, size: int
) -> str:
    """A volume of type "ssd" on A, with "hdd" (B's disks) to retype it to."""
    await two_backends(client, service)
    await make_type(client, admin, "ssd", {"disk_type": "ssd"})
    await make_type(client, admin, "hdd", {"disk_type": "hdd"})
    return await volume_on(client, admin, member, service, "ssd", size)


async def test_migrate_moves_the_volume_and_its_claim(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await two_backends(client, service)
    await make_type(client, admin, "ssd", {"disk_type": "ssd"})
    await make_type(client, admin, "any", {})
    volume_id = await volume_on(client, admin, member, service, "ssd", 3)
    assert (await show(client, admin, volume_id))["os-vol-host-attr:host"] == f"{A}#pool"
    # The source's type asks for ssd: B (hdd) cannot take it as it is.
    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 400 and "CapabilitiesFilter" in r.text
    r = await retype(client, member, volume_id, new_type="any")
    assert r.status_code == 202

    r = await migrate(client, member, volume_id, host=f"{B}#pool")
    assert r.status_code == 403
    r = await migrate(client, admin, volume_id, host=f"{A}#pool")
    assert r.status_code == 400 and "different" in r.text
    r = await migrate(client, admin, volume_id, host="n9@nowhere#pool")
    assert r.status_code == 400
    r = await migrate(client, admin, volume_id)
    assert r.status_code == 400 and "host" in r.text

    r = await migrate(client, admin, volume_id, host=B, force_host_copy=True)
    assert r.status_code == 202, r.text
    volume = await show(client, admin, volume_id)
    assert volume["status"] == "maintenance"
    assert volume["os-vol-mig-status-attr:migstat"] == "migrating"
    assert await ledgers(sessionmaker) == {A: 3, B: 3}
    # Locked while it moves: no delete, no second migration, no extend, no reset.
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers()
    )
    assert r.status_code == 400
    assert (await migrate(client, admin, volume_id, host=B)).status_code == 400
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "available"})
    assert r.status_code == 400

    job = await claim(client, service, [A, B])
    assert job is not None and job["kind"] == "migrate_volume" and job["backend"] == B
    assert job["payload"]["volume"]["host"] == f"{A}#pool"
    assert job["payload"]["target"]["host"] == f"{B}#pool"
    r = await finish(client, service, job, result={"provider_location": "/b/v"})
    assert r.status_code == 200, r.text

    volume = await show(client, admin, volume_id)
    assert volume["status"] == "available"
    assert volume["os-vol-host-attr:host"] == f"{B}#pool"
    assert volume["os-vol-mig-status-attr:migstat"] == "success"
    assert volume["id"] == volume_id
    assert await ledgers(sessionmaker) == {A: 0, B: 3}
    # The old copy is removed by the source's agent.
    cleanup = await claim(client, service, [A, B], removals=True)
    assert cleanup is not None and cleanup["kind"] == "delete_volume_copy"
    assert cleanup["backend"] == A and cleanup["payload"]["volume"]["host"] == f"{A}#pool"
    assert cleanup["payload"]["keep"]["host"] == f"{B}#pool"
    assert (await finish(client, service, cleanup)).status_code == 200
    # The member sees no migration internals.
    r = await client.get(f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers())
    assert "os-vol-host-attr:host" not in r.json()["volume"]
    assert "os-vol-mig-status-attr:migstat" not in r.json()["volume"]

    # Deleting now happens on the new backend.
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers()
    )
    assert r.status_code == 202
    job = await claim(client, service, [A, B])
    assert job is not None and job["kind"] == "delete_volume" and job["backend"] == B
    await finish(client, service, job)
    assert await ledgers(sessionmaker) == {A: 0, B: 0}


async def test_a_failed_copy_leaves_the_volume_where_it_was(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await two_backends(client, service)
    await make_type(client, admin, "ssd", {"disk_type": "ssd"})
    volume_id = await volume_on(client, admin, member, service, "ssd", 2)
    # Without a host (3.16) the scheduler picks; the type forbids B, so nothing fits.
    r = await migrate(client, admin, volume_id, version="3.16")
    assert r.status_code == 400 and "No valid backend" in r.text
    await make_type(client, admin, "any", {})
    assert (await retype(client, member, volume_id, new_type="any")).status_code == 202
    r = await migrate(client, admin, volume_id, version="3.16")
    assert r.status_code == 202, r.text
    assert await ledgers(sessionmaker) == {A: 2, B: 2}

    job = await claim(client, service, [A, B])
    assert job is not None and job["backend"] == B
    r = await finish(client, service, job, ok=False, error="disk full on b")
    assert r.status_code == 200

    volume = await show(client, admin, volume_id)
    assert volume["status"] == "available"
    assert volume["os-vol-host-attr:host"] == f"{A}#pool"
    assert volume["os-vol-mig-status-attr:migstat"] == "error"
    assert await ledgers(sessionmaker) == {A: 2, B: 0}
    cleanup = await claim(client, service, [A, B], removals=True)
    assert cleanup is not None and cleanup["kind"] == "delete_volume_copy"
    assert cleanup["backend"] == B and cleanup["payload"]["keep"]["host"] == f"{A}#pool"
    r = await client.get(f"/v3/{admin.project_id}/messages", headers=admin.headers("3.3"))
    texts = [m["user_message"] for m in r.json()["messages"]]
    assert any("migrate volume" in t and "disk full on b" in t for t in texts), texts
    # The cleanup is not the volume's business: it neither blocks a reset nor a delete.
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "available"})
    assert r.status_code == 202, r.text
    # It may migrate again once the old copy is gone.
    assert (await finish(client, service, cleanup)).status_code == 200
    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 202, r.text


async def test_target_must_have_room_and_an_agent_that_can_copy(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Only A exists when the volume is made, so it lands there.
    await report(client, service, host=A, pools=[file_pool()])
    await make_type(client, admin, "any", {})
    volume_id = await volume_on(client, admin, member, service, "any", 5)
    assert (await show(client, admin, volume_id))["os-vol-host-attr:host"] == f"{A}#pool"
    await report(client, service, host=B, pools=[file_pool(total=2)])
    other_agent = await make_caller("service", ("service",), user_name="agent2")
    await report(client, other_agent, host="n2@c", pools=[file_pool()])
    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 400 and "CapacityFilter" in r.text
    # Another agent's pool, whose agent does not know the kinds of a copy between agents.
    r = await migrate(client, admin, volume_id, host="n2@c#pool")
    assert r.status_code == 400 and "cannot export a volume for a copy" in r.text
    assert await ledgers(sessionmaker) == {A: 5, B: 0, "n2@c": 0}
    async with sessionmaker() as session:
        kinds = (await session.scalars(select(Job.kind).where(Job.state == "pending"))).all()
    assert kinds == []


async def test_retype_on_demand_migrates_then_changes_the_type(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await ssd_volume(client, admin, member, service, 4)
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="never")
    assert r.status_code == 400
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    assert r.status_code == 202, r.text
    volume = await show(client, admin, volume_id)
    assert volume["status"] == "retyping" and volume["volume_type"] == "ssd"
    job = await claim(client, service, [A, B])
    assert job is not None and job["kind"] == "migrate_volume" and job["backend"] == B
    await finish(client, service, job, result={"provider_location": "/b/v"})
    volume = await show(client, admin, volume_id)
    assert volume["status"] == "available"
    assert volume["volume_type"] == "hdd"
    assert volume["os-vol-host-attr:host"] == f"{B}#pool"
    assert await ledgers(sessionmaker) == {A: 0, B: 4}


async def test_no_migration_while_an_old_copy_is_still_being_removed(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # A failed copy to B queues the removal of B's copy. A new migration to B while that
    # removal is queued (or retried) would let it delete the volume's new, live copy on B:
    # the agent runs several jobs at once, and the removal names only B's file.
    await two_backends(client, service)
    await make_type(client, admin, "any", {})
    volume_id = await volume_on(client, admin, member, service, "any", 2)
    assert (await show(client, admin, volume_id))["os-vol-host-attr:host"] == f"{A}#pool"
    assert (await migrate(client, admin, volume_id, host=f"{B}#pool")).status_code == 202
    job = await claim(client, service, [A, B])
    assert job is not None and job["kind"] == "migrate_volume"
    assert (await finish(client, service, job, ok=False)).status_code == 200

    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 400, r.text
    assert "copy" in r.text
    assert await ledgers(sessionmaker) == {A: 2, B: 0}

    cleanup = await claim(client, service, [A, B], removals=True)
    assert cleanup is not None and cleanup["kind"] == "delete_volume_copy"
    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 400, r.text  # still running: it may yet be retried
    assert (await finish(client, service, cleanup)).status_code == 200

    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 202, r.text
    assert await ledgers(sessionmaker) == {A: 2, B: 2}


async def test_a_type_a_volume_is_being_retyped_to_is_in_use(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The new type is only in the migrate job until the copy is done: deleting it then
    # made the job's result fail on the volume's foreign key (500 to the agent, the copy
    # redone until the attempts ran out), instead of a clear 400 up front.
    volume_id = await ssd_volume(client, admin, member, service, 2)
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    assert r.status_code == 202, r.text
    types = await client.get(f"/v3/{admin.project_id}/types", headers=admin.headers())
    hdd = next(t["id"] for t in types.json()["volume_types"] if t["name"] == "hdd")
    r = await client.delete(f"/v3/{admin.project_id}/types/{hdd}", headers=admin.headers())
    assert r.status_code == 400, r.text

    job = await claim(client, service, [A, B])
    assert job is not None and job["kind"] == "migrate_volume"
    r = await finish(client, service, job, result={"provider_location": "/b/v"})
    assert r.status_code == 200, r.text
    shown = await show(client, admin, volume_id)
    assert shown["volume_type"] == "hdd" and shown["status"] == "available"
    assert await ledgers(sessionmaker) == {A: 0, B: 2}
