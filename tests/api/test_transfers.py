"""Volume transfers through the ASGI app, on both databases: the volume offered
('awaiting-transfer', locked against every other operation), accepted by another project
with the key shown once (the volume, its snapshots and the quota they count move in one
transaction; an accepting project without room gets 413 and nothing moves), cancelled,
and raced: of two accepts with the right key exactly one wins."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.db.models import Transfer
from tests.api.helpers import (
    accept_transfer,
    available_volume,
    create_snapshot,
    create_transfer,
    fault,
    quota_in_use,
    run_jobs,
    set_quota,
    show_volume,
    volume_action,
    volume_status,
)
from tests.conftest import Caller, MakeCaller

pytestmark = pytest.mark.both_databases  # the accept race, quota moves under row locks

BACKEND = "node1@file"


@pytest.fixture
async def other(make_caller: MakeCaller) -> Caller:
    """A member of another project: the one accepting."""
    caller: Caller = await make_caller("other", ("member",))
    return caller


async def offered(
    client: httpx.AsyncClient, member: Caller, volume_id: str, **extra: Any
) -> dict[str, object]:
    r = await create_transfer(client, member, volume_id, **extra)
    assert r.status_code == 202, r.text
    body: dict[str, object] = r.json()["transfer"]
    return body


async def test_accepted_transfer_moves_volume_and_quota_to_the_accepting_project(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, other: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service, size=3)
    transfer = await offered(client, member, volume_id, name="gift")
    assert transfer["volume_id"] == volume_id and transfer["name"] == "gift"
    key = transfer["auth_key"]
    assert isinstance(key, str) and len(key) == 16
    assert transfer["source_project_id"] == member.project_id
    assert transfer["accepted"] is False and transfer["destination_project_id"] is None
    assert await volume_status(client, member, volume_id) == "awaiting-transfer"

    # The key is shown once: never in show or list, and only its hash is stored.
    base = f"/v3/{member.project_id}/volume-transfers"
    for url in (f"{base}/{transfer['id']}", f"{base}/detail", base):
        r = await client.get(url, headers=member.headers("3.57"))
        assert r.status_code == 200, r.text
        assert "auth_key" not in r.text and key not in r.text
    async with app.state.runtime.sessionmaker() as session:
        row = await session.get(Transfer, transfer["id"])
        assert row is not None and key not in row.crypt_hash

    r = await accept_transfer(client, other, str(transfer["id"]), key)
    assert r.status_code == 202, r.text
    assert set(r.json()["transfer"]) == {"id", "name", "volume_id", "links"}
    moved = await show_volume(client, other, volume_id)
    assert moved["status"] == "available" and moved["size"] == 3
    assert moved["user_id"] == other.user_id
    r = await client.get(f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers())
    assert r.status_code == 404
    assert await quota_in_use(app, member.project_id) == {}
    assert await quota_in_use(app, other.project_id) == {"volumes": 1, "gigabytes": 3}
    # Accepted: listed no more, and cannot be accepted again.
    r = await client.get(base, headers=member.headers("3.57"))
    assert r.json()["transfers"] == []
    r = await accept_transfer(client, other, str(transfer["id"]), key)
    fault(r, 404, "itemNotFound")


async def test_wrong_auth_key_is_refused_and_nothing_moves(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, other: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    transfer = await offered(client, member, volume_id)
    r = await accept_transfer(client, other, str(transfer["id"]), "0" * 16)
    assert "Invalid auth key" in fault(r, 400, "badRequest")
    assert await volume_status(client, member, volume_id) == "awaiting-transfer"
    assert await quota_in_use(app, other.project_id) == {}


async def test_awaiting_transfer_volume_refuses_other_operations(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    await offered(client, member, volume_id)
    url = f"/v3/{member.project_id}/volumes/{volume_id}"
    r = await client.delete(url, headers=member.headers())
    fault(r, 400, "badRequest")
    r = await volume_action(client, member, volume_id, "os-extend", {"new_size": 5})
    fault(r, 400, "badRequest")
    r = await volume_action(client, member, volume_id, "os-reserve")
    fault(r, 400, "badRequest")
    # A second transfer of the same volume.
    r = await create_transfer(client, member, volume_id)
    assert "already offered" in fault(r, 400, "badRequest")
    assert await volume_status(client, member, volume_id) == "awaiting-transfer"


async def test_a_volume_reset_out_of_its_transfer_is_not_offered_twice(
    client: httpx.AsyncClient, admin: Caller, member: Caller, other: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    transfer = await offered(client, member, volume_id)
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "available"})
    assert r.status_code == 202, r.text
    r = await create_transfer(client, member, volume_id)
    assert "already offered" in fault(r, 400, "badRequest")
    # Its transfer cannot be accepted while the volume is not awaiting it.
    r = await accept_transfer(client, other, str(transfer["id"]), str(transfer["auth_key"]))
    assert "awaiting-transfer" in fault(r, 400, "badRequest")
    assert (await show_volume(client, member, volume_id))["status"] == "available"


async def test_cancelled_transfer_gives_the_volume_back(
    client: httpx.AsyncClient, member: Caller, other: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    transfer = await offered(client, member, volume_id, path="os-volume-transfer", version=None)
    # The older path shows Cinder's base view, whatever the version.
    assert set(transfer) == {"id", "created_at", "name", "volume_id", "auth_key", "links"}
    url = f"/v3/{member.project_id}/os-volume-transfer/{transfer['id']}"
    # Another project neither sees nor cancels it.
    r = await client.delete(
        f"/v3/{other.project_id}/os-volume-transfer/{transfer['id']}", headers=other.headers()
    )
    fault(r, 404, "itemNotFound")
    r = await client.delete(url, headers=member.headers())
    assert r.status_code == 202, r.text
    assert await volume_status(client, member, volume_id) == "available"
    r = await client.get(url, headers=member.headers())
    fault(r, 404, "itemNotFound")
    r = await accept_transfer(client, other, str(transfer["id"]), str(transfer["auth_key"]))
    fault(r, 404, "itemNotFound")


async def test_transfer_needs_an_available_volume_of_the_callers_project(
    client: httpx.AsyncClient, member: Caller, other: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    r = await create_transfer(client, other, volume_id)
    fault(r, 404, "itemNotFound")
    r = await create_transfer(client, member, "00000000-0000-0000-0000-000000000000")
    fault(r, 404, "itemNotFound")
    r = await client.post(
        f"/v3/{member.project_id}/volume-transfers",
        json={"transfer": {"name": "x"}},
        headers=member.headers("3.57"),
    )
    fault(r, 400, "badRequest")
    r = await create_transfer(client, member, volume_id, version="3.54")
    fault(r, 404, "itemNotFound")
    await volume_action(client, member, volume_id, "os-reserve")
    r = await create_transfer(client, member, volume_id)
    assert "status must be available" in fault(r, 400, "badRequest")


async def test_accepting_project_over_quota_gets_413_and_nothing_moves(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    other: Caller,
    service: Caller,
) -> None:
    volume_id = await available_volume(client, member, service, size=4)
    transfer = await offered(client, member, volume_id)
    r = await set_quota(client, admin, other.project_id, gigabytes=3)
    assert r.status_code == 200, r.text
    r = await accept_transfer(client, other, str(transfer["id"]), str(transfer["auth_key"]))
    assert "gigabytes" in fault(r, 413, "overLimit")
    assert await volume_status(client, member, volume_id) == "awaiting-transfer"
    assert await quota_in_use(app, member.project_id) == {"volumes": 1, "gigabytes": 4}
    assert await quota_in_use(app, other.project_id) == {}
    # Room made: the same key still works.
    await set_quota(client, admin, other.project_id, gigabytes=10)
    r = await accept_transfer(client, other, str(transfer["id"]), str(transfer["auth_key"]))
    assert r.status_code == 202, r.text


async def test_snapshots_move_with_the_volume_unless_left_behind(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, other: Caller, service: Caller
) -> None:
    for no_snapshots in (False, True):
        volume_id = await available_volume(client, member, service, size=2)
        snapshot = await create_snapshot(client, member, volume_id)
        await run_jobs(client, service, [BACKEND])
        transfer = await offered(client, member, volume_id, no_snapshots=no_snapshots)
        assert transfer["no_snapshots"] is no_snapshots
        r = await accept_transfer(client, other, str(transfer["id"]), str(transfer["auth_key"]))
        assert r.status_code == 202, r.text
        owner = member if no_snapshots else other
        r = await client.get(
            f"/v3/{owner.project_id}/snapshots/{snapshot['id']}", headers=owner.headers()
        )
        assert r.status_code == 200, r.text
    # The first volume with its snapshot, the second without its own.
    assert await quota_in_use(app, other.project_id) == {
        "volumes": 2,
        "gigabytes": 6,
        "snapshots": 1,
    }
    assert await quota_in_use(app, member.project_id) == {"snapshots": 1, "gigabytes": 2}


async def test_two_accepts_at_once_exactly_one_wins(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_caller: MakeCaller,
    member: Caller,
    service: Caller,
) -> None:
    volume_id = await available_volume(client, member, service, size=2)
    transfer = await offered(client, member, volume_id)
    first = await make_caller("first", ("member",))
    second = await make_caller("second", ("member",))
    key = str(transfer["auth_key"])
    responses = await asyncio.gather(
        accept_transfer(client, first, str(transfer["id"]), key),
        accept_transfer(client, second, str(transfer["id"]), key),
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 404], [r.text for r in responses]
    winner = first if responses[0].status_code == 202 else second
    loser = second if winner is first else first
    assert (await show_volume(client, winner, volume_id))["status"] == "available"
    assert await quota_in_use(app, winner.project_id) == {"volumes": 1, "gigabytes": 2}
    assert await quota_in_use(app, loser.project_id) == {}
    assert await quota_in_use(app, member.project_id) == {}


async def test_force_deleted_volume_leaves_no_transfer_behind(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    await offered(client, member, volume_id)
    r = await volume_action(client, admin, volume_id, "os-force_delete")
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [BACKEND])
    async with app.state.runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Transfer)) == 0
    assert await quota_in_use(app, member.project_id) == {}
