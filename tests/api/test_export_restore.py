"""An agent's restore after a restart (Cinder's ensure_export in init_host): the API
queues the export of exactly the volumes its backends' connected attachments hold, with
their stored CHAP accounts and every host's address, and answers which volumes each
backend keeps exported. The agent is played through the agent HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Volume
from app.sealing import Sealer
from tests.api.helpers import (
    answer_export,
    attach,
    available_volume,
    claim,
    connector,
    fault,
    finish,
    messages_about,
    report,
    volume_status,
)
from tests.conftest import Caller, MakeCaller

pytestmark = pytest.mark.both_databases

HOST = "node1@file"


async def restore(
    client: httpx.AsyncClient, service: Caller, backends: list[str]
) -> httpx.Response:
    return await client.post(
        "/agent/v1/exports/restore", json={"backends": backends}, headers=service.headers()
    )


async def pending_exports(client: httpx.AsyncClient, service: Caller) -> list[dict[str, Any]]:
    """Claim every queued job of the backend (all of them exports here)."""
    found = []
    while (job := await claim(client, service, [HOST])) is not None:
        found.append(job)
    return found


async def test_restore_exports_again_exactly_the_connected_volumes(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    shared = await available_volume(client, member, service, multiattach=True)
    for ip, host in (("192.0.2.10", "compute1"), ("192.0.2.11", "compute2")):
        await attach(client, member, service, shared, connector(ip, host))
    single = await available_volume(client, member, service)
    await attach(client, member, service, single, connector("192.0.2.12", "compute3"))
    # Detached while the agent was away: its unexport ran on the old tgtd, or never.
    gone = await available_volume(client, member, service)
    gone_attachment = await attach(client, member, service, gone, connector())
    r = await client.delete(
        f"/v3/{member.project_id}/attachments/{gone_attachment}", headers=member.headers("3.44")
    )
    assert r.status_code == 200, r.text
    assert (await answer_export(client, service))["kind"] == "unexport_volume"
    # Reserved without a connector: nothing to export.
    reserved = await available_volume(client, member, service)
    r = await client.post(
        f"/v3/{member.project_id}/attachments",
        json={"attachment": {"volume_uuid": reserved}},
        headers=member.headers("3.44"),
    )
    assert r.status_code == 200, r.text

    r = await restore(client, service, [HOST])
    assert r.status_code == 200, r.text
    assert {h: sorted(v) for h, v in r.json()["exports"].items()} == {
        HOST: sorted([shared, single])
    }
    exports = await pending_exports(client, service)
    by_volume = {job["resource_id"]: job["payload"] for job in exports}
    assert sorted(by_volume) == sorted([shared, single])
    assert by_volume[shared]["initiators"] == ["192.0.2.10", "192.0.2.11"]
    assert by_volume[single]["initiators"] == ["192.0.2.12"]
    assert all(p["restore"] is True and len(p["chap_secret"]) == 16 for p in by_volume.values())

    # A second restore while those run queues nothing more, and still wants both.
    r = await restore(client, service, [HOST])
    assert sorted(r.json()["exports"][HOST]) == sorted([shared, single])
    assert await claim(client, service, [HOST]) is None
    for job in exports:
        done = await finish(
            client,
            service,
            job,
            result={
                "target_iqn": "iqn.x:volume-1",
                "target_portal": "192.0.2.1:3260",
                "target_lun": 1,
            },
        )
        assert done.status_code == 200, done.text
    assert await volume_status(client, member, shared) == "in-use"
    assert await volume_status(client, member, single) == "in-use"


async def test_restore_keeps_the_volume_chap_account(
    app: FastAPI,
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await available_volume(client, member, service)
    await attach(client, member, service, volume_id, connector())
    assert (await restore(client, service, [HOST])).status_code == 200
    [job] = await pending_exports(client, service)
    async with sessionmaker() as session:
        volume = await session.get(Volume, volume_id)
        assert volume is not None and volume.provider_auth is not None
    _method, user, sealed = volume.provider_auth.split(" ", 2)
    sealer: Sealer = app.state.runtime.sealer
    assert job["payload"]["chap_user"] == user
    assert job["payload"]["chap_secret"] == sealer.unseal(sealed)


async def test_a_failed_restore_puts_the_volume_in_error_with_a_message(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    await attach(client, member, service, volume_id, connector())
    assert (await restore(client, service, [HOST])).status_code == 200
    [job] = await pending_exports(client, service)
    r = await finish(client, service, job, ok=False, error="tgtadm: no such file")
    assert r.status_code == 200, r.text
    assert await volume_status(client, member, volume_id) == "error"
    [message] = await messages_about(client, member, volume_id)
    assert "after the storage agent restarted" in message and "tgtadm: no such file" in message
    # The attachment stays for the detach that follows.
    shown = await client.get(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers("3.44")
    )
    assert len(shown.json()["volume"]["attachments"]) == 1


async def test_an_agent_restores_only_its_own_hosts(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    volume_id = await available_volume(client, member, service)
    await attach(client, member, service, volume_id, connector())
    other = await make_caller("service", ("service",), user_name="agent2")
    await report(client, other, "node2@file")
    # Another agent's host is refused; this one's own is untouched.
    fault(await restore(client, other, [HOST]), 403, "forbidden")
    assert await claim(client, service, [HOST]) is None
    # Its own backend holds no volume; a host never reported holds none either.
    r = await restore(client, other, ["node2@file", "node9@file"])
    assert r.status_code == 200, r.text
    assert r.json()["exports"] == {"node2@file": []}
    assert await claim(client, service, [HOST]) is None
