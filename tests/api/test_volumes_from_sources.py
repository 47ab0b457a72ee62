"""Volumes from volumes through the API (snapshot_id, source_volid), on SQLite (the tests
marked both_databases on PostgreSQL too): the source's checks, sizes and type, placement
and the guarded claim on the source's pool, quota, the agent's results, and what the
source may not do meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app import jobkinds
from app.db.models import QuotaUsage
from app.volumes import reaper
from tests.api.helpers import (
    assert_ledgers_exact,
    attach,
    available_volume,
    claim,
    connector,
    create_snapshot,
    create_volume,
    expire_all_leases,
    fault,
    file_pool,
    finish,
    make_type,
    messages_about,
    pool_ledger,
    report,
    run_jobs,
    set_quota,
    show_volume,
    snapshot_status,
    volume_action,
)
from tests.conftest import Caller, MakeCaller

BACKEND = "node1@file"
POOL = f"{BACKEND}#pool"


async def available_snapshot(
    client: httpx.AsyncClient, member: Caller, service: Caller, size: int = 2
) -> tuple[str, str]:
    """(volume id, snapshot id): a volume of `size` GB and an available snapshot of it."""
    volume_id = await available_volume(client, member, service, size=size)
    snapshot_id: str = (await create_snapshot(client, member, volume_id))["id"]
    await run_jobs(client, service, [BACKEND])
    assert await snapshot_status(client, member, snapshot_id) == "available"
    return volume_id, snapshot_id


async def job_of(client: httpx.AsyncClient, service: Caller, kind: str) -> dict[str, Any]:
    job = await claim(client, service, [BACKEND])
    assert job is not None and job["kind"] == kind, job
    return job


async def delete_snapshot(
    client: httpx.AsyncClient, member: Caller, snapshot_id: str
) -> httpx.Response:
    return await client.delete(
        f"/v3/{member.project_id}/snapshots/{snapshot_id}", headers=member.headers()
    )


# --- from a snapshot ------------------------------------------------------------------------


async def test_a_volume_from_a_snapshot_is_placed_on_its_pool_and_made_by_its_agent(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id, snapshot_id = await available_snapshot(client, member, service)
    source = await show_volume(client, member, volume_id)
    assert await pool_ledger(app) == 4  # the volume and its snapshot
    r = await create_volume(client, member, None, snapshot_id=snapshot_id, name="copy")
    assert r.status_code == 202, r.text
    body = r.json()["volume"]
    assert (body["status"], body["size"], body["snapshot_id"]) == ("creating", 2, snapshot_id)
    assert body["source_volid"] is None
    assert body["volume_type"] == source["volume_type"]
    assert await pool_ledger(app) == 6
    job = await job_of(client, service, jobkinds.CREATE_VOLUME_FROM_SNAPSHOT.name)
    assert job["resource_id"] == body["id"] and job["backend"] == BACKEND
    assert job["payload"]["snapshot"] == {
        "id": snapshot_id,
        "size_gb": 2,
        "volume_id": volume_id,
        "name": None,
        "provider_location": f"/fake/{snapshot_id}",
    }
    assert job["payload"]["volume"]["host"] == POOL
    # The snapshot is not deleted while the volume is being made from it.
    message = fault(await delete_snapshot(client, member, snapshot_id), 400, "badRequest")
    assert f"being read into volume {body['id']}" in message
    assert (await finish(client, service, job)).status_code == 200
    shown = await show_volume(client, member, body["id"])
    assert (shown["status"], shown["snapshot_id"]) == ("available", snapshot_id)
    # Made: the snapshot may go.
    assert (await delete_snapshot(client, member, snapshot_id)).status_code == 202


async def test_sizes_default_to_the_snapshots_and_never_go_below_it(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    _, snapshot_id = await available_snapshot(client, member, service, size=2)
    r = await create_volume(client, member, 1, snapshot_id=snapshot_id)
    assert "cannot be smaller than the snapshot" in fault(r, 400, "badRequest")
    r = await create_volume(client, member, 5, snapshot_id=snapshot_id)
    assert r.status_code == 202, r.text
    job = await job_of(client, service, jobkinds.CREATE_VOLUME_FROM_SNAPSHOT.name)
    assert job["payload"]["volume"]["size_gb"] == 5  # made larger by the driver
    assert await pool_ledger(app) == 4 + 5


async def test_the_snapshot_must_be_the_callers_and_available(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    other = await make_caller("other")
    volume_id, snapshot_id = await available_snapshot(client, member, service)
    r = await create_volume(client, other, None, snapshot_id=snapshot_id)
    assert f"Snapshot {snapshot_id} could not be found" in fault(r, 404, "itemNotFound")
    r = await create_volume(client, member, None, snapshot_id="no-such-snapshot")
    fault(r, 404, "itemNotFound")
    creating = (await create_snapshot(client, member, volume_id))["id"]
    r = await create_volume(client, member, None, snapshot_id=creating)
    assert "status must be available" in fault(r, 400, "badRequest")
    r = await create_volume(client, member, None, snapshot_id=snapshot_id, source_volid=volume_id)
    assert "at most one source" in fault(r, 400, "badRequest")
    r = await create_volume(client, member, None, snapshot_id=snapshot_id, availability_zone="az9")
    assert "is not the zone of the snapshot" in fault(r, 400, "badRequest")


async def test_a_pool_without_room_refuses_with_nothing_taken(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service, size=2)
    await report(client, service, pools=[file_pool(total=5)])
    snapshot_id = (await create_snapshot(client, member, volume_id))["id"]
    await run_jobs(client, service, [BACKEND])
    r = await create_volume(client, member, None, snapshot_id=snapshot_id)
    assert "No valid backend: pool node1@file#pool" in fault(r, 400, "badRequest")
    assert await pool_ledger(app) == 4
    await assert_usage(app, member, gigabytes=4, volumes=1)


async def assert_usage(app: FastAPI, member: Caller, *, gigabytes: int, volumes: int) -> None:
    """The project's quota usage, as the live volumes and snapshots say it must be."""
    async with app.state.runtime.sessionmaker() as session:
        usage = {
            u.resource: u.in_use
            for u in await session.scalars(
                select(QuotaUsage).where(QuotaUsage.project_id == member.project_id)
            )
        }
    assert (usage.get("gigabytes"), usage.get("volumes")) == (gigabytes, volumes)


async def test_a_failed_make_is_error_with_a_message_its_claim_given_back(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    _, snapshot_id = await available_snapshot(client, member, service)
    r = await create_volume(client, member, None, snapshot_id=snapshot_id)
    new_id = r.json()["volume"]["id"]
    job = await job_of(client, service, jobkinds.CREATE_VOLUME_FROM_SNAPSHOT.name)
    r = await finish(client, service, job, ok=False, error="copy failed: no space")
    assert r.status_code == 200, r.text
    shown = await show_volume(client, member, new_id)
    assert shown["status"] == "error"
    assert await pool_ledger(app) == 4  # the volume and its snapshot only
    [message] = await messages_about(client, member, new_id)
    assert message.startswith("VOLUME_VOLUME_008_009") and "copy failed: no space" in message
    # Its quota stays until it is deleted, as a failed create's; the leftover copy goes.
    await assert_usage(app, member, gigabytes=2 + 2 + 2, volumes=2)
    r = await client.delete(f"/v3/{member.project_id}/volumes/{new_id}", headers=member.headers())
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [BACKEND])
    await assert_usage(app, member, gigabytes=4, volumes=1)
    # And the snapshot is free to go.
    assert (await delete_snapshot(client, member, snapshot_id)).status_code == 202


async def test_a_type_named_must_suit_the_pool(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    _, snapshot_id = await available_snapshot(client, member, service)
    await make_type(client, admin, "elsewhere", {"volume_backend_name": "lvm"})
    r = await create_volume(client, member, None, snapshot_id=snapshot_id, volume_type="elsewhere")
    assert "refuses" in fault(r, 400, "badRequest")


@pytest.mark.both_databases
async def test_two_volumes_from_one_snapshot_race_for_the_last_room(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    """Two creates from one snapshot at once, with room for one: the guarded claim lets
    exactly one in; the other is refused with nothing taken."""
    volume_id = await available_volume(client, member, service, size=2)
    await report(client, service, pools=[file_pool(total=8)])
    snapshot_id = (await create_snapshot(client, member, volume_id))["id"]
    await run_jobs(client, service, [BACKEND])
    # The cache still believes in the room (it lags the ledger); the claim decides.
    responses = await asyncio.gather(
        *(create_volume(client, member, 3, snapshot_id=snapshot_id) for _ in range(2))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 400], [r.text for r in responses]
    assert await pool_ledger(app) == 2 + 2 + 3
    await assert_usage(app, member, gigabytes=2 + 2 + 3, volumes=2)


# --- clones ---------------------------------------------------------------------------------


async def test_a_clone_is_made_on_its_sources_pool_which_it_holds_meanwhile(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    source_id = await available_volume(client, member, service, size=2)
    r = await create_volume(client, member, 3, source_volid=source_id, name="clone")
    assert r.status_code == 202, r.text
    body = r.json()["volume"]
    assert (body["source_volid"], body["snapshot_id"], body["size"]) == (source_id, None, 3)
    assert await pool_ledger(app) == 5
    # While the clone is being made, its source is neither deleted nor extended.
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{source_id}", headers=member.headers()
    )
    assert "being cloned" in fault(r, 400, "badRequest")
    r = await volume_action(client, member, source_id, "os-extend", {"new_size": 4})
    assert "being cloned" in fault(r, 400, "badRequest")
    job = await job_of(client, service, jobkinds.CLONE_VOLUME.name)
    assert job["payload"]["source"]["id"] == source_id
    assert job["payload"]["volume"]["size_gb"] == 3
    assert (await finish(client, service, job)).status_code == 200
    assert (await show_volume(client, member, body["id"]))["status"] == "available"
    await assert_ledgers_exact(app.state.runtime.sessionmaker, member.project_id)


async def test_an_attached_volume_is_cloned(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    source_id = await available_volume(client, member, service, size=2)
    await attach(client, member, service, source_id, connector())
    assert (await show_volume(client, member, source_id))["status"] == "in-use"
    r = await create_volume(client, member, None, source_volid=source_id)
    assert r.status_code == 202, r.text
    job = await job_of(client, service, jobkinds.CLONE_VOLUME.name)
    assert (await finish(client, service, job)).status_code == 200
    assert (await show_volume(client, member, r.json()["volume"]["id"]))["status"] == "available"
    assert (await show_volume(client, member, source_id))["status"] == "in-use"


async def test_over_quota_is_413_with_nothing_taken(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    volume_id, snapshot_id = await available_snapshot(client, member, service)
    r = await set_quota(client, admin, member.project_id, gigabytes=6)
    assert r.status_code == 200, r.text
    r = await create_volume(client, member, 3, snapshot_id=snapshot_id)
    assert "gigabytes" in fault(r, 413, "overLimit")
    r = await create_volume(client, member, 3, source_volid=volume_id)
    assert "gigabytes" in fault(r, 413, "overLimit")
    assert await pool_ledger(app) == 4
    await assert_usage(app, member, gigabytes=4, volumes=1)


async def test_clone_refusals(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    other = await make_caller("other")
    source_id = await available_volume(client, member, service, size=2)
    r = await create_volume(client, other, None, source_volid=source_id)
    fault(r, 404, "itemNotFound")
    r = await create_volume(client, member, 1, source_volid=source_id)
    assert "cannot be smaller than the source volume" in fault(r, 400, "badRequest")
    creating = (await create_volume(client, member, 1)).json()["volume"]["id"]
    r = await create_volume(client, member, None, source_volid=creating)
    assert "status must be available or in-use to clone" in fault(r, 400, "badRequest")


async def test_a_failed_clone_is_error_with_its_claim_given_back(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    source_id = await available_volume(client, member, service, size=2)
    clone_id = (await create_volume(client, member, None, source_volid=source_id)).json()["volume"][
        "id"
    ]
    job = await job_of(client, service, jobkinds.CLONE_VOLUME.name)
    assert (await finish(client, service, job, ok=False, error="boom")).status_code == 200
    assert (await show_volume(client, member, clone_id))["status"] == "error"
    assert await pool_ledger(app) == 2
    [message] = await messages_about(client, member, clone_id)
    assert message.startswith("VOLUME_VOLUME_131_009") and "boom" in message


# --- revert to a snapshot -------------------------------------------------------------------


async def revert(
    client: httpx.AsyncClient,
    caller: Caller,
    volume_id: str,
    snapshot_id: Any,
    version: str = "3.40",
) -> httpx.Response:
    return await volume_action(
        client, caller, volume_id, "revert", {"snapshot_id": snapshot_id}, version
    )


async def test_a_revert_moves_both_then_the_agent_makes_both_available(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id, snapshot_id = await available_snapshot(client, member, service)
    assert (await revert(client, member, volume_id, snapshot_id, "3.39")).status_code == 404
    r = await revert(client, member, volume_id, snapshot_id)
    assert (r.status_code, r.content) == (202, b"")
    assert (await show_volume(client, member, volume_id))["status"] == "reverting"
    assert await snapshot_status(client, member, snapshot_id) == "restoring"
    # Neither the snapshot nor the volume goes meanwhile, nor does another revert start.
    fault(await delete_snapshot(client, member, snapshot_id), 400, "badRequest")
    message = fault(await revert(client, member, volume_id, snapshot_id), 409, "conflictingRequest")
    assert "Volume's status must be 'available'" in message
    job = await job_of(client, service, jobkinds.REVERT_VOLUME_TO_SNAPSHOT.name)
    assert job["resource_id"] == volume_id
    assert job["payload"]["snapshot"]["id"] == snapshot_id
    assert job["payload"]["volume"]["size_gb"] == 2
    assert (await finish(client, service, job)).status_code == 200
    assert (await show_volume(client, member, volume_id))["status"] == "available"
    assert await snapshot_status(client, member, snapshot_id) == "available"
    assert await pool_ledger(app) == 4  # a revert claims nothing


async def test_only_the_latest_snapshot_of_the_volumes_size_is_reverted_to(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id, older = await available_snapshot(client, member, service)
    other_volume = await available_volume(client, member, service, size=2)
    r = await revert(client, member, other_volume, older)
    assert "doesn't have any snapshots" in fault(r, 400, "badRequest")
    newer = (await create_snapshot(client, member, volume_id))["id"]
    await run_jobs(client, service, [BACKEND])
    r = await revert(client, member, volume_id, older)
    assert f"{older} is None or not the latest one of volume" in fault(r, 400, "badRequest")
    r = await revert(client, member, volume_id, None)
    assert "is None or not the latest one" in fault(r, 400, "badRequest")
    # Extended after the snapshot: sizes differ.
    r = await volume_action(client, member, volume_id, "os-extend", {"new_size": 3})
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [BACKEND])
    r = await revert(client, member, volume_id, newer)
    assert "must be equal to the snapshot size" in fault(r, 400, "badRequest")
    assert (await show_volume(client, member, volume_id))["status"] == "available"


async def test_a_volume_being_cloned_or_a_snapshot_not_available_is_not_reverted(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id, snapshot_id = await available_snapshot(client, member, service)
    r = await create_volume(client, member, None, source_volid=volume_id)
    assert r.status_code == 202, r.text
    assert "being cloned" in fault(
        await revert(client, member, volume_id, snapshot_id), 400, "badRequest"
    )
    await run_jobs(client, service, [BACKEND])
    latest = (await create_snapshot(client, member, volume_id))["id"]  # creating
    r = await revert(client, member, volume_id, latest)
    assert "Snapshot's status must be 'available'" in fault(r, 409, "conflictingRequest")
    # Refused: the volume moved back with the transaction.
    assert (await show_volume(client, member, volume_id))["status"] == "available"


async def test_a_failed_revert_leaves_the_volume_in_error_and_the_snapshot_available(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id, snapshot_id = await available_snapshot(client, member, service)
    assert (await revert(client, member, volume_id, snapshot_id)).status_code == 202
    job = await job_of(client, service, jobkinds.REVERT_VOLUME_TO_SNAPSHOT.name)
    r = await finish(client, service, job, ok=False, error="snapshot file is gone")
    assert r.status_code == 200, r.text
    assert (await show_volume(client, member, volume_id))["status"] == "error"
    assert await snapshot_status(client, member, snapshot_id) == "available"
    [message] = await messages_about(client, member, volume_id)
    assert message.startswith("VOLUME_VOLUME_160_009") and "snapshot file is gone" in message


async def test_revert_needs_its_policy(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    volume_id, snapshot_id = await available_snapshot(client, member, service)
    reader = await make_caller("demo", ("reader",))
    fault(await revert(client, reader, volume_id, snapshot_id), 403, "forbidden")


@pytest.mark.both_databases
async def test_the_reaper_ends_makes_and_reverts_whose_agent_died(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    """A lease that runs out for good ends the job as the agent's failure would: the
    new volume in error with its claim given back, a reverting volume in error with its
    snapshot available."""
    runtime = app.state.runtime
    volume_id, snapshot_id = await available_snapshot(client, member, service)

    async def die(kind: jobkinds.JobKind[Any, Any]) -> None:
        for attempt in range(1, runtime.settings.job_max_attempts + 1):
            job = await job_of(client, service, kind.name)
            assert job["attempts"] == attempt
            await expire_all_leases(app)
            assert await reaper.reap_once(runtime) == 1

    new_id = (await create_volume(client, member, None, snapshot_id=snapshot_id)).json()["volume"][
        "id"
    ]
    await die(jobkinds.CREATE_VOLUME_FROM_SNAPSHOT)
    assert (await show_volume(client, member, new_id))["status"] == "error"
    assert await pool_ledger(app) == 4
    assert (await revert(client, member, volume_id, snapshot_id)).status_code == 202
    await die(jobkinds.REVERT_VOLUME_TO_SNAPSHOT)
    assert (await show_volume(client, member, volume_id))["status"] == "error"
    assert await snapshot_status(client, member, snapshot_id) == "available"
    [message] = await messages_about(client, member, volume_id)
    assert "stopped responding" in message
