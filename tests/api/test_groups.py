"""Generic volume groups through the API, on SQLite (the tests marked both_databases on
PostgreSQL too): placement on the one pool that satisfies every volume type (the
scheduler's create_group), volumes created in a group, membership updates, delete with
and without its volumes, quotas, policies, and create from a source group with its
all-or-nothing claim of the total size."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.context import RequestContext
from app.db.models import Backend, Group, Pool, Volume
from app.errors import BadRequest
from app.volumes import reaper
from app.volumes.groups import flows as groups
from app.volumes.kernel import quotas
from app.volumes.volumes import flows as vflows
from tests.api.helpers import (
    claim,
    expire_all_leases,
    fault,
    file_pool,
    finish,
    make_group_type,
    make_type,
    migrate,
    report,
    run_jobs,
    volume_action,
)
from tests.conftest import Caller, MakeCaller

V = "3.14"
FAST, SLOW, BOTH = "node1@fast", "node1@slow", "node1@both"
BACKENDS = [FAST, SLOW, BOTH]


def url(caller: Caller, rest: str = "") -> str:
    return f"/v3/{caller.project_id}/groups{rest}"


async def setup_backends(
    client: httpx.AsyncClient, admin: Caller, service: Caller, both_total: float = 20.0
) -> None:
    """Three backends: 'fast' (tier fast), 'slow' (replication), 'both' (the only one
    with both, and the smallest, so the capacity weigher alone would never pick it)."""
    await report(client, service, FAST, [file_pool("fast", 100, tier="fast")])
    await report(client, service, SLOW, [file_pool("slow", 100, tier="slow", replication=True)])
    await report(
        client, service, BOTH, [file_pool("both", both_total, tier="fast", replication=True)]
    )
    await make_type(client, admin, "fast", extra_specs={"tier": "fast"})
    await make_type(client, admin, "replicated", extra_specs={"replication": "<is> True"})


async def create_group(
    client: httpx.AsyncClient,
    caller: Caller,
    group_type: str,
    volume_types: list[str],
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        url(caller),
        json={"group": {"group_type": group_type, "volume_types": volume_types, **extra}},
        headers=caller.headers(V),
    )


async def new_group(
    client: httpx.AsyncClient, admin: Caller, caller: Caller, types: list[str] | None = None
) -> dict[str, Any]:
    gtype = await make_group_type(client, admin, f"gt-{len(types or [])}-{caller.project_id}")
    r = await create_group(client, caller, gtype["id"], types or ["fast", "replicated"], name="g")
    assert r.status_code == 202, r.text
    return await show(client, caller, r.json()["group"]["id"])


async def show(client: httpx.AsyncClient, caller: Caller, group_id: str) -> dict[str, Any]:
    r = await client.get(
        url(caller, f"/{group_id}?list_volume=true"), headers=caller.headers("3.25")
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["group"]
    return body


async def create_volume(
    client: httpx.AsyncClient, caller: Caller, size: int, vtype: str, group_id: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"size": size, "volume_type": vtype}
    if group_id:
        body["group_id"] = group_id
    return await client.post(
        f"/v3/{caller.project_id}/volumes", json={"volume": body}, headers=caller.headers(V)
    )


async def volume(client: httpx.AsyncClient, caller: Caller, volume_id: str) -> dict[str, Any]:
    r = await client.get(f"/v3/{caller.project_id}/volumes/{volume_id}", headers=caller.headers(V))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["volume"]
    return body


async def group_row(app: FastAPI, group_id: str) -> Group | None:
    async with app.state.runtime.sessionmaker() as session:
        found: Group | None = await session.get(Group, group_id)
        return found


async def ledger(app: FastAPI, host: str) -> float:
    async with app.state.runtime.sessionmaker() as session:
        allocated = await session.scalar(
            select(Pool.allocated_gb).join(Backend).where(Backend.host == host)
        )
    return float(allocated or 0.0)


async def usage(app: FastAPI, caller: Caller) -> dict[str, int]:
    async with app.state.runtime.sessionmaker() as session:
        return await quotas.usage(session, caller.project_id)


async def volume_count(app: FastAPI) -> int:
    async with app.state.runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Volume)) or 0)


async def action(
    client: httpx.AsyncClient, caller: Caller, group_id: str, body: dict[str, Any], v: str = V
) -> httpx.Response:
    return await client.post(
        url(caller, f"/{group_id}/action"), json=body, headers=caller.headers(v)
    )


# --- placement --------------------------------------------------------------------------------


async def test_group_lands_on_the_one_pool_that_satisfies_every_type(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_backends(client, admin, service)
    gtype = await make_group_type(client, admin, "generic")
    r = await create_group(
        client, member, "generic", ["fast", "replicated"], name="g1", description="d"
    )
    assert r.status_code == 202, r.text
    created = r.json()["group"]
    assert set(created) == {"id", "name"} and created["name"] == "g1"
    group = await show(client, member, created["id"])
    assert group["status"] == "available" and group["availability_zone"] == "nova"
    assert group["group_type"] == gtype["id"] and group["description"] == "d"
    assert len(group["volume_types"]) == 2 and group["volumes"] == []
    row = await group_row(app, created["id"])
    assert row is not None and row.host == f"{BOTH}#both"
    assert (await usage(app, member))["groups"] == 1
    # A group of one type goes where that type alone would (the biggest pool).
    r = await create_group(client, member, "generic", ["replicated"])
    row = await group_row(app, r.json()["group"]["id"])
    assert row is not None and row.host == f"{SLOW}#slow"
    # Lists: summary and detail, the caller's only.
    r = await client.get(url(member), headers=member.headers(V))
    assert sorted(g["name"] or "" for g in r.json()["groups"]) == ["", "g1"]
    assert set(r.json()["groups"][0]) == {"id", "name"}
    r = await client.get(url(member, "/detail?name=g1"), headers=member.headers(V))
    assert [g["status"] for g in r.json()["groups"]] == ["available"]
    assert "volumes" not in r.json()["groups"][0]


async def test_volumes_created_in_a_group_land_on_its_pool(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
) -> None:
    await setup_backends(client, admin, service, both_total=5)
    group = await new_group(client, admin, member)
    r = await create_volume(client, member, 2, "fast", group["id"])
    assert r.status_code == 202, r.text
    in_group = r.json()["volume"]
    assert in_group["group_id"] == group["id"]
    outside = (await create_volume(client, member, 2, "fast")).json()["volume"]
    job = await claim(client, service, BACKENDS)
    assert job is not None and job["resource_id"] == in_group["id"]
    assert job["backend"] == BOTH and job["payload"]["volume"]["host"] == f"{BOTH}#both"
    assert (await finish(client, service, job)).status_code == 200
    await run_jobs(client, service, BACKENDS)
    assert (await volume(client, member, in_group["id"]))["status"] == "available"
    assert (await volume(client, admin, outside["id"]))["os-vol-host-attr:host"] == f"{FAST}#fast"
    assert (await show(client, member, group["id"]))["volumes"] == [in_group["id"]]
    r = await client.get(
        f"/v3/{member.project_id}/volumes?group_id={group['id']}", headers=member.headers("3.10")
    )
    assert [v["id"] for v in r.json()["volumes"]] == [in_group["id"]]
    assert await ledger(app, BOTH) == 2
    # The group's pool cannot take 4 GB more: the volume errs, nothing goes elsewhere.
    r = await create_volume(client, member, 4, "fast", group["id"])
    assert r.status_code == 202, r.text
    too_big = await volume(client, member, r.json()["volume"]["id"])
    assert too_big["status"] == "error"
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    texts = [m["user_message"] for m in r.json()["messages"] if m["resource_uuid"] == too_big["id"]]
    assert texts and "No valid backend was found" in texts[0]
    assert await ledger(app, BOTH) == 2 and await ledger(app, FAST) == 2
    # A type that is not the group's, a group of another project, below 3.13.
    r = await create_volume(client, member, 1, "__DEFAULT__", group["id"])
    fault(r, 400, "badRequest")
    other = await make_caller("other")
    fault(await create_volume(client, other, 1, "fast", group["id"]), 404, "itemNotFound")
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1, "volume_type": "fast", "group_id": group["id"]}},
        headers=member.headers("3.12"),
    )
    assert r.status_code == 202 and "group_id" not in r.json()["volume"]
    assert (await volume(client, member, r.json()["volume"]["id"]))["group_id"] is None


async def test_no_pool_satisfies_every_type_or_the_group_specs(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_backends(client, admin, service)
    await make_type(client, admin, "slow", extra_specs={"tier": "slow"})
    await make_group_type(client, admin, "generic")
    await make_group_type(
        client,
        admin,
        "consistent",
        group_specs={"consistent_group_snapshot_enabled": "<is> True"},
    )
    for gtype, types in (("generic", ["fast", "slow"]), ("consistent", ["fast"])):
        r = await create_group(client, member, gtype, types)
        assert r.status_code == 202, r.text
        group = await show(client, member, r.json()["group"]["id"])
        assert group["status"] == "error"
        r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
        found = [m for m in r.json()["messages"] if m["resource_uuid"] == group["id"]]
        assert len(found) == 1 and found[0]["resource_type"] == "GROUP"
        assert "No valid backend was found" in found[0]["user_message"]
        assert (await usage(app, member))["groups"] == 0
        # An errored group is deleted at once, its quota already given back.
        r = await action(client, member, group["id"], {"delete": {}})
        assert r.status_code == 202, r.text
        assert await group_row(app, group["id"]) is None
        assert (await usage(app, member))["groups"] == 0
    assert "group specs: 0" in found[0]["user_message"]


async def test_bad_requests_and_quota(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_backends(client, admin, service)
    await make_group_type(client, admin, "generic")
    for body in (
        {"group_type": "generic"},
        {"group_type": "generic", "volume_types": []},
        {"group_type": "generic", "volume_types": [1]},
        {"volume_types": ["fast"]},
    ):
        r = await client.post(url(member), json={"group": body}, headers=member.headers(V))
        fault(r, 400, "badRequest")
    fault(await create_group(client, member, "nope", ["fast"]), 404, "itemNotFound")
    fault(await create_group(client, member, "generic", ["nope"]), 404, "itemNotFound")
    r = await create_group(client, member, "generic", ["fast"], availability_zone="mars")
    fault(r, 400, "badRequest")
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{member.project_id}",
        json={"quota_set": {"groups": 1}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    assert (await create_group(client, member, "generic", ["fast"])).status_code == 202
    fault(await create_group(client, member, "generic", ["fast"]), 413, "overLimit")
    assert (await usage(app, member))["groups"] == 1
    r = await client.get(url(member), headers=member.headers("3.12"))
    fault(r, 404, "itemNotFound")


# --- update -----------------------------------------------------------------------------------


async def test_update_adds_and_removes_volumes_by_cinders_rules(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
) -> None:
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    inside = (await create_volume(client, member, 1, "fast", group["id"])).json()["volume"]
    elsewhere = (await create_volume(client, member, 1, "fast")).json()["volume"]
    creating = (await create_volume(client, member, 1, "replicated", group["id"])).json()
    await run_jobs(client, service, [FAST, BOTH])  # 'creating' stays: SLOW is not run
    creating_id = creating["volume"]["id"]
    other = await make_caller("other")
    theirs = (await create_volume(client, other, 1, "fast")).json()["volume"]

    async def put(body: dict[str, Any], caller: Caller = member) -> httpx.Response:
        return await client.put(
            url(caller, f"/{group['id']}"), json={"group": body}, headers=caller.headers(V)
        )

    # Removing takes the volume out; adding it back puts it in.
    assert (await put({"remove_volumes": inside["id"]})).status_code == 202
    assert (await volume(client, member, inside["id"]))["group_id"] is None
    assert (await show(client, member, group["id"]))["volumes"] == [creating_id]
    r = await put({"add_volumes": inside["id"], "name": "renamed", "description": "x"})
    assert r.status_code == 202, r.text
    shown = await show(client, member, group["id"])
    assert shown["name"] == "renamed" and shown["description"] == "x"
    assert sorted(shown["volumes"]) == sorted([inside["id"], creating_id])
    # Refused: on another backend, another project's, not available, already in,
    # not in the group, nothing to do.
    for body in (
        {"add_volumes": elsewhere["id"]},
        {"add_volumes": theirs["id"]},
        {"add_volumes": "no-such-volume"},
        {"add_volumes": creating_id},
        {"add_volumes": inside["id"]},
        {"remove_volumes": elsewhere["id"]},
        {"add_volumes": inside["id"], "remove_volumes": inside["id"]},
        {},
    ):
        fault(await put(body), 400, "badRequest")
    fault(await put({"name": "x"}, other), 404, "itemNotFound")
    shown = await show(client, member, group["id"])
    assert sorted(shown["volumes"]) == sorted([inside["id"], creating_id])


# --- delete -----------------------------------------------------------------------------------


async def test_delete_with_and_without_its_volumes(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    ids = []
    for size in (1, 2):
        r = await create_volume(client, member, size, "fast", group["id"])
        ids.append(r.json()["volume"]["id"])
    await run_jobs(client, service, BACKENDS)
    assert await ledger(app, BOTH) == 3
    used = await usage(app, member)
    assert (used["groups"], used["volumes"], used["gigabytes"]) == (1, 2, 3)
    r = await action(client, member, group["id"], {"delete": {"delete-volumes": False}})
    fault(r, 400, "badRequest")
    r = await action(client, member, group["id"], {"delete": {"delete-volumes": True}})
    assert r.status_code == 202, r.text
    assert (await show(client, member, group["id"]))["status"] == "deleting"
    assert {(await volume(client, member, i))["status"] for i in ids} == {"deleting"}
    # The first delete leaves the group; the last one takes it along.
    job = await claim(client, service, BACKENDS)
    assert job is not None and job["kind"] == "delete_volume"
    assert (await finish(client, service, job)).status_code == 200
    assert await group_row(app, group["id"]) is not None
    await run_jobs(client, service, BACKENDS)
    assert await group_row(app, group["id"]) is None
    fault(
        await client.get(url(member, f"/{group['id']}"), headers=member.headers(V)),
        404,
        "itemNotFound",
    )
    used = await usage(app, member)
    assert (used["groups"], used["volumes"], used["gigabytes"]) == (0, 0, 0)
    assert await ledger(app, BOTH) == 0
    # An empty group goes at once.
    empty = await new_group(client, admin, member, ["fast"])
    assert (await action(client, member, empty["id"], {"delete": {}})).status_code == 202
    assert await group_row(app, empty["id"]) is None
    assert (await usage(app, member))["groups"] == 0


async def test_a_member_that_cannot_be_deleted_stops_the_group_in_error_deleting(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    r = await create_volume(client, member, 1, "fast", group["id"])
    volume_id = r.json()["volume"]["id"]
    await run_jobs(client, service, BACKENDS)
    r = await action(client, member, group["id"], {"delete": {"delete-volumes": True}})
    assert r.status_code == 202, r.text
    await run_jobs(client, service, BACKENDS, ok=False)
    assert (await show(client, member, group["id"]))["status"] == "error_deleting"
    assert (await volume(client, member, volume_id))["status"] == "error_deleting"
    # Deleting again retries the member; its success takes the group.
    r = await action(client, member, group["id"], {"delete": {"delete-volumes": True}})
    assert r.status_code == 202, r.text
    await run_jobs(client, service, BACKENDS)
    assert await group_row(app, group["id"]) is None
    assert (await usage(app, member))["groups"] == 0


# --- policies ---------------------------------------------------------------------------------


async def test_policies_and_reset_status(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
) -> None:
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    other = await make_caller("other")
    fault(
        await client.get(url(other, f"/{group['id']}"), headers=other.headers(V)),
        404,
        "itemNotFound",
    )
    r = await action(client, other, group["id"], {"delete": {}})
    fault(r, 404, "itemNotFound")
    r = await client.get(url(other, "/detail"), headers=other.headers(V))
    assert r.json()["groups"] == []
    r = await client.get(url(admin, "/detail?all_tenants=1"), headers=admin.headers("3.58"))
    assert [g["project_id"] for g in r.json()["groups"]] == [member.project_id]
    reader = await make_caller("demo", ("reader",), user_name="reader")
    r = await create_group(client, reader, "x", ["fast"])
    assert fault(r, 403, "forbidden") == "Policy doesn't allow group:create to be performed."
    # Each action is checked under its own policy: a reader may not delete.
    r = await action(client, reader, group["id"], {"delete": {}})
    assert fault(r, 403, "forbidden") == "Policy doesn't allow group:delete to be performed."
    # reset_status: admin only, from 3.20, resting statuses only.
    body = {"reset_status": {"status": "error"}}
    r = await action(client, member, group["id"], body, "3.20")
    assert fault(r, 403, "forbidden") == "Policy doesn't allow group:reset_status to be performed."
    fault(await action(client, admin, group["id"], body, "3.19"), 404, "itemNotFound")
    r = await action(client, admin, group["id"], {"reset_status": {"status": "deleting"}}, "3.20")
    fault(r, 400, "badRequest")
    assert (await action(client, admin, group["id"], body, "3.20")).status_code == 202
    assert (await show(client, member, group["id"]))["status"] == "error"
    # A group in error takes no volumes.
    fault(await create_volume(client, member, 1, "fast", group["id"]), 400, "badRequest")
    fault(await action(client, member, group["id"], {"nope": {}}), 400, "badRequest")


# --- create from a source group ---------------------------------------------------------------


async def source_group(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    both_total: float,
) -> tuple[dict[str, Any], list[str]]:
    await setup_backends(client, admin, service, both_total=both_total)
    group = await new_group(client, admin, member)
    ids = []
    for size, vtype in ((3, "fast"), (4, "replicated")):
        r = await create_volume(client, member, size, vtype, group["id"])
        ids.append(r.json()["volume"]["id"])
    await run_jobs(client, service, BACKENDS)
    assert await ledger(app, BOTH) == 7
    return group, ids


async def from_source(
    client: httpx.AsyncClient, caller: Caller, source_id: str, v: str = V
) -> httpx.Response:
    return await client.post(
        url(caller, "/action"),
        json={"create-from-src": {"name": "copy", "source_group_id": source_id}},
        headers=caller.headers(v),
    )


async def test_create_from_source_claims_nothing_when_the_total_does_not_fit(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # 12 GB: each member (3 and 4 GB) would fit in the 5 GB left, their 7 GB do not.
    group, _ = await source_group(app, client, admin, member, service, both_total=12)
    before = await usage(app, member)
    r = await from_source(client, member, group["id"])
    message = fault(r, 400, "badRequest")
    assert "7 GB" in message
    assert await ledger(app, BOTH) == 7
    assert await volume_count(app) == 2
    assert await usage(app, member) == before
    r = await client.get(url(member), headers=member.headers(V))
    assert len(r.json()["groups"]) == 1


async def test_create_from_source_claims_exactly_the_total_and_clones_each_member(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group, ids = await source_group(app, client, admin, member, service, both_total=20)
    fault(await from_source(client, member, group["id"], "3.13"), 404, "itemNotFound")
    r = await from_source(client, member, group["id"])
    assert r.status_code == 202, r.text
    copy = r.json()["group"]
    assert copy["name"] == "copy"
    assert await ledger(app, BOTH) == 14
    used = await usage(app, member)
    assert (used["groups"], used["volumes"], used["gigabytes"]) == (2, 4, 14)
    shown = await show(client, member, copy["id"])
    # 'creating' until every clone is made, as Cinder shows a group created from a source.
    assert shown["status"] == "creating" and len(shown["volumes"]) == 2
    assert sorted(shown["volume_types"]) == sorted(group["volume_types"])
    row = await group_row(app, copy["id"])
    assert row is not None and row.host == f"{BOTH}#both"
    jobs = []
    while (job := await claim(client, service, BACKENDS)) is not None:
        jobs.append(job)
    assert sorted(j["kind"] for j in jobs) == ["clone_volume", "clone_volume"]
    by_source = {j["payload"]["source"]["id"]: j for j in jobs}
    assert set(by_source) == set(ids)
    assert {j["payload"]["volume"]["host"] for j in jobs} == {f"{BOTH}#both"}
    # A member is not deleted on its own (Cinder), nor a source extended while its
    # clone is being made.
    r = await client.delete(f"/v3/{member.project_id}/volumes/{ids[0]}", headers=member.headers())
    assert "belongs to group" in fault(r, 400, "badRequest")
    r = await volume_action(client, member, ids[0], "os-extend", {"new_size": 9})
    assert "being cloned" in fault(r, 400, "badRequest")
    # One clone succeeds; the other fails and gives back its share of the claim.
    ok_job, bad_job = by_source[ids[0]], by_source[ids[1]]
    assert (
        await finish(client, service, ok_job, result={"provider_location": "/c"})
    ).status_code == 200
    assert (await show(client, member, copy["id"]))["status"] == "creating"
    assert (
        await finish(client, service, bad_job, ok=False, error="copy failed")
    ).status_code == 200
    # A copy that failed leaves the group in error (still deletable with its volumes).
    assert (await show(client, member, copy["id"]))["status"] == "error"
    good = await volume(client, member, ok_job["resource_id"])
    bad = await volume(client, member, bad_job["resource_id"])
    assert good["status"] == "available" and good["source_volid"] == ids[0]
    assert good["size"] == 3 and good["group_id"] == copy["id"]
    assert bad["status"] == "error"
    assert await ledger(app, BOTH) == 10
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    assert any(
        m["resource_uuid"] == bad["id"] and "copy failed" in m["user_message"]
        for m in r.json()["messages"]
    )
    # The copy deletes like any group, its volumes with it.
    r = await action(client, member, copy["id"], {"delete": {"delete-volumes": True}})
    assert r.status_code == 202, r.text
    await run_jobs(client, service, BACKENDS)
    assert await group_row(app, copy["id"]) is None
    assert await ledger(app, BOTH) == 7
    used = await usage(app, member)
    assert (used["groups"], used["volumes"], used["gigabytes"]) == (1, 2, 7)


async def test_create_from_source_needs_available_members(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group, ids = await source_group(app, client, admin, member, service, both_total=50)
    r = await volume_action(client, member, ids[0], "os-extend", {"new_size": 5})
    assert r.status_code == 202, r.text
    fault(await from_source(client, member, group["id"]), 400, "badRequest")
    fault(await from_source(client, member, "no-such-group"), 404, "itemNotFound")
    assert await volume_count(app) == 2


async def test_a_volume_type_listed_by_a_group_cannot_be_deleted(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member, ["replicated"])
    [type_id] = group["volume_types"]
    r = await client.delete(f"/v3/{admin.project_id}/types/{type_id}", headers=admin.headers())
    assert "still in use" in fault(r, 400, "badRequest")
    assert (await action(client, member, group["id"], {"delete": {}})).status_code == 202
    r = await client.delete(f"/v3/{admin.project_id}/types/{type_id}", headers=admin.headers())
    assert r.status_code == 202, r.text


@pytest.mark.both_databases
async def test_create_from_source_the_database_claim_decides_over_a_stale_cache(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group, _ = await source_group(app, client, admin, member, service, both_total=20)
    # Another replica claimed 8 GB on the pool a moment ago: this replica's cache has not
    # heard of it, so validate_host_capacity passes (13 GB free as far as it knows) ...
    async with app.state.runtime.sessionmaker() as session, session.begin():
        pool = (await session.scalars(select(Pool).join(Backend).where(Backend.host == BOTH))).one()
        pool.allocated_gb = 15.0
    before = await usage(app, member)
    # ... but the one guarded claim of the 7 GB total does not fit: nothing at all is made.
    message = fault(await from_source(client, member, group["id"]), 400, "badRequest")
    assert "cannot take 7 GB" in message
    assert await ledger(app, BOTH) == 15
    assert await volume_count(app) == 2
    assert await usage(app, member) == before
    r = await client.get(url(member), headers=member.headers(V))
    assert len(r.json()["groups"]) == 1


@pytest.mark.both_databases
async def test_concurrent_copies_never_oversubscribe_the_pool(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # 7 GB used of 20: room for one 7 GB copy, not two; also new volumes into the group.
    group, _ = await source_group(app, client, admin, member, service, both_total=20)

    async def member_volume() -> httpx.Response:
        return await create_volume(client, member, 3, "fast", group["id"])

    responses = await asyncio.gather(
        *(from_source(client, member, group["id"]) for _ in range(4)),
        *(member_volume() for _ in range(4)),
    )
    copies, volumes = responses[:4], responses[4:]
    assert {r.status_code for r in copies} <= {202, 400}
    assert all(r.status_code == 202 for r in volumes)
    made = sum(r.status_code == 202 for r in copies)
    await run_jobs(client, service, BACKENDS)
    placed = [
        v
        for r in volumes
        if (v := await volume(client, member, r.json()["volume"]["id"]))
        if v["status"] == "available"
    ]
    assert await ledger(app, BOTH) == 7 + 7 * made + 3 * len(placed) <= 20
    used = await usage(app, member)
    assert used["groups"] == 1 + made
    assert used["gigabytes"] == 7 + 7 * made + 3 * len(volumes)  # errored creates keep quota


async def test_a_member_is_retyped_only_to_a_type_of_its_group_and_never_migrated(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_backends(client, admin, service)
    group = await new_group(client, admin, member)
    r = await create_volume(client, member, 1, "fast", group["id"])
    volume_id = r.json()["volume"]["id"]
    await run_jobs(client, service, BACKENDS)

    async def retype(new_type: str) -> httpx.Response:
        args = {"new_type": new_type, "migration_policy": "on-demand"}
        return await volume_action(client, member, volume_id, "os-retype", args, V)

    assert "not one of the group's" in fault(await retype("__DEFAULT__"), 400, "badRequest")
    assert (await retype("replicated")).status_code == 202
    assert (await volume(client, member, volume_id))["volume_type"] == "replicated"
    # The pool no longer suits 'fast': a migration would be needed, and the group pins it.
    await report(client, service, BOTH, [file_pool("both", 20, tier="slow", replication=True)])
    assert "keeps its volumes on its pool" in fault(await retype("fast"), 400, "badRequest")
    assert (await volume(client, admin, volume_id))["os-vol-host-attr:host"] == f"{BOTH}#both"


@pytest.mark.both_databases
async def test_a_clone_whose_agent_stops_responding_errs_and_gives_back_its_claim(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    group, _ = await source_group(app, client, admin, member, service, both_total=20)
    r = await from_source(client, member, group["id"])
    assert r.status_code == 202, r.text
    assert await ledger(app, BOTH) == 14
    runtime = app.state.runtime
    for _ in range(runtime.settings.job_max_attempts):
        jobs = [await claim(client, service, BACKENDS) for _ in range(2)]
        assert all(j is not None and j["kind"] == "clone_volume" for j in jobs)
        await expire_all_leases(app)
        assert await reaper.reap_once(runtime) == 2
    assert await claim(client, service, BACKENDS) is None
    copy = await show(client, member, r.json()["group"]["id"])
    statuses = [(await volume(client, member, v))["status"] for v in copy["volumes"]]
    assert statuses == ["error", "error"]
    assert await ledger(app, BOTH) == 7  # both shares of the copy's claim went back
    used = await usage(app, member)
    assert (used["volumes"], used["gigabytes"]) == (4, 14)  # until the volumes are deleted
    r = await action(client, member, copy["id"], {"delete": {"delete-volumes": True}})
    assert r.status_code == 202, r.text
    assert await group_row(app, copy["id"]) is None  # nothing placed: gone at once
    used = await usage(app, member)
    assert (used["groups"], used["volumes"], used["gigabytes"]) == (1, 2, 7)


# --- a member joining while a delete or a copy waits; a member's failed cascade ---------


@pytest.mark.both_databases
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
    shown = await show(client, member, group["id"])
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
    r = await action(client, member, group["id"], {"delete": {"delete-volumes": True}}, "3.14")
    assert r.status_code == 202, r.text
    assert (await show(client, member, group["id"]))["status"] == "deleting"

    job = await claim(client, service, BACKENDS)
    assert job is not None and job["kind"] == "delete_snapshot"
    assert (await finish(client, service, job, ok=False)).status_code == 200
    assert (await volume(client, member, volume_id))["status"] == "error_deleting"
    assert (await show(client, member, group["id"]))["status"] == "error_deleting"


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


@pytest.mark.both_databases
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
    assert (await show(client, member, copy_id))["status"] == "creating"
    first = await claim(client, service, BACKENDS)
    assert first is not None and first["kind"] == "clone_volume"
    await finish(client, service, first, result={"provider_location": "/c"})
    assert (await show(client, member, copy_id))["status"] == "creating"
    second = await claim(client, service, BACKENDS)
    assert second is not None and second["kind"] == "clone_volume"
    r = await client.delete(
        f"/v3/{admin.project_id}/volumes/{second['resource_id']}?force=true",
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, BACKENDS)
    assert (await show(client, member, copy_id))["status"] == "error"

    # Every clone made: available.
    r = await from_source(client, member, group["id"])
    assert r.status_code == 202, r.text
    again = r.json()["group"]["id"]
    await run_jobs(client, service, BACKENDS)
    assert (await show(client, member, again))["status"] == "available"
