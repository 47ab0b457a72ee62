"""Third review: snapshots, groups, migration and their shared wiring. Each test states an
invariant an earlier version broke."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.context import RequestContext
from app.errors import BadRequest
from app.volumes import groups
from app.volumes import volumes as vflows
from tests.api.helpers import claim, finish, run_jobs
from tests.api.test_backups import BACKUP_HOST, available_volume, create_backup, register
from tests.api.test_groups import (
    BACKENDS,
    FAST,
    create_volume,
    from_source,
    ledger,
    new_group,
    setup_backends,
    source_group,
    volume,
)
from tests.api.test_groups import show as show_group
from tests.api.test_migration import A, B, ledgers, migrate, show, two_backends, volume_on
from tests.api.test_retype import make_type
from tests.conftest import Caller


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


async def test_a_group_delete_sees_a_member_that_joined_while_it_waited(
    db_url: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite locks the whole database")
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    r = await create_volume(client, member, 1, "fast", group["id"])
    first = r.json()["volume"]["id"]
    await run_jobs(client, service, BACKENDS)
    runtime = app.state.runtime
    ctx = RequestContext(user_id=member.user_id, project_id=member.project_id)
    joined = asyncio.Event()
    late: list[str] = []
    refused: list[BaseException] = []

    async def join() -> None:  # a volume created in the group, committed late
        async with runtime.sessionmaker() as session, session.begin():
            spec = vflows.CreateVolume(size=1, volume_type="fast", group_id=group["id"])
            volume, _ = await vflows.create(session, runtime, ctx, spec)
            late.append(volume.id)
            joined.set()
            await asyncio.sleep(0.5)  # the delete has read the members and waits on the group

    async def delete() -> None:
        await joined.wait()
        try:
            async with runtime.sessionmaker() as session, session.begin():
                await groups.delete(session, runtime, ctx, group["id"], delete_volumes=True)
        except BadRequest as exc:  # refused is fine: nothing half done
            refused.append(exc)

    await asyncio.wait_for(asyncio.gather(join(), delete()), 30)
    statuses = {i: (await volume(client, member, i))["status"] for i in (first, *late)}
    shown = await show_group(client, member, group["id"])
    if refused:
        assert shown["status"] == "available"
        assert statuses[first] == "available", statuses
    else:
        # Every member is on its way, or the last delete would never take the group along.
        assert shown["status"] == "deleting"
        assert all(s in ("deleting", "error") for s in statuses.values()), statuses


async def test_a_cascade_that_fails_in_a_deleting_group_stops_the_group_too(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # A member waits in 'deleting' for its snapshots (a cascade) while its group is being
    # deleted; the snapshot's delete fails. The member stops in error_deleting, and so
    # must the group, or it waits in 'deleting' forever (a delete of a group in
    # 'deleting' is refused).
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    r = await create_volume(client, member, 1, "fast", group["id"])
    volume_id = r.json()["volume"]["id"]
    await run_jobs(client, service, BACKENDS)
    r = await client.post(
        f"/v3/{member.project_id}/snapshots",
        json={"snapshot": {"volume_id": volume_id}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, BACKENDS)
    # Only an admin's force delete takes a member out on its own (Cinder's rule).
    r = await client.delete(
        f"/v3/{admin.project_id}/volumes/{volume_id}?cascade=true&force=true",
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    r = await client.post(
        f"/v3/{member.project_id}/groups/{group['id']}/action",
        json={"delete": {"delete-volumes": True}},
        headers=member.headers("3.14"),
    )
    assert r.status_code == 202, r.text
    assert (await show_group(client, member, group["id"]))["status"] == "deleting"

    job = await claim(client, service, BACKENDS)
    assert job is not None and job["kind"] == "delete_snapshot"
    assert (await finish(client, service, job, ok=False)).status_code == 200
    assert (await volume(client, member, volume_id))["status"] == "error_deleting"
    assert (await show_group(client, member, group["id"]))["status"] == "error_deleting"


async def test_a_volume_being_cloned_is_not_migrated(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # A source taken out of its group while its clone is queued could be migrated, and
    # the old copy's removal then deleted the file the clone job was about to read.
    group, ids = await source_group(app, client, admin, member, service, both_total=20)
    assert (await from_source(client, member, group["id"])).status_code == 202
    r = await client.put(
        f"/v3/{member.project_id}/groups/{group['id']}",
        json={"group": {"remove_volumes": ids[0]}},
        headers=member.headers("3.14"),
    )
    assert r.status_code == 202, r.text
    r = await migrate(client, admin, ids[0], host=f"{FAST}#fast")
    assert r.status_code == 400, r.text
    assert "being cloned" in r.text
    assert await ledger(app, FAST) == 0


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
    await two_backends(client, service)
    await make_type(client, admin, "ssd", {"disk_type": "ssd"})
    await make_type(client, admin, "hdd", {"disk_type": "hdd"})
    volume_id = await volume_on(client, admin, member, service, "ssd", 2)
    r = await client.post(
        f"/v3/{member.project_id}/volumes/{volume_id}/action",
        json={"os-retype": {"new_type": "hdd", "migration_policy": "on-demand"}},
        headers=member.headers(),
    )
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


async def test_no_reset_of_a_volume_or_snapshot_a_backup_is_reading(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # The backup's job is the backup's, not the volume's: a reset found no job in flight
    # and let the volume (or snapshot) be deleted, extended or backed up again while the
    # first backup still read it, whose end then put a second backup's source back.
    volume_id = await available_volume(client, member, service)
    assert (await register(client, service)).status_code == 200
    assert (await create_backup(client, member, volume_id)).status_code == 202
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert r.status_code == 400, r.text
    assert "backup" in r.text
    assert (await run_jobs(client, service, [BACKUP_HOST])) == 1

    r = await client.post(
        f"/v3/{member.project_id}/snapshots",
        json={"snapshot": {"volume_id": volume_id}},
        headers=member.headers(),
    )
    snapshot_id = r.json()["snapshot"]["id"]
    await run_jobs(client, service, ["node1@file"])
    r = await create_backup(client, member, volume_id, snapshot_id=snapshot_id)
    assert r.status_code == 202, r.text
    r = await client.post(
        f"/v3/{admin.project_id}/snapshots/{snapshot_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert r.status_code == 400, r.text
    assert "backup" in r.text
    # The volume itself is not read by that backup: it may be reset.
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text


async def test_a_group_copy_sees_a_member_that_joined_while_it_waited(
    db_url: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
) -> None:
    # The copy locks the members, then the group; a volume that joined in between was
    # neither copied nor checked (it is still 'creating'): the copy must refuse.
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite locks the whole database")
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    await create_volume(client, member, 1, "fast", group["id"])
    await run_jobs(client, service, BACKENDS)
    runtime = app.state.runtime
    ctx = RequestContext(user_id=member.user_id, project_id=member.project_id)
    joined = asyncio.Event()
    outcome: list[object] = []

    async def join() -> None:
        async with runtime.sessionmaker() as session, session.begin():
            spec = vflows.CreateVolume(size=1, volume_type="fast", group_id=group["id"])
            await vflows.create(session, runtime, ctx, spec)
            joined.set()
            await asyncio.sleep(0.5)  # the copy has read the members and waits on the group

    async def copy() -> None:
        await joined.wait()
        try:
            async with runtime.sessionmaker() as session, session.begin():
                outcome.append(
                    await groups.create_from_source(session, runtime, ctx, group["id"], "c", None)
                )
        except BadRequest as exc:
            outcome.append(exc)

    await asyncio.wait_for(asyncio.gather(join(), copy()), 30)
    [result] = outcome
    assert isinstance(result, BadRequest), result
    assert "changed its volumes" in result.message


async def test_a_group_copy_is_creating_until_its_clones_end(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # Cinder shows a group created from a source as 'creating' until its volumes are made;
    # a clone force-deleted meanwhile (its job cancelled) must not leave it there forever.
    group, _ids = await source_group(app, client, admin, member, service, both_total=40)
    r = await from_source(client, member, group["id"])
    assert r.status_code == 202, r.text
    copy_id = r.json()["group"]["id"]
    assert (await show_group(client, member, copy_id))["status"] == "creating"
    first = await claim(client, service, BACKENDS)
    assert first is not None and first["kind"] == "clone_volume"
    await finish(client, service, first, result={"provider_location": "/c"})
    assert (await show_group(client, member, copy_id))["status"] == "creating"
    second = await claim(client, service, BACKENDS)
    assert second is not None and second["kind"] == "clone_volume"
    r = await client.delete(
        f"/v3/{admin.project_id}/volumes/{second['resource_id']}?force=true",
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, BACKENDS)
    assert (await show_group(client, member, copy_id))["status"] == "error"

    # Every clone made: available.
    r = await from_source(client, member, group["id"])
    assert r.status_code == 202, r.text
    again = r.json()["group"]["id"]
    await run_jobs(client, service, BACKENDS)
    assert (await show_group(client, member, again))["status"] == "available"
