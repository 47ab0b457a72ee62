"""Group snapshots through the API (3.14), on SQLite (the tests marked both_databases on
PostgreSQL too): a snapshot of every member, all or nothing (quota and each member's
claim on its pool in one transaction), the group snapshot's status from its members'
jobs, its delete with every member, the rules that keep members and groups together,
lists, policies and reset status."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.db.models import GroupSnapshot, Snapshot
from app.volumes.kernel import quotas
from tests.api.helpers import (
    claim,
    create_group_snapshot,
    delete_group_snapshot,
    fault,
    finish,
    group_with_volumes,
    pool_ledger,
    run_jobs,
    set_quota,
    show_group_snapshot,
    snapshot_status,
    volume_action,
    volume_status,
)
from tests.conftest import Caller

HOST = "node1@file"


async def usage(app: FastAPI, caller: Caller) -> dict[str, int]:
    async with app.state.runtime.sessionmaker() as session:
        return await quotas.usage(session, caller.project_id)


async def counts(app: FastAPI) -> tuple[int, int]:
    """How many group snapshots and snapshots the database holds."""
    async with app.state.runtime.sessionmaker() as session:
        groups = await session.scalar(select(func.count()).select_from(GroupSnapshot))
        snaps = await session.scalar(select(func.count()).select_from(Snapshot))
    return int(groups or 0), int(snaps or 0)


async def snapshots_of(
    client: httpx.AsyncClient, caller: Caller, group_snapshot_id: str
) -> list[dict[str, Any]]:
    r = await client.get(
        f"/v3/{caller.project_id}/snapshots/detail", headers=caller.headers("3.14")
    )
    assert r.status_code == 200, r.text
    return [s for s in r.json()["snapshots"] if s["group_snapshot_id"] == group_snapshot_id]


def group_url(caller: Caller, group_id: str, rest: str = "") -> str:
    return f"/v3/{caller.project_id}/groups/{group_id}{rest}"


# --- create ---------------------------------------------------------------------------------


@pytest.mark.both_databases
async def test_a_group_snapshot_snapshots_every_member_on_its_pool(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, ids = await group_with_volumes(client, admin, member, service, [3, 4])
    before = await usage(app, member)
    fault(await create_group_snapshot(client, member, group_id, "3.13"), 404, "itemNotFound")
    r = await create_group_snapshot(client, member, group_id, name="gs", description="d")
    assert r.status_code == 202, r.text
    summary = r.json()["group_snapshot"]
    assert set(summary) == {"id", "name", "group_type_id"} and summary["name"] == "gs"
    gs_id = summary["id"]
    # Each member holds its size on the pool, and counts as a snapshot, as one made alone.
    assert await pool_ledger(app) == 14
    used = await usage(app, member)
    assert used["snapshots"] == before.get("snapshots", 0) + 2
    assert used["gigabytes"] == before["gigabytes"] + 7
    shown = await show_group_snapshot(client, member, gs_id)
    assert shown is not None and shown["status"] == "creating"
    assert shown["group_id"] == group_id and shown["description"] == "d"
    members = await snapshots_of(client, member, gs_id)
    assert sorted(s["volume_id"] for s in members) == sorted(ids)
    assert {s["name"] for s in members} == {"gs"}
    jobs = []
    while (job := await claim(client, service, [HOST])) is not None:
        jobs.append(job)
    assert sorted(j["kind"] for j in jobs) == ["create_snapshot", "create_snapshot"]
    assert {j["payload"]["volume"]["host"] for j in jobs} == {f"{HOST}#pool"}
    assert (await finish(client, service, jobs[0])).status_code == 200
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "creating"
    assert (await finish(client, service, jobs[1])).status_code == 200
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "available"
    assert {s["status"] for s in await snapshots_of(client, member, gs_id)} == {"available"}


async def test_a_failed_member_puts_the_group_snapshot_in_error_and_the_others_stay(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, _ = await group_with_volumes(client, admin, member, service, [3, 4])
    gs_id = (await create_group_snapshot(client, member, group_id)).json()["group_snapshot"]["id"]
    first = await claim(client, service, [HOST])
    second = await claim(client, service, [HOST])
    assert first is not None and second is not None
    assert (await finish(client, service, first, ok=False, error="no space")).status_code == 200
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "creating"
    assert (await finish(client, service, second)).status_code == 200
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "error"
    # The failed member gave its claim back; the one made stays, in the group snapshot.
    assert await snapshot_status(client, member, first["resource_id"]) == "error"
    assert await snapshot_status(client, member, second["resource_id"]) == "available"
    assert await pool_ledger(app) == 7 + second["payload"]["snapshot"]["size_gb"]
    # An error'd group snapshot deletes with all its members.
    assert (await delete_group_snapshot(client, member, gs_id)).status_code == 202
    await run_jobs(client, service, [HOST])
    assert await show_group_snapshot(client, member, gs_id) is None
    assert await counts(app) == (0, 0)
    assert await pool_ledger(app) == 7


@pytest.mark.both_databases
async def test_nothing_is_made_when_the_pool_cannot_take_every_member(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # 12 GB, 7 used: the 3 GB member's snapshot fits, the 4 GB one's no longer does.
    group_id, _ = await group_with_volumes(client, admin, member, service, [3, 4], total=12)
    before = await usage(app, member)
    message = fault(await create_group_snapshot(client, member, group_id), 400, "badRequest")
    assert "no room" in message
    assert await counts(app) == (0, 0)
    assert await pool_ledger(app) == 7
    assert await usage(app, member) == before
    assert await claim(client, service, [HOST]) is None


@pytest.mark.both_databases
async def test_concurrent_group_snapshots_never_oversubscribe_the_pool_nor_half_succeed(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # 13 GB, 4 used: room for two 4 GB group snapshots, not three; four race for it.
    group_id, _ = await group_with_volumes(client, admin, member, service, [2, 2], total=13)
    responses = await asyncio.gather(
        *(create_group_snapshot(client, member, group_id) for _ in range(4))
    )
    assert {r.status_code for r in responses} <= {202, 400}, [r.text for r in responses]
    made = sum(r.status_code == 202 for r in responses)
    assert 1 <= made <= 2
    # Each one made has both its members; a refused one left nothing behind.
    assert await counts(app) == (made, 2 * made)
    assert await pool_ledger(app) == 4 + 4 * made
    assert (await usage(app, member))["snapshots"] == 2 * made
    await run_jobs(client, service, [HOST])
    for r in responses:
        if r.status_code == 202:
            gs_id = r.json()["group_snapshot"]["id"]
            assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "available"


async def test_nothing_is_made_over_quota(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, _ = await group_with_volumes(client, admin, member, service, [1, 1])
    assert (await set_quota(client, admin, member.project_id, snapshots=1)).status_code == 200
    before = await usage(app, member)
    fault(await create_group_snapshot(client, member, group_id), 413, "overLimit")
    assert await counts(app) == (0, 0)
    assert await pool_ledger(app) == 2
    assert await usage(app, member) == before


async def test_the_group_must_be_available_and_its_members_available_or_in_use(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, ids = await group_with_volumes(client, admin, member, service, [1, 1])
    r = await volume_action(client, member, ids[0], "os-extend", {"new_size": 2})
    assert r.status_code == 202, r.text
    message = fault(await create_group_snapshot(client, member, group_id), 400, "badRequest")
    assert "available or in-use" in message
    await run_jobs(client, service, [HOST])
    r = await client.post(
        group_url(admin, group_id, "/action"),
        json={"reset_status": {"status": "error"}},
        headers=admin.headers("3.20"),
    )
    assert r.status_code == 202, r.text
    message = fault(await create_group_snapshot(client, member, group_id), 400, "badRequest")
    assert "must be available" in message
    fault(await create_group_snapshot(client, member, "no-such-group"), 404, "itemNotFound")
    r = await client.post(
        f"/v3/{member.project_id}/group_snapshots",
        json={"group_snapshot": {"name": "x"}},
        headers=member.headers("3.14"),
    )
    assert "'group_id' is a required property" in fault(r, 400, "badRequest")
    assert await counts(app) == (0, 0)


async def test_an_empty_groups_snapshot_is_available_at_once(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, _ = await group_with_volumes(client, admin, member, service, [])
    r = await create_group_snapshot(client, member, group_id)
    assert r.status_code == 202, r.text
    gs_id = r.json()["group_snapshot"]["id"]
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "available"
    assert (await delete_group_snapshot(client, member, gs_id)).status_code == 202
    assert await show_group_snapshot(client, member, gs_id) is None


# --- delete ---------------------------------------------------------------------------------


async def test_delete_takes_every_member_and_gives_everything_back(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, ids = await group_with_volumes(client, admin, member, service, [2, 3])
    before = await usage(app, member)
    gs_id = (await create_group_snapshot(client, member, group_id)).json()["group_snapshot"]["id"]
    # Not while its members are being made (Cinder: available or error only).
    assert "must be" in fault(await delete_group_snapshot(client, member, gs_id), 400, "badRequest")
    await run_jobs(client, service, [HOST])
    members = await snapshots_of(client, member, gs_id)
    # A member goes only with its group snapshot; the group goes only once its group
    # snapshots are gone; a member volume does not cascade its group snapshot away.
    r = await client.delete(
        f"/v3/{member.project_id}/snapshots/{members[0]['id']}", headers=member.headers()
    )
    assert "group snapshot" in fault(r, 400, "badRequest")
    r = await client.post(
        f"/v3/{admin.project_id}/snapshots/{members[0]['id']}/action",
        json={"os-force_delete": {}},
        headers=admin.headers(),
    )
    assert "group snapshot" in fault(r, 400, "badRequest")
    r = await client.delete(
        f"/v3/{admin.project_id}/volumes/{ids[0]}?cascade=true&force=true",
        headers=admin.headers(),
    )
    assert "group snapshot" in fault(r, 400, "badRequest")
    assert await volume_status(client, member, ids[0]) == "available"
    r = await client.post(
        group_url(member, group_id, "/action"),
        json={"delete": {"delete-volumes": True}},
        headers=member.headers("3.14"),
    )
    assert "group snapshots" in fault(r, 400, "badRequest")

    r = await delete_group_snapshot(client, member, gs_id)
    assert r.status_code == 202, r.text
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "deleting"
    assert {s["status"] for s in await snapshots_of(client, member, gs_id)} == {"deleting"}
    first = await claim(client, service, [HOST])
    assert first is not None and first["kind"] == "delete_snapshot"
    assert (await finish(client, service, first)).status_code == 200
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "deleting"
    await run_jobs(client, service, [HOST])
    assert await show_group_snapshot(client, member, gs_id) is None
    assert await counts(app) == (0, 0)
    assert await pool_ledger(app) == 5
    assert await usage(app, member) == before
    # Now the group goes, with its volumes.
    r = await client.post(
        group_url(member, group_id, "/action"),
        json={"delete": {"delete-volumes": True}},
        headers=member.headers("3.14"),
    )
    assert r.status_code == 202, r.text


async def test_a_member_that_cannot_be_deleted_stops_the_group_snapshot_in_error_deleting(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, _ = await group_with_volumes(client, admin, member, service, [1, 1])
    gs_id = (await create_group_snapshot(client, member, group_id)).json()["group_snapshot"]["id"]
    await run_jobs(client, service, [HOST])
    assert (await delete_group_snapshot(client, member, gs_id)).status_code == 202
    first = await claim(client, service, [HOST])
    second = await claim(client, service, [HOST])
    assert first is not None and second is not None
    assert (await finish(client, service, first, ok=False)).status_code == 200
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "error_deleting"
    assert (await finish(client, service, second)).status_code == 200
    assert await snapshot_status(client, member, first["resource_id"]) == "error_deleting"
    # Deleting again retries the member left, and the group snapshot goes with it.
    assert (await delete_group_snapshot(client, member, gs_id)).status_code == 202
    assert await run_jobs(client, service, [HOST]) == 1
    assert await show_group_snapshot(client, member, gs_id) is None
    assert await counts(app) == (0, 0)
    assert await pool_ledger(app) == 2


# --- lists, policies, reset status ----------------------------------------------------------


async def test_lists_show_policies_and_reset_status(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: Any,
) -> None:
    group_id, _ = await group_with_volumes(client, admin, member, service, [1])
    made = []
    for name in ("a", "b", "c"):
        r = await create_group_snapshot(client, member, group_id, name=name)
        made.append(r.json()["group_snapshot"]["id"])
    await run_jobs(client, service, [HOST])
    base = f"/v3/{member.project_id}/group_snapshots"
    h = member.headers("3.29")
    r = await client.get(base, headers=h)
    assert r.status_code == 200, r.text
    assert all(set(g) == {"id", "name"} for g in r.json()["group_snapshots"])
    r = await client.get(f"{base}/detail?sort=name:desc&limit=2", headers=h)
    body = r.json()
    assert [g["name"] for g in body["group_snapshots"]] == ["c", "b"]
    assert "marker=" in body["group_snapshots_links"][0]["href"]
    r = await client.get(f"{base}/detail?sort=name:desc&marker={made[1]}", headers=h)
    assert [g["name"] for g in r.json()["group_snapshots"]] == ["a"]
    r = await client.get(f"{base}/detail?name=b", headers=h)
    assert [g["id"] for g in r.json()["group_snapshots"]] == [made[1]]
    # Another project sees none of them, and finds none.
    other = await make_caller("other")
    r = await client.get(f"/v3/{other.project_id}/group_snapshots", headers=other.headers("3.14"))
    assert r.json()["group_snapshots"] == []
    r = await client.get(
        f"/v3/{other.project_id}/group_snapshots/{made[0]}", headers=other.headers("3.14")
    )
    fault(r, 404, "itemNotFound")
    # An admin lists every project's with all_tenants, and sees their project from 3.58.
    r = await client.get(
        f"/v3/{admin.project_id}/group_snapshots/detail?all_tenants=1",
        headers=admin.headers("3.58"),
    )
    listed = r.json()["group_snapshots"]
    assert {g["id"] for g in listed} == set(made)
    assert {g["project_id"] for g in listed} == {member.project_id}
    # reset_status: admin, 3.19, resting statuses only.
    action = f"{base}/{made[0]}/action"
    body_error = {"reset_status": {"status": "error"}}
    r = await client.post(action, json=body_error, headers=member.headers("3.19"))
    fault(r, 403, "forbidden")
    admin_action = f"/v3/{admin.project_id}/group_snapshots/{made[0]}/action"
    r = await client.post(admin_action, json=body_error, headers=admin.headers("3.18"))
    fault(r, 404, "itemNotFound")
    r = await client.post(
        admin_action, json={"reset_status": {"status": "creating"}}, headers=admin.headers("3.19")
    )
    fault(r, 400, "badRequest")
    r = await client.post(admin_action, json=body_error, headers=admin.headers("3.19"))
    assert r.status_code == 202, r.text
    assert (await show_group_snapshot(client, member, made[0]) or {})["status"] == "error"
    # A reader may look, not create or delete.
    reader = await make_caller("demo", ("reader",))
    fault(await create_group_snapshot(client, reader, group_id), 403, "forbidden")
    fault(await delete_group_snapshot(client, reader, made[0]), 403, "forbidden")
    assert await show_group_snapshot(client, reader, made[0]) is not None


# --- races ----------------------------------------------------------------------------------


@pytest.mark.both_databases
async def test_a_member_deleted_meanwhile_is_never_snapshotted_while_it_goes(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # A group snapshot and an admin's force delete of a member race: either the snapshot
    # is taken (and the volume, now with a snapshot, is not deleted) or the volume is
    # on its way (and the group snapshot is refused); never a snapshot of a volume
    # being deleted, and the ledgers stay exact.
    group_id, ids = await group_with_volumes(client, admin, member, service, [1, 2, 3])
    for victim in ids:
        made, deleted = await asyncio.gather(
            create_group_snapshot(client, member, group_id),
            client.delete(
                f"/v3/{admin.project_id}/volumes/{victim}?force=true", headers=admin.headers()
            ),
        )
        assert {made.status_code, deleted.status_code} <= {202, 400}, (made.text, deleted.text)
        assert (made.status_code == 202) != (deleted.status_code == 202), (made, deleted)
        await run_jobs(client, service, [HOST])
        if made.status_code == 202:
            assert "snapshots" in deleted.text
            gs_id = made.json()["group_snapshot"]["id"]
            assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "available"
            assert (await delete_group_snapshot(client, member, gs_id)).status_code == 202
            await run_jobs(client, service, [HOST])
        else:
            assert "status must be" in made.text
    async with app.state.runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Snapshot)) == 0


# --- a group made from a group snapshot -----------------------------------------------------


async def from_src(client: httpx.AsyncClient, caller: Caller, **args: Any) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/groups/action",
        json={"create-from-src": {"name": "copy", **args}},
        headers=caller.headers("3.14"),
    )


async def show_group(client: httpx.AsyncClient, caller: Caller, group_id: str) -> dict[str, Any]:
    query = "?list_volume=true"
    r = await client.get(group_url(caller, group_id, query), headers=caller.headers("3.25"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["group"]
    return body


async def snapshotted_group(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    total: float,
) -> tuple[str, list[str], str]:
    """A group of a 3 and a 4 GB volume and its available group snapshot: the group's
    id, its volumes' and the group snapshot's."""
    group_id, ids = await group_with_volumes(client, admin, member, service, [3, 4], total=total)
    r = await create_group_snapshot(client, member, group_id)
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [HOST])
    gs_id: str = r.json()["group_snapshot"]["id"]
    assert (await show_group_snapshot(client, member, gs_id) or {})["status"] == "available"
    assert await pool_ledger(app) == 14
    return group_id, ids, gs_id


@pytest.mark.both_databases
async def test_a_group_from_a_group_snapshot_makes_each_member_from_its_snapshot(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, _ids, gs_id = await snapshotted_group(app, client, admin, member, service, 100)
    before = await usage(app, member)
    r = await from_src(client, member, group_snapshot_id=gs_id)
    assert r.status_code == 202, r.text
    copy_id = r.json()["group"]["id"]
    # One claim of the 7 GB total, quota as for two volumes and a group.
    assert await pool_ledger(app) == 21
    used = await usage(app, member)
    assert used["volumes"] == before["volumes"] + 2
    assert used["gigabytes"] == before["gigabytes"] + 7
    assert used["groups"] == before["groups"] + 1
    shown = await show_group(client, member, copy_id)
    assert shown["status"] == "creating" and len(shown["volumes"]) == 2
    assert shown["group_snapshot_id"] == gs_id and shown["source_group_id"] is None
    source = await show_group(client, member, group_id)
    assert sorted(shown["volume_types"]) == sorted(source["volume_types"])
    # The group snapshot stays while a group is being made from it.
    r = await delete_group_snapshot(client, member, gs_id)
    assert "being created from" in fault(r, 400, "badRequest")
    jobs = []
    while (job := await claim(client, service, [HOST])) is not None:
        jobs.append(job)
    assert [j["kind"] for j in jobs] == ["create_volume_from_snapshot"] * 2
    members = {s["id"]: s for s in await snapshots_of(client, member, gs_id)}
    assert {j["payload"]["snapshot"]["id"] for j in jobs} == set(members)
    for job in jobs:
        assert job["payload"]["volume"]["host"] == f"{HOST}#pool"
        assert job["payload"]["volume"]["size_gb"] == job["payload"]["snapshot"]["size_gb"]
    ok, bad = jobs
    assert (await finish(client, service, ok)).status_code == 200
    assert (await show_group(client, member, copy_id))["status"] == "creating"
    assert (await finish(client, service, bad, ok=False, error="copy failed")).status_code == 200
    assert (await show_group(client, member, copy_id))["status"] == "error"
    r = await client.get(
        f"/v3/{member.project_id}/volumes/{ok['resource_id']}", headers=member.headers("3.13")
    )
    made = r.json()["volume"]
    assert made["status"] == "available" and made["group_id"] == copy_id
    assert made["snapshot_id"] == ok["payload"]["snapshot"]["id"]
    assert await volume_status(client, member, bad["resource_id"]) == "error"
    assert await pool_ledger(app) == 21 - bad["payload"]["volume"]["size_gb"]
    # Once the group is made, its group snapshot may go, and the copy with its volumes.
    assert (await delete_group_snapshot(client, member, gs_id)).status_code == 202
    r = await client.post(
        group_url(member, copy_id, "/action"),
        json={"delete": {"delete-volumes": True}},
        headers=member.headers("3.14"),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [HOST])
    assert await pool_ledger(app) == 7
    assert await usage(app, member) == {**before, "snapshots": 0, "gigabytes": 7}


@pytest.mark.both_databases
async def test_a_group_from_a_group_snapshot_claims_nothing_when_the_total_does_not_fit(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # 20 GB, 14 used by the volumes and their snapshots: each new volume (3, 4 GB) fits
    # in the 6 GB left, their 7 GB together do not.
    group_id, _, gs_id = await snapshotted_group(app, client, admin, member, service, 20)
    before = await usage(app, member)
    message = fault(await from_src(client, member, group_snapshot_id=gs_id), 400, "badRequest")
    assert "7 GB" in message
    assert await pool_ledger(app) == 14
    assert await usage(app, member) == before
    r = await client.get(f"/v3/{member.project_id}/groups", headers=member.headers("3.14"))
    assert [g["id"] for g in r.json()["groups"]] == [group_id]
    assert await claim(client, service, [HOST]) is None


async def test_create_from_src_takes_exactly_one_source_and_an_available_group_snapshot(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group_id, _, gs_id = await snapshotted_group(app, client, admin, member, service, 100)
    for args in ({}, {"group_snapshot_id": gs_id, "source_group_id": group_id}):
        assert "Either" in fault(await from_src(client, member, **args), 400, "badRequest")
    fault(await from_src(client, member, group_snapshot_id="nope"), 404, "itemNotFound")
    r = await client.post(
        f"/v3/{admin.project_id}/group_snapshots/{gs_id}/action",
        json={"reset_status": {"status": "error"}},
        headers=admin.headers("3.19"),
    )
    assert r.status_code == 202, r.text
    message = fault(await from_src(client, member, group_snapshot_id=gs_id), 400, "badRequest")
    assert "must be available" in message
    # A copy of a group records its source.
    r = await from_src(client, member, source_group_id=group_id)
    assert r.status_code == 202, r.text
    shown = await show_group(client, member, r.json()["group"]["id"])
    assert shown["source_group_id"] == group_id and shown["group_snapshot_id"] is None
    # An empty group's snapshot makes no group (Cinder).
    empty, _ = await group_with_volumes(client, admin, member, service, [], types="2")
    r = await create_group_snapshot(client, member, empty)
    empty_gs = r.json()["group_snapshot"]["id"]
    message = fault(await from_src(client, member, group_snapshot_id=empty_gs), 400, "badRequest")
    assert "empty" in message
