"""Extending an in-use volume (3.42) and Nova's os-extend_volume_completion (3.71), with
the agent played through the agent HTTP API."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import (
    answer_export,
    available_volume,
    claim,
    connector,
    fault,
    finish,
    make_type,
    messages_about,
    pool_ledger,
    show_volume,
    volume_action,
    volume_status,
)
from tests.conftest import Caller

# Claims, quota and conditional moves: both dialects.
pytestmark = pytest.mark.both_databases

BACKENDS = ["node1@file"]
INSTANCE = "1b1c1f3e-0000-4000-8000-000000000002"
WAITS = {"pumice:extend_completion": "<is> True"}


async def in_use_volume(
    client: httpx.AsyncClient, member: Caller, service: Caller, **extra: Any
) -> str:
    """A 2 GB volume attached with Nova's older protocol (reserve, connect, attach)."""
    volume_id = await available_volume(client, member, service, **extra)
    assert (await volume_action(client, member, volume_id, "os-reserve")).status_code == 202
    connecting = asyncio.create_task(
        volume_action(
            client, member, volume_id, "os-initialize_connection", {"connector": connector()}
        )
    )
    await answer_export(client, service)
    assert (await connecting).status_code == 200
    r = await volume_action(
        client,
        member,
        volume_id,
        "os-attach",
        {"instance_uuid": INSTANCE, "mountpoint": "/dev/vdb"},
    )
    assert r.status_code == 202, r.text
    assert await volume_status(client, member, volume_id) == "in-use"
    return volume_id


async def extend(
    client: httpx.AsyncClient, caller: Caller, volume_id: str, size: int, version: str = "3.42"
) -> httpx.Response:
    return await volume_action(client, caller, volume_id, "os-extend", {"new_size": size}, version)


async def grow(client: httpx.AsyncClient, service: Caller, *, ok: bool = True) -> dict[str, Any]:
    """The agent's extend job, finished; the claimed job."""
    job = await claim(client, service, BACKENDS)
    assert job is not None and job["kind"] == "extend_volume", job
    r = await finish(client, service, job, ok=ok)
    assert r.status_code == 200, r.text
    return job


async def completion(
    client: httpx.AsyncClient, caller: Caller, volume_id: str, **args: Any
) -> httpx.Response:
    return await volume_action(
        client, caller, volume_id, "os-extend_volume_completion", args, "3.71"
    )


async def waiting_volume(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> tuple[str, float]:
    """An attached 2 GB volume whose type waits for the host, extended to 5 GB by the
    agent and still extending; and its pool's ledger before the extend."""
    await make_type(client, admin, "waits", WAITS)
    volume_id = await in_use_volume(client, member, service, volume_type="waits")
    before = await pool_ledger(app)
    assert (await extend(client, member, volume_id, 5)).status_code == 202
    await grow(client, service)
    assert await pool_ledger(app) == before + 3
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("extending", 2)
    assert volume["metadata"]["extend_new_size"] == "5"
    return volume_id, before


async def test_an_in_use_volume_is_extended_from_3_42_with_its_export_refreshed(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await in_use_volume(client, member, service)
    r = await extend(client, member, volume_id, 3, version="3.41")
    assert "must be available to extend" in fault(r, 400, "badRequest")
    assert await volume_status(client, member, volume_id) == "in-use"

    assert (await extend(client, member, volume_id, 3)).status_code == 202
    assert await volume_status(client, member, volume_id) == "extending"
    # Nothing may detach it meanwhile: the extend ends where the volume rested.
    r = await volume_action(client, member, volume_id, "os-begin_detaching")
    fault(r, 400, "badRequest")
    [attached] = (await show_volume(client, member, volume_id))["attachments"]
    r = await client.delete(
        f"/v3/{member.project_id}/attachments/{attached['attachment_id']}",
        headers=member.headers("3.44"),
    )
    assert "being extended" in fault(r, 400, "badRequest")

    job = await grow(client, service)
    assert job["payload"]["attached"] is True and job["payload"]["new_size_gb"] == 3
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("in-use", 3)
    assert [a["attachment_id"] for a in volume["attachments"]] == [attached["attachment_id"]]
    assert "extend_new_size" not in volume["metadata"]


async def test_an_available_volume_is_extended_as_before(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    assert (await extend(client, member, volume_id, 3, version="3.71")).status_code == 202
    job = await grow(client, service)
    assert job["payload"]["attached"] is False
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("available", 3)


async def test_an_attached_extend_the_agent_fails_is_error_extending_and_gives_back_its_claim(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await in_use_volume(client, member, service)
    before = await pool_ledger(app)
    assert (await extend(client, member, volume_id, 4)).status_code == 202
    assert await pool_ledger(app) == before + 2
    await grow(client, service, ok=False)
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("error_extending", 2)
    assert await pool_ledger(app) == before


async def test_a_type_that_waits_for_the_host_completes_on_its_word(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    volume_id, _ = await waiting_volume(app, client, member, admin, service)
    # Nova (an admin or a service) answers, at 3.71; a member may not.
    fault(await completion(client, member, volume_id), 403, "forbidden")
    r = await volume_action(client, admin, volume_id, "os-extend_volume_completion", {}, "3.70")
    assert r.status_code in (400, 404), r.text
    r = await completion(client, admin, volume_id, error=False)
    assert r.status_code == 202, r.text
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("in-use", 5)
    assert "extend_new_size" not in volume["metadata"]
    # Said twice: nothing waits any more.
    r = await completion(client, admin, volume_id, error=False)
    assert "not waiting" in fault(r, 400, "badRequest")


async def test_the_hosts_error_leaves_error_extending_and_gives_back_the_claim(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    volume_id, before = await waiting_volume(app, client, member, admin, service)
    r = await completion(client, admin, volume_id, error=True)
    assert r.status_code == 202, r.text
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("error_extending", 2)
    assert "extend_new_size" not in volume["metadata"]
    assert await pool_ledger(app) == before
    assert any(
        "Compute service failed to extend" in m
        for m in await messages_about(client, member, volume_id)
    )


async def test_a_reset_of_a_volume_waiting_for_its_host_gives_back_the_claim(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    volume_id, before = await waiting_volume(app, client, member, admin, service)
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "in-use"})
    assert r.status_code == 202, r.text
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("in-use", 2)
    assert await pool_ledger(app) == before
    r = await completion(client, admin, volume_id)
    assert "not waiting" in fault(r, 400, "badRequest")


async def test_completion_is_refused_while_the_agent_still_extends_or_nothing_was_asked(
    client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    await make_type(client, admin, "waits", WAITS)
    volume_id = await in_use_volume(client, member, service, volume_type="waits")
    r = await completion(client, admin, volume_id)
    assert "not waiting" in fault(r, 400, "badRequest")
    assert (await extend(client, member, volume_id, 5)).status_code == 202
    r = await completion(client, admin, volume_id)
    assert "not waiting" in fault(r, 400, "badRequest")


async def test_an_unattached_volume_of_a_waiting_type_does_not_wait(
    client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    await make_type(client, admin, "waits", WAITS)
    volume_id = await available_volume(client, member, service, volume_type="waits")
    assert (await extend(client, member, volume_id, 3)).status_code == 202
    await grow(client, service)
    volume = await show_volume(client, member, volume_id)
    assert (volume["status"], volume["size"]) == ("available", 3)
