"""Snapshots through the ASGI app, on SQLite (the tests marked both_databases on PostgreSQL
too): the volume pool's check and claim, quota, views and microversions, policies,
metadata, the agent's results, delete and cascade, reset and force delete, the reaper's
failure path, manage existing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db.models import Job, Snapshot, Volume
from app.volumes import reaper
from tests.api.helpers import claim, create_snapshot, file_pool, finish, report, run_jobs
from tests.api.helpers import messages_about as messages_of
from tests.api.helpers import pool_ledger as ledger
from tests.api.helpers import snapshot_status as status_of
from tests.conftest import Caller, MakeCaller

BACKEND = "node1@file"


async def make_volume(
    client: httpx.AsyncClient, service: Caller, caller: Caller, size: int = 1
) -> str:
    r = await client.post(
        f"/v3/{caller.project_id}/volumes",
        json={"volume": {"size": size}},
        headers=caller.headers(),
    )
    assert r.status_code == 202, r.text
    volume_id: str = r.json()["volume"]["id"]
    assert await run_jobs(client, service, [BACKEND]) == 1
    return volume_id


async def snap(
    client: httpx.AsyncClient,
    caller: Caller,
    volume_id: str,
    version: str | None = None,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/snapshots",
        json={"snapshot": {"volume_id": volume_id, **extra}},
        headers=caller.headers(version),
    )


async def show(
    client: httpx.AsyncClient, caller: Caller, snapshot_id: str, version: str | None = None
) -> httpx.Response:
    return await client.get(
        f"/v3/{caller.project_id}/snapshots/{snapshot_id}", headers=caller.headers(version)
    )


async def job_of(client: httpx.AsyncClient, service: Caller, kind: str) -> dict[str, Any]:
    job = await claim(client, service, [BACKEND])
    assert job is not None and job["kind"] == kind, job
    return job


async def usage(client: httpx.AsyncClient, admin: Caller, project_id: str) -> dict[str, int]:
    r = await client.get(
        f"/v3/{admin.project_id}/os-quota-sets/{project_id}?usage=true", headers=admin.headers()
    )
    assert r.status_code == 200, r.text
    quota = r.json()["quota_set"]
    return {k: quota[k]["in_use"] for k in ("volumes", "snapshots", "gigabytes")}


async def action(
    client: httpx.AsyncClient, caller: Caller, snapshot_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/snapshots/{snapshot_id}/action",
        json=body,
        headers=caller.headers(),
    )


# --- create, views, results -----------------------------------------------------------------


async def test_create_claims_quota_and_capacity_then_the_agent_makes_it_available(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member, size=3)
    assert await ledger(app) == 3
    body = await create_snapshot(
        client, member, vid, name="s1", description="first", metadata={"k": "v"}
    )
    assert body["status"] == "creating"
    assert body["size"] == 3 and body["volume_id"] == vid and body["metadata"] == {"k": "v"}
    assert await ledger(app) == 6
    assert await usage(client, admin, member.project_id) == {
        "volumes": 1,
        "snapshots": 1,
        "gigabytes": 6,
    }
    job = await job_of(client, service, "create_snapshot")
    assert job["resource_type"] == "snapshot" and job["resource_id"] == body["id"]
    assert job["payload"]["snapshot"]["id"] == body["id"]
    assert job["payload"]["snapshot"]["size_gb"] == 3
    assert job["payload"]["volume"]["id"] == vid
    r = await finish(client, service, job, result={"provider_location": "/data/snapshot-x"})
    assert r.status_code == 200, r.text
    r = await show(client, member, body["id"])
    shown = r.json()["snapshot"]
    assert shown["status"] == "available"
    assert shown["os-extended-snapshot-attributes:progress"] == "100%"
    assert shown["os-extended-snapshot-attributes:project_id"] == member.project_id
    async with app.state.runtime.sessionmaker() as session:
        row = await session.get(Snapshot, body["id"])
        assert row is not None and row.provider_location == "/data/snapshot-x"


async def test_view_fields_follow_microversions(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid))["id"]
    base = (await show(client, member, sid)).json()["snapshot"]
    assert set(base) == {
        "id",
        "name",
        "description",
        "volume_id",
        "size",
        "status",
        "created_at",
        "updated_at",
        "metadata",
        "os-extended-snapshot-attributes:progress",
        "os-extended-snapshot-attributes:project_id",
    }
    assert "group_snapshot_id" in (await show(client, member, sid, "3.14")).json()["snapshot"]
    v341 = (await show(client, member, sid, "3.41")).json()["snapshot"]
    assert v341["user_id"] == member.user_id and "consumes_quota" not in v341
    latest = (await show(client, member, sid, "3.65")).json()["snapshot"]
    assert latest["consumes_quota"] is True and latest["group_snapshot_id"] is None
    # The 3.67 URL without a project gives the same.
    r = await client.get(f"/v3/snapshots/{sid}", headers=member.headers("3.67"))
    assert r.status_code == 200 and r.json()["snapshot"]["id"] == sid
    r = await client.get(f"/v3/snapshots/{sid}", headers=member.headers("3.66"))
    assert r.status_code == 404


async def test_bad_input_and_volume_status(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    r = await client.post(
        f"/v3/{member.project_id}/snapshots", json={"snapshot": {}}, headers=member.headers()
    )
    assert r.status_code == 400 and "volume_id" in r.json()["badRequest"]["message"]
    r = await snap(client, member, "no-such-volume")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = await snap(client, member, "x", force="maybe")
    assert r.status_code == 400
    r = await client.post(
        f"/v3/{member.project_id}/volumes", json={"volume": {"size": 1}}, headers=member.headers()
    )
    creating = r.json()["volume"]["id"]
    r = await snap(client, member, creating)
    assert r.status_code == 400
    assert "must be available" in r.json()["badRequest"]["message"]
    r = await snap(client, member, creating, force=True)
    assert r.status_code == 400  # force allows in-use, never a volume being created


async def test_another_project_sees_nothing(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid))["id"]
    other = await make_caller("other")
    assert (await show(client, other, sid)).status_code == 404
    assert (await snap(client, other, vid)).status_code == 404
    r = await client.get(f"/v3/{other.project_id}/snapshots/detail", headers=other.headers())
    assert r.json()["snapshots"] == []
    r = await client.delete(f"/v3/{other.project_id}/snapshots/{sid}", headers=other.headers())
    assert r.status_code == 404
    r = await client.put(
        f"/v3/{other.project_id}/snapshots/{sid}/metadata",
        json={"metadata": {"a": "b"}},
        headers=other.headers(),
    )
    assert r.status_code == 404
    r = await action(client, other, sid, {"os-force_delete": {}})
    assert r.status_code == 404
    # Someone else's project in the URL is refused outright.
    r = await client.get(f"/v3/{member.project_id}/snapshots", headers=other.headers())
    assert r.status_code == 403
    reader = await make_caller("demo", ("reader",))
    assert (await show(client, reader, sid)).status_code == 200
    assert (await snap(client, reader, vid)).status_code == 403


async def test_list_filters_pages_and_counts(
    client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    v1 = await make_volume(client, service, member)
    v2 = await make_volume(client, service, member)
    ids = [
        (await create_snapshot(client, member, v, name=f"s{i}"))["id"]
        for i, v in enumerate((v1, v1, v2))
    ]
    base = f"/v3/{member.project_id}/snapshots"
    r = await client.get(base, headers=member.headers())
    listed = r.json()["snapshots"]
    assert {s["id"] for s in listed} == set(ids)
    assert "os-extended-snapshot-attributes:progress" not in listed[0]
    r = await client.get(f"{base}/detail?volume_id={v1}", headers=member.headers())
    assert {s["id"] for s in r.json()["snapshots"]} == set(ids[:2])
    r = await client.get(f"{base}/detail?name=s2", headers=member.headers())
    assert [s["id"] for s in r.json()["snapshots"]] == [ids[2]]
    r = await client.get(f"{base}?status=available", headers=member.headers())
    assert r.json()["snapshots"] == []
    r = await client.get(f"{base}?limit=2&sort=name:asc", headers=member.headers())
    page1 = r.json()
    assert [s["id"] for s in page1["snapshots"]] == ids[:2]
    assert page1["snapshots_links"][0]["rel"] == "next"
    r = await client.get(f"{base}?limit=2&sort=name:asc&marker={ids[1]}", headers=member.headers())
    assert [s["id"] for s in r.json()["snapshots"]] == [ids[2]]
    r = await client.get(f"{base}?sort=name:asc&offset=1", headers=member.headers())
    assert [s["id"] for s in r.json()["snapshots"]] == ids[1:]
    r = await client.get(f"{base}?with_count=true", headers=member.headers("3.45"))
    assert r.json()["count"] == 3
    r = await client.get(f"{base}?with_count=true", headers=member.headers("3.44"))
    assert "count" not in r.json()
    r = await client.get(f"{base}?sort=bogus", headers=member.headers())
    assert r.status_code == 400
    # The admin sees them with all_tenants only.
    r = await client.get(f"/v3/{admin.project_id}/snapshots", headers=admin.headers())
    assert r.json()["snapshots"] == []
    r = await client.get(f"/v3/{admin.project_id}/snapshots?all_tenants=1", headers=admin.headers())
    assert len(r.json()["snapshots"]) == 3


async def test_update_and_metadata(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid, metadata={"a": "1"}))["id"]
    base = f"/v3/{member.project_id}/snapshots/{sid}"
    r = await client.put(
        base, json={"snapshot": {"name": "n", "description": "d"}}, headers=member.headers()
    )
    assert r.status_code == 200 and r.json()["snapshot"]["name"] == "n"
    assert r.json()["snapshot"]["description"] == "d"
    r = await client.put(base, json={"snapshot": {}}, headers=member.headers())
    assert r.status_code == 400
    r = await client.post(
        f"{base}/metadata", json={"metadata": {"b": "2"}}, headers=member.headers()
    )
    assert r.json()["metadata"] == {"a": "1", "b": "2"}
    r = await client.put(
        f"{base}/metadata", json={"metadata": {"c": "3"}}, headers=member.headers()
    )
    assert r.json()["metadata"] == {"c": "3"}
    r = await client.put(f"{base}/metadata/d", json={"meta": {"d": "4"}}, headers=member.headers())
    assert r.status_code == 200 and r.json()["meta"] == {"d": "4"}
    r = await client.put(f"{base}/metadata/d", json={"meta": {"e": "4"}}, headers=member.headers())
    assert r.status_code == 400
    r = await client.get(f"{base}/metadata/c", headers=member.headers())
    assert r.json() == {"meta": {"c": "3"}}
    r = await client.delete(f"{base}/metadata/c", headers=member.headers())
    assert r.status_code == 200
    assert (await client.get(f"{base}/metadata/c", headers=member.headers())).status_code == 404
    assert (await client.delete(f"{base}/metadata/c", headers=member.headers())).status_code == 404
    r = await client.get(f"{base}/metadata", headers=member.headers())
    assert r.json() == {"metadata": {"d": "4"}}
    r = await client.post(f"{base}/metadata", json={"metadata": "x"}, headers=member.headers())
    assert r.status_code == 400


# --- the scheduler's check --------------------------------------------------------------------


async def test_no_room_on_the_pool_is_an_error_with_a_message_and_no_claim(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service, pools=[file_pool(total=10)])
    vid = await make_volume(client, service, member, size=6)
    body = await create_snapshot(client, member, vid)
    assert body["status"] == "error"
    assert await ledger(app) == 6  # nothing claimed for the snapshot
    assert await claim(client, service, [BACKEND]) is None  # no job
    said = await messages_of(client, member, body["id"])
    assert len(said) == 1 and said[0].startswith("VOLUME_VOLUME_SNAPSHOT_009_003")
    # The quota stays taken until the snapshot is deleted, as for a volume that found
    # no backend; the delete is immediate (nothing exists on the backend).
    assert (await usage(client, admin, member.project_id))["snapshots"] == 1
    r = await client.delete(
        f"/v3/{member.project_id}/snapshots/{body['id']}", headers=member.headers()
    )
    assert r.status_code == 202
    assert await status_of(client, member, body["id"]) is None
    assert await usage(client, admin, member.project_id) == {
        "volumes": 1,
        "snapshots": 0,
        "gigabytes": 6,
    }


async def test_a_pool_that_fails_the_filters_takes_no_snapshot(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    # The backend moved to another zone: the volume's zone no longer matches it.
    await report(client, service, zone="elsewhere")
    body = await create_snapshot(client, member, vid)
    assert body["status"] == "error"
    said = await messages_of(client, member, body["id"])
    assert "AvailabilityZoneFilter" in said[0]
    assert await ledger(app) == 1


async def test_quota_exceeded_is_413_and_takes_nothing(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member, size=2)
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{member.project_id}",
        json={"quota_set": {"snapshots": 1}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    await create_snapshot(client, member, vid)
    r = await snap(client, member, vid)
    assert r.status_code == 413
    assert "snapshots" in r.json()["overLimit"]["message"]
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{member.project_id}",
        json={"quota_set": {"snapshots": 5, "gigabytes": 5}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    r = await snap(client, member, vid)
    assert r.status_code == 413 and "gigabytes" in r.json()["overLimit"]["message"]
    assert await usage(client, admin, member.project_id) == {
        "volumes": 1,
        "snapshots": 1,
        "gigabytes": 4,
    }
    assert await ledger(app) == 4


# --- failures ----------------------------------------------------------------------------------


async def test_failed_create_gives_back_the_claim_then_delete_asks_the_agent(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member, size=2)
    sid = (await create_snapshot(client, member, vid))["id"]
    job = await job_of(client, service, "create_snapshot")
    r = await finish(client, service, job, ok=False, error="no reflink today")
    assert r.status_code == 200
    assert await status_of(client, member, sid) == "error"
    assert await ledger(app) == 2
    said = await messages_of(client, member, sid)
    assert said[0].startswith("VOLUME_VOLUME_SNAPSHOT_009_009") and "no reflink" in said[0]
    r = await client.delete(f"/v3/{member.project_id}/snapshots/{sid}", headers=member.headers())
    assert r.status_code == 202
    assert await status_of(client, member, sid) == "deleting"
    job = await job_of(client, service, "delete_snapshot")
    assert (await finish(client, service, job)).status_code == 200
    assert await status_of(client, member, sid) is None
    assert await usage(client, admin, member.project_id) == {
        "volumes": 1,
        "snapshots": 0,
        "gigabytes": 2,
    }


async def test_failed_delete_is_error_deleting_and_may_be_retried(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid))["id"]
    await run_jobs(client, service, [BACKEND])
    url = f"/v3/{member.project_id}/snapshots/{sid}"
    assert (await client.delete(url, headers=member.headers())).status_code == 202
    assert (await client.delete(url, headers=member.headers())).status_code == 400
    job = await job_of(client, service, "delete_snapshot")
    await finish(client, service, job, ok=False, error="busy")
    assert await status_of(client, member, sid) == "error_deleting"
    assert any(
        "VOLUME_VOLUME_SNAPSHOT_010_009" in m for m in await messages_of(client, member, sid)
    )
    assert await ledger(app) == 2
    assert (await client.delete(url, headers=member.headers())).status_code == 202
    await run_jobs(client, service, [BACKEND])
    assert await status_of(client, member, sid) is None
    assert await ledger(app) == 1


@pytest.mark.both_databases
async def test_reaper_fails_a_create_whose_agent_died(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    runtime = app.state.runtime
    runtime.settings.job_max_attempts = 1
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid))["id"]
    assert await ledger(app) == 2
    job = await job_of(client, service, "create_snapshot")
    async with runtime.sessionmaker() as session, session.begin():
        row = await session.get(Job, job["id"])
        assert row is not None and row.lease_expires_at is not None
        row.lease_expires_at = row.lease_expires_at.replace(year=2000)
    assert await reaper.reap_once(runtime) == 1
    assert await status_of(client, member, sid) == "error"
    assert await ledger(app) == 1
    said = await messages_of(client, member, sid)
    assert said and "stopped responding" in said[0]
    # The agent that outlived its lease may not report any more.
    assert (await finish(client, service, job)).status_code == 409


# --- admin actions ----------------------------------------------------------------------------


async def test_reset_status_and_force_delete_are_admin_only(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid))["id"]
    bodies: list[dict[str, Any]] = [
        {"os-reset_status": {"status": "error"}},
        {"os-force_delete": {}},
    ]
    for body in bodies:
        r = await action(client, member, sid, body)
        assert r.status_code == 403, r.text
    r = await action(client, member, sid, {"os-bogus": {}})
    assert r.status_code == 400
    # Never under a job in flight, never to a transitional status.
    r = await action(client, admin, sid, {"os-reset_status": {"status": "available"}})
    assert r.status_code == 400 and "in flight" in r.json()["badRequest"]["message"]
    await run_jobs(client, service, [BACKEND])
    r = await action(client, admin, sid, {"os-reset_status": {"status": "creating"}})
    assert r.status_code == 400
    r = await action(client, admin, sid, {"os-reset_status": {"status": "error"}})
    assert r.status_code == 202
    assert await status_of(client, member, sid) == "error"


async def test_force_delete_of_a_creating_snapshot_cancels_its_job(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid))["id"]
    create = await job_of(client, service, "create_snapshot")
    r = await action(client, admin, sid, {"os-force_delete": {}})
    assert r.status_code == 202, r.text
    assert (await finish(client, service, create)).status_code == 409
    delete = await job_of(client, service, "delete_snapshot")
    assert (await finish(client, service, delete)).status_code == 200
    assert await status_of(client, member, sid) is None
    assert await ledger(app) == 1
    assert (await usage(client, admin, member.project_id))["snapshots"] == 0


# --- volume delete -----------------------------------------------------------------------------


async def test_volume_with_snapshots_is_not_deleted_without_cascade(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    sid = (await create_snapshot(client, member, vid))["id"]
    url = f"/v3/{member.project_id}/volumes/{vid}"
    # A snapshot being created blocks even a cascade.
    for query in ("", "?cascade=true"):
        r = await client.delete(url + query, headers=member.headers())
        assert r.status_code == 400, r.text
    await run_jobs(client, service, [BACKEND])
    r = await client.delete(url, headers=member.headers())
    assert r.status_code == 400
    assert "dependent snapshots" in r.json()["badRequest"]["message"]
    r = await client.delete(url + "?force=true", headers=admin.headers())
    assert r.status_code == 400
    r = await client.get(url, headers=member.headers())
    assert r.json()["volume"]["status"] == "available"
    assert await status_of(client, member, sid) == "available"


async def test_cascade_deletes_snapshots_then_the_volume(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member, size=2)
    s1 = (await create_snapshot(client, member, vid))["id"]
    s2 = (await create_snapshot(client, member, vid))["id"]
    await run_jobs(client, service, [BACKEND])
    assert await ledger(app) == 6
    url = f"/v3/{member.project_id}/volumes/{vid}"
    r = await client.delete(url + "?cascade=true", headers=member.headers())
    assert r.status_code == 202, r.text
    assert await status_of(client, member, s1) == "deleting"
    # The volume waits for its snapshots: only their jobs are queued.
    first = await job_of(client, service, "delete_snapshot")
    second = await job_of(client, service, "delete_snapshot")
    assert await claim(client, service, [BACKEND]) is None
    assert (await finish(client, service, first)).status_code == 200
    assert await claim(client, service, [BACKEND]) is None
    assert (await finish(client, service, second)).status_code == 200
    volume_job = await job_of(client, service, "delete_volume")
    assert (await finish(client, service, volume_job)).status_code == 200
    assert (await client.get(url, headers=member.headers())).status_code == 404
    assert await status_of(client, member, s2) is None
    assert await ledger(app) == 0
    assert await usage(client, admin, member.project_id) == {
        "volumes": 0,
        "snapshots": 0,
        "gigabytes": 0,
    }


async def test_cascade_with_a_failed_snapshot_delete_ends_in_error_deleting(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service, pools=[file_pool(total=3)])
    vid = await make_volume(client, service, member, size=2)
    kept_out = (await create_snapshot(client, member, vid))["id"]  # no room: error, no job
    assert await status_of(client, member, kept_out) == "error"
    await report(client, service)
    sid = (await create_snapshot(client, member, vid))["id"]
    await run_jobs(client, service, [BACKEND])
    url = f"/v3/{member.project_id}/volumes/{vid}"
    assert (await client.delete(url + "?cascade=1", headers=member.headers())).status_code == 202
    assert await status_of(client, member, kept_out) is None  # gone at once
    job = await job_of(client, service, "delete_snapshot")
    await finish(client, service, job, ok=False, error="device busy")
    assert await status_of(client, member, sid) == "error_deleting"
    r = await client.get(url, headers=member.headers())
    assert r.json()["volume"]["status"] == "error_deleting"
    assert any("device busy" in m for m in await messages_of(client, member, vid))
    # Deleting again with cascade finishes the job.
    assert (await client.delete(url + "?cascade=1", headers=member.headers())).status_code == 202
    assert await run_jobs(client, service, [BACKEND]) == 2
    assert (await client.get(url, headers=member.headers())).status_code == 404
    assert await ledger(app) == 0
    assert await usage(client, admin, member.project_id) == {
        "volumes": 0,
        "snapshots": 0,
        "gigabytes": 0,
    }


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.both_databases
async def test_parallel_creates_never_oversubscribe_the_volume_pool(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{member.project_id}",
        json={"quota_set": {"snapshots": 100}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    await report(client, service, pools=[file_pool(total=30)])
    volumes = [await make_volume(client, service, member) for _ in range(20)]
    # The pool holds 20 GB of volumes and can take 10 GB more.
    results = await asyncio.gather(*(snap(client, member, v) for v in volumes))
    assert all(r.status_code == 202 for r in results), [r.text for r in results]
    statuses = [r.json()["snapshot"]["status"] for r in results]
    assert statuses.count("creating") == 10 and statuses.count("error") == 10
    for r in results:
        if r.json()["snapshot"]["status"] == "error":
            assert await messages_of(client, member, r.json()["snapshot"]["id"])
    async with app.state.runtime.sessionmaker() as session:
        held = (await session.scalars(select(Snapshot).where(Snapshot.pool_id.is_not(None)))).all()
        sizes = (
            await session.scalars(select(Volume.size).where(Volume.pool_id.is_not(None)))
        ).all()
    assert len(held) == 10
    # The ledger is exactly what the live volumes and snapshots on the pool hold.
    assert await ledger(app) == sum(sizes) + sum(s.size for s in held) == 30


# --- manage existing ----------------------------------------------------------------------------


async def manage(
    client: httpx.AsyncClient,
    caller: Caller,
    volume_id: str,
    *,
    path: str = "manageable_snapshots",
    version: str | None = "3.8",
    **extra: Any,
) -> httpx.Response:
    body = {"volume_id": volume_id, "ref": {"source-name": "old.snap"}, **extra}
    return await client.post(
        f"/v3/{caller.project_id}/{path}", json={"snapshot": body}, headers=caller.headers(version)
    )


async def test_manage_existing_snapshot_claims_at_the_reported_size(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, admin, size=2)
    r = await manage(client, admin, vid, version="3.7")
    assert r.status_code == 404
    r = await manage(client, admin, vid, name="legacy", metadata={"from": "old"})
    assert r.status_code == 202, r.text
    body = r.json()["snapshot"]
    assert body["status"] == "creating" and body["size"] == 0
    assert body["metadata"] == {"from": "old"}
    assert await ledger(app) == 2
    job = await job_of(client, service, "manage_snapshot")
    assert job["payload"]["ref"] == {"source-name": "old.snap"}
    assert job["payload"]["volume"]["id"] == vid
    r = await finish(
        client, service, job, result={"size_gb": 3, "provider_location": "/d/snapshot-x"}
    )
    assert r.status_code == 200
    shown = (await show(client, admin, body["id"])).json()["snapshot"]
    assert shown["status"] == "available" and shown["size"] == 3
    assert await ledger(app) == 5
    assert await usage(client, admin, admin.project_id) == {
        "volumes": 1,
        "snapshots": 1,
        "gigabytes": 5,
    }
    await run_jobs(client, service, [BACKEND])
    r = await client.delete(
        f"/v3/{admin.project_id}/snapshots/{body['id']}", headers=admin.headers()
    )
    assert r.status_code == 202
    await run_jobs(client, service, [BACKEND])
    assert await ledger(app) == 2
    assert (await usage(client, admin, admin.project_id))["snapshots"] == 0


async def test_manage_existing_snapshot_policy_and_validation(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member)
    for path in ("manageable_snapshots", "os-snapshot-manage"):
        r = await manage(client, member, vid, path=path)
        assert r.status_code == 403
    r = await manage(client, admin, vid, ref={"source-name": ""})
    assert r.status_code == 400
    r = await manage(client, admin, "nope", path="os-snapshot-manage", version=None)
    assert r.status_code == 404
    await report(client, service, zone="elsewhere")
    r = await manage(client, admin, vid)
    assert r.status_code == 400
    assert "AvailabilityZoneFilter" in r.json()["badRequest"]["message"]


async def test_a_managed_snapshot_without_a_valid_size_ends_in_error_and_claims_nothing(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, admin, size=2)
    sid = (await manage(client, admin, vid)).json()["snapshot"]["id"]
    job = await job_of(client, service, "manage_snapshot")
    r = await finish(client, service, job, result={"size_gb": 2.5, "provider_location": "/x"})
    assert r.status_code == 200 and r.json() == {"state": "failed"}
    assert await status_of(client, admin, sid) == "error"
    [said] = await messages_of(client, admin, sid)
    assert "the driver's answer to manage_snapshot: invalid job result: size_gb must be" in said
    assert await ledger(app) == 2
    assert (await usage(client, admin, admin.project_id))["snapshots"] == 0


async def test_manage_existing_snapshot_over_quota_or_failed_ends_in_error(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, admin)
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{admin.project_id}",
        json={"quota_set": {"gigabytes": 5}},
        headers=admin.headers(),
    )
    assert r.status_code == 200
    sid = (await manage(client, admin, vid)).json()["snapshot"]["id"]
    job = await job_of(client, service, "manage_snapshot")
    await finish(client, service, job, result={"size_gb": 9, "provider_location": "/x"})
    assert await status_of(client, admin, sid) == "error"
    said = await messages_of(client, admin, sid)
    assert said[0].startswith("VOLUME_VOLUME_SNAPSHOT_120_007")
    other = (await manage(client, admin, vid)).json()["snapshot"]["id"]
    job = await job_of(client, service, "manage_snapshot")
    await finish(client, service, job, ok=False, error="no such file")
    assert await status_of(client, admin, other) == "error"
    assert await ledger(app) == 1
    assert await usage(client, admin, admin.project_id) == {
        "volumes": 1,
        "snapshots": 0,
        "gigabytes": 1,
    }
    # Both still ask the agent on delete (the storage may have been renamed).
    for snapshot_id in (sid, other):
        r = await client.delete(
            f"/v3/{admin.project_id}/snapshots/{snapshot_id}", headers=admin.headers()
        )
        assert r.status_code == 202
    assert await run_jobs(client, service, [BACKEND]) == 2
    assert await usage(client, admin, admin.project_id) == {
        "volumes": 1,
        "snapshots": 0,
        "gigabytes": 1,
    }


@pytest.mark.parametrize("path", ["/v3/{p}/snapshots/{s}", "/v3/{p}/snapshots/{s}/metadata"])
async def test_unknown_snapshot_is_404(
    client: httpx.AsyncClient, member: Caller, path: str
) -> None:
    r = await client.get(path.format(p=member.project_id, s="nope"), headers=member.headers())
    assert r.status_code == 404
    assert "Snapshot nope could not be found" in r.json()["itemNotFound"]["message"]


@pytest.mark.both_databases
async def test_cascade_racing_the_last_snapshot_deletes_queues_the_volume_delete_once(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    vid = await make_volume(client, service, member, size=2)
    sids = [(await create_snapshot(client, member, vid))["id"] for _ in range(4)]
    await run_jobs(client, service, [BACKEND])
    for sid in sids:
        r = await client.delete(
            f"/v3/{member.project_id}/snapshots/{sid}", headers=member.headers()
        )
        assert r.status_code == 202
    delete_jobs = [await job_of(client, service, "delete_snapshot") for _ in sids]
    url = f"/v3/{member.project_id}/volumes/{vid}?cascade=true"
    answers = await asyncio.gather(
        client.delete(url, headers=member.headers()),
        *(finish(client, service, job) for job in delete_jobs),
    )
    assert [r.status_code for r in answers] == [202] + [200] * len(sids), [r.text for r in answers]
    volume_job = await job_of(client, service, "delete_volume")
    assert await claim(client, service, [BACKEND]) is None  # exactly one
    assert (await finish(client, service, volume_job)).status_code == 200
    r = await client.get(f"/v3/{member.project_id}/volumes/{vid}", headers=member.headers())
    assert r.status_code == 404
    assert await ledger(app) == 0
    assert await usage(client, admin, member.project_id) == {
        "volumes": 0,
        "snapshots": 0,
        "gigabytes": 0,
    }


async def test_the_volume_type_decides_thin_or_thick_for_the_snapshot_claim(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    # Thin over-subscription lets claims reach 20 GB; thick ones stop at the 10 GB total.
    pool = file_pool(total=10, thin=True, mosr="2.0", thick_provisioning_support=True)
    await report(client, service, pools=[pool])
    r = await client.post(
        f"/v3/{admin.project_id}/types",
        json={"volume_type": {"name": "thick", "extra_specs": {"provisioning:type": "thick"}}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    thin = await make_volume(client, service, member, size=3)
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 6, "volume_type": "thick"}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    thick = r.json()["volume"]["id"]
    assert await run_jobs(client, service, [BACKEND]) == 1
    assert await ledger(app) == 9
    assert (await create_snapshot(client, member, thick))["status"] == "error"
    assert (await create_snapshot(client, member, thin))["status"] == "creating"
    assert await ledger(app) == 12
