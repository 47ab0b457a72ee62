"""Attaching volumes: the attachments API (3.27+) and the volume actions of Nova's older
protocol, with the agent played through the agent HTTP API. A connecting request
answers only once the agent has exported the volume: each test starts it as a task,
claims the export job as the agent does, finishes it, and awaits the answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Job, Volume, VolumeAttachment
from app.sealing import Sealer
from tests.api.helpers import (
    EXPORT_ANSWER,
    answer_export,
    available_volume,
    claim,
    connector,
    fault,
    make_type,
    messages_about,
    new_volume,
    report,
    run_jobs,
    show_volume,
    volume_action,
    volume_status,
)
from tests.conftest import Caller, MakeCaller

HOST = "node1@file"


def attachments_url(caller: Caller, *rest: str) -> str:
    return "/".join([f"/v3/{caller.project_id}/attachments", *rest])


async def create_attachment(
    client: httpx.AsyncClient,
    caller: Caller,
    volume_id: str,
    version: str = "3.44",
    **extra: Any,
) -> httpx.Response:
    body = {"volume_uuid": volume_id, "instance_uuid": "1b1c1f3e-0000-4000-8000-000000000001"}
    return await client.post(
        attachments_url(caller),
        json={"attachment": {**body, **extra}},
        headers=caller.headers(version),
    )


async def update_attachment(
    client: httpx.AsyncClient, caller: Caller, attachment_id: str, conn: dict[str, Any]
) -> httpx.Response:
    return await client.put(
        attachments_url(caller, attachment_id),
        json={"attachment": {"connector": conn}},
        headers=caller.headers("3.44"),
    )


async def connected(
    client: httpx.AsyncClient, service: Caller, request: Any, **answer: Any
) -> tuple[httpx.Response, dict[str, Any]]:
    """Run a connecting request while playing the agent: its answer and the job."""
    task = asyncio.create_task(request)
    job = await answer_export(client, service, **answer)
    return await task, job


async def complete(client: httpx.AsyncClient, caller: Caller, attachment_id: str) -> None:
    r = await client.post(
        attachments_url(caller, attachment_id, "action"),
        json={"os-complete": None},
        headers=caller.headers("3.44"),
    )
    assert r.status_code == 204, r.text


async def test_create_connect_complete_and_delete_an_attachment(
    app: FastAPI,
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await available_volume(client, member, service)
    r = await create_attachment(client, member, volume_id)
    assert r.status_code == 200, r.text
    attachment = r.json()["attachment"]
    assert attachment["status"] == "reserved" and attachment["connection_info"] is None
    assert await volume_status(client, member, volume_id) == "reserved"

    r, job = await connected(
        client, service, update_attachment(client, member, attachment["id"], connector())
    )
    assert r.status_code == 200, r.text
    # The agent got the secret in the clear; the jobs table holds it sealed.
    payload = job["payload"]
    assert payload["initiators"] == ["192.0.2.10"] and payload["read_only"] is False
    secret = payload["chap_secret"]
    assert len(secret) == 16
    async with sessionmaker() as session:
        row = await session.get(Job, job["id"])
        assert row is not None and secret not in json.dumps(row.payload)
        sealer: Sealer = app.state.runtime.sealer
        assert sealer.unseal(row.payload["chap_secret"]) == secret
        row_volume = await session.get(Volume, volume_id)
        assert row_volume is not None and secret not in (row_volume.provider_auth or "")

    info = r.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "iscsi"
    data = info["data"]
    assert data["auth_password"] == secret and data["auth_username"] == payload["chap_user"]
    assert data["target_iqn"] == EXPORT_ANSWER["target_iqn"]
    assert data["target_portals"] == [EXPORT_ANSWER["target_portal"]]
    assert data["target_luns"] == [1] and data["target_discovered"] is False
    assert data["access_mode"] == "rw" and data["volume_id"] == volume_id
    assert r.json()["attachment"]["status"] == "attaching"
    assert await volume_status(client, member, volume_id) == "attaching"

    # Show and list never give the password.
    shown = await client.get(
        attachments_url(member, attachment["id"]), headers=member.headers("3.44")
    )
    assert shown.json()["attachment"]["connection_info"]["data"]["auth_username"]
    for url in (attachments_url(member, attachment["id"]), attachments_url(member, "detail")):
        text = (await client.get(url, headers=member.headers("3.44"))).text
        assert secret not in text and "auth_password" not in text

    await complete(client, member, attachment["id"])
    volume = await show_volume(client, member, volume_id)
    assert volume["status"] == "in-use"
    [item] = volume["attachments"]
    assert item["attachment_id"] == attachment["id"] and item["host_name"] == "compute1"
    assert item["server_id"] == "1b1c1f3e-0000-4000-8000-000000000001"

    r = await client.delete(
        attachments_url(member, attachment["id"]), headers=member.headers("3.44")
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"attachments": []}
    assert await volume_status(client, member, volume_id) == "available"
    # The last attachment gone, the export goes.
    unexport = await claim(client, service, [HOST])
    assert unexport is not None and unexport["kind"] == "unexport_volume"
    listed = await client.get(attachments_url(member), headers=member.headers("3.44"))
    assert listed.json() == {"attachments": []}


async def test_a_second_export_reuses_the_volume_chap_account(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    first = (await create_attachment(client, member, volume_id)).json()["attachment"]
    _, job1 = await connected(
        client, service, update_attachment(client, member, first["id"], connector())
    )
    r = await client.delete(attachments_url(member, first["id"]), headers=member.headers("3.44"))
    assert r.status_code == 200
    await answer_export(client, service)  # the unexport
    second = (await create_attachment(client, member, volume_id)).json()["attachment"]
    _, job2 = await connected(
        client, service, update_attachment(client, member, second["id"], connector())
    )
    assert job2["payload"]["chap_user"] == job1["payload"]["chap_user"]
    assert job2["payload"]["chap_secret"] == job1["payload"]["chap_secret"]


async def test_create_with_a_connector_and_read_only_mode_at_3_54(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    r, job = await connected(
        client,
        service,
        create_attachment(client, member, volume_id, "3.54", mode="ro", connector=connector()),
    )
    assert r.status_code == 200, r.text
    assert job["payload"]["read_only"] is True
    body = r.json()["attachment"]
    assert body["attach_mode"] == "ro"
    assert body["connection_info"]["data"]["access_mode"] == "ro"
    # Before 3.54 the mode is not read: the attachment is rw.
    other = await available_volume(client, member, service)
    r = await create_attachment(client, member, other, "3.53", mode="ro")
    assert r.json()["attachment"]["attach_mode"] == "rw"


async def test_the_attachments_api_starts_at_3_27_and_complete_at_3_44(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    fault(await create_attachment(client, member, volume_id, "3.26"), 404, "itemNotFound")
    r = await create_attachment(client, member, volume_id, "3.27")
    assert r.status_code == 200
    r = await client.post(
        attachments_url(member, r.json()["attachment"]["id"], "action"),
        json={"os-complete": None},
        headers=member.headers("3.43"),
    )
    fault(r, 404, "itemNotFound")


async def test_complete_ignores_the_value_of_os_complete(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    """openstacksdk (`openstack volume attachment complete`) sends the attachment's id
    as the value, cinderclient null; Cinder reads neither."""
    volume_id = await available_volume(client, member, service)
    attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
    r, _job = await connected(
        client, service, update_attachment(client, member, attachment["id"], connector())
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        attachments_url(member, attachment["id"], "action"),
        json={"os-complete": attachment["id"]},
        headers=member.headers("3.44"),
    )
    assert r.status_code == 204, r.text
    assert await volume_status(client, member, volume_id) == "in-use"
    r = await client.post(
        attachments_url(member, attachment["id"], "action"),
        json={"os-complete": None, "os-other": None},
        headers=member.headers("3.44"),
    )
    fault(r, 400, "badRequest")


async def test_an_empty_connector_reserves_without_connecting(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    """What cinderclient and the openstack client send when not told to connect."""
    volume_id = await available_volume(client, member, service)
    r = await create_attachment(client, member, volume_id, connector={})
    assert r.status_code == 200, r.text
    assert r.json()["attachment"]["connection_info"] is None
    assert await volume_status(client, member, volume_id) == "reserved"


async def test_a_volume_of_a_multiattach_type_is_multiattach(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await make_type(client, admin, "shared", {"multiattach": "<is> True"})
    await make_type(client, admin, "single", {})
    shared = await available_volume(client, member, service, volume_type="shared")
    single = await available_volume(client, member, service, volume_type="single")
    assert (await show_volume(client, member, shared))["multiattach"] is True
    assert (await show_volume(client, member, single))["multiattach"] is False


async def test_a_volume_that_is_not_multiattach_takes_one_attachment(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    assert (await create_attachment(client, member, volume_id)).status_code == 200
    message = fault(await create_attachment(client, member, volume_id), 400, "badRequest")
    assert "status must be available" in message


async def test_multiattach_serves_both_hosts_and_reexports_on_detach(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service, multiattach=True)
    ids = []
    for ip, host in (("192.0.2.10", "compute1"), ("192.0.2.11", "compute2")):
        attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
        r, job = await connected(
            client,
            service,
            update_attachment(client, member, attachment["id"], connector(ip, host)),
        )
        assert r.status_code == 200, r.text
        await complete(client, member, attachment["id"])
        ids.append(attachment["id"])
    # The second export lets both hosts in.
    assert job["payload"]["initiators"] == ["192.0.2.10", "192.0.2.11"]
    volume = await show_volume(client, member, volume_id)
    assert volume["status"] == "in-use" and len(volume["attachments"]) == 2

    r = await client.delete(attachments_url(member, ids[0]), headers=member.headers("3.44"))
    assert [a["id"] for a in r.json()["attachments"]] == [ids[1]]
    job = await answer_export(client, service)
    assert job["kind"] == "export_volume" and job["payload"]["initiators"] == ["192.0.2.11"]
    assert await volume_status(client, member, volume_id) == "in-use"
    await client.delete(attachments_url(member, ids[1]), headers=member.headers("3.44"))
    assert (await answer_export(client, service))["kind"] == "unexport_volume"
    assert await volume_status(client, member, volume_id) == "available"


async def test_a_failed_export_fails_the_request_and_frees_the_volume(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
    r, _ = await connected(
        client,
        service,
        update_attachment(client, member, attachment["id"], connector()),
        ok=False,
        error="tgtadm: target busy",
    )
    assert "tgtadm: target busy" in fault(r, 500, "computeFault")
    assert await volume_status(client, member, volume_id) == "available"
    r = await client.get(attachments_url(member, attachment["id"]), headers=member.headers("3.44"))
    assert r.json()["attachment"]["status"] == "error_attaching"
    assert any("tgtadm: target busy" in m for m in await messages_about(client, member, volume_id))


async def test_an_export_the_agent_does_not_answer_in_time_fails_explicitly(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    app.state.runtime.settings.connection_timeout = 0.3
    volume_id = await available_volume(client, member, service)
    attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
    r = await update_attachment(client, member, attachment["id"], connector())
    assert "did not export it within 0.3 seconds" in fault(r, 500, "computeFault")
    assert await volume_status(client, member, volume_id) == "available"
    # The cancelled job is not handed to an agent that comes late.
    assert await claim(client, service, [HOST]) is None
    r = await client.get(attachments_url(member, attachment["id"]), headers=member.headers("3.44"))
    assert r.json()["attachment"]["status"] == "error_attaching"


async def test_the_volume_actions_attach_and_detach_cycle(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    fault(await volume_action(client, member, volume_id, "os-begin_detaching"), 400, "badRequest")
    assert (await volume_action(client, member, volume_id, "os-reserve")).status_code == 202
    assert await volume_status(client, member, volume_id) == "attaching"
    message = fault(await volume_action(client, member, volume_id, "os-reserve"), 400, "badRequest")
    assert "must be available to reserve" in message

    r, job = await connected(
        client,
        service,
        volume_action(
            client, member, volume_id, "os-initialize_connection", {"connector": connector()}
        ),
    )
    assert r.status_code == 200, r.text
    data = r.json()["connection_info"]["data"]
    assert data["auth_password"] == job["payload"]["chap_secret"]

    r = await volume_action(
        client,
        member,
        volume_id,
        "os-attach",
        {"instance_uuid": "1b1c1f3e-0000-4000-8000-000000000002", "mountpoint": "/dev/vdb"},
    )
    assert r.status_code == 202, r.text
    volume = await show_volume(client, member, volume_id)
    assert volume["status"] == "in-use"
    [item] = volume["attachments"]
    assert item["device"] == "/dev/vdb" and item["host_name"] == "compute1"

    assert (await volume_action(client, member, volume_id, "os-begin_detaching")).status_code == 202
    assert await volume_status(client, member, volume_id) == "detaching"
    assert (await volume_action(client, member, volume_id, "os-roll_detaching")).status_code == 202
    assert await volume_status(client, member, volume_id) == "in-use"
    await volume_action(client, member, volume_id, "os-begin_detaching")
    r = await volume_action(
        client, member, volume_id, "os-terminate_connection", {"connector": connector()}
    )
    assert r.status_code == 202
    assert (await claim(client, service, [HOST]))["kind"] == "unexport_volume"  # type: ignore[index]
    r = await volume_action(
        client, member, volume_id, "os-detach", {"attachment_id": item["attachment_id"]}
    )
    assert r.status_code == 202, r.text
    volume = await show_volume(client, member, volume_id)
    assert volume["status"] == "available" and volume["attachments"] == []


async def test_os_attach_checks_its_target_and_mode(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    await volume_action(client, member, volume_id, "os-reserve")
    both = {"instance_uuid": "i", "host_name": "h", "mountpoint": "/dev/vdb"}
    assert "simultaneously" in fault(
        await volume_action(client, member, volume_id, "os-attach", both), 400, "badRequest"
    )
    bad = {"host_name": "h", "mode": "rx"}
    assert "invalid mode" in fault(
        await volume_action(client, member, volume_id, "os-attach", bad), 400, "badRequest"
    )
    r = await volume_action(client, member, volume_id, "os-unreserve")
    assert r.status_code == 202 and await volume_status(client, member, volume_id) == "available"


async def test_force_detach_is_for_admins(
    client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    await volume_action(client, member, volume_id, "os-reserve")
    await volume_action(
        client, member, volume_id, "os-attach", {"host_name": "h", "mountpoint": "/d"}
    )
    fault(await volume_action(client, member, volume_id, "os-force_detach", {}), 403, "forbidden")
    r = await volume_action(client, admin, volume_id, "os-force_detach", {})
    assert r.status_code == 202, r.text
    assert await volume_status(client, member, volume_id) == "available"


async def test_only_its_user_a_service_or_an_admin_deletes_a_connected_attachment(
    client: httpx.AsyncClient,
    member: Caller,
    admin: Caller,
    service: Caller,
    make_caller: MakeCaller,
) -> None:
    """OSSA-2023-003: another member of the project cannot pull a shared volume from
    under the instance using it."""
    other: Caller = await make_caller("demo", ("member",), user_name="mallory")
    volume_id = await available_volume(client, member, service, multiattach=True)
    attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
    await connected(
        client, service, update_attachment(client, member, attachment["id"], connector())
    )
    r = await client.delete(attachments_url(other, attachment["id"]), headers=other.headers("3.44"))
    assert "using the Compute API" in fault(r, 409, "conflictingRequest")
    r = await client.delete(
        f"/v3/{member.project_id}/attachments/{attachment['id']}", headers=admin.headers("3.44")
    )
    assert r.status_code == 200, r.text


async def test_an_attached_volume_is_neither_deleted_moved_nor_reset(
    client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    assert (await create_attachment(client, member, volume_id)).status_code == 200
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers()
    )
    fault(r, 400, "badRequest")
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}?force=true", headers=admin.headers()
    )
    assert "has attachments" in fault(r, 400, "badRequest")
    r = await volume_action(client, admin, volume_id, "os-migrate_volume", {"host": "node1@x#p"})
    assert "has attachments" in fault(r, 400, "badRequest")
    r = await volume_action(client, member, volume_id, "os-retype", {"new_type": "x"})
    assert "has attachments" in fault(r, 400, "badRequest")
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "available"})
    assert "cannot be available" in fault(r, 400, "badRequest")


async def test_reset_status_cannot_make_a_volume_in_use_without_attachments(
    client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "in-use"})
    assert "cannot be in-use" in fault(r, 400, "badRequest")


async def test_the_secret_is_in_no_listing_job_row_or_log(
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    volume_id = await available_volume(client, member, service)
    attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
    r, job = await connected(
        client, service, update_attachment(client, member, attachment["id"], connector())
    )
    secret = job["payload"]["chap_secret"]
    assert r.json()["attachment"]["connection_info"]["data"]["auth_password"] == secret
    await complete(client, member, attachment["id"])
    for url in (
        f"/v3/{member.project_id}/volumes/{volume_id}",
        f"/v3/{member.project_id}/volumes/detail",
        attachments_url(member),
        attachments_url(member, "detail"),
        attachments_url(member, attachment["id"]),
    ):
        assert secret not in (await client.get(url, headers=member.headers("3.54"))).text
    async with sessionmaker() as session:
        for row in (await session.scalars(select(Job))).all():
            assert secret not in json.dumps(row.payload)
        for att in (await session.scalars(select(VolumeAttachment))).all():
            assert secret not in json.dumps(att.connection_info)
    captured = capsys.readouterr()
    assert secret not in caplog.text + captured.out + captured.err


@pytest.mark.both_databases  # the conditional update decides under real concurrency
async def test_two_racing_attachments_of_a_single_attach_volume_cannot_both_win(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    for _ in range(3):
        volume_id = await available_volume(client, member, service)
        responses = await asyncio.gather(
            *(create_attachment(client, member, volume_id) for _ in range(2))
        )
        assert sorted(r.status_code for r in responses) == [200, 400], [r.text for r in responses]
        listed = await client.get(
            attachments_url(member) + f"?volume_id={volume_id}", headers=member.headers("3.44")
        )
        assert len(listed.json()["attachments"]) == 1


async def test_a_detached_volume_is_deleted_with_its_attachment_records(
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await available_volume(client, member, service)
    attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
    r = await client.delete(
        attachments_url(member, attachment["id"]), headers=member.headers("3.44")
    )
    assert r.status_code == 200
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers()
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [HOST])
    async with sessionmaker() as session:
        assert await session.get(Volume, volume_id) is None
        assert (await session.scalars(select(VolumeAttachment))).all() == []


async def connected_available_volume(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> str:
    """An available volume that a host connected to without reserving it first."""
    volume_id = await available_volume(client, member, service)
    r, job = await connected(
        client,
        service,
        volume_action(
            client, member, volume_id, "os-initialize_connection", {"connector": connector()}
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json()["connection_info"]["data"]["auth_password"] == job["payload"]["chap_secret"]
    return volume_id


async def test_a_host_connects_an_available_volume_then_attaches_it(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await connected_available_volume(client, member, service)
    # Reserved by the connection: nobody else reserves it meanwhile.
    assert await volume_status(client, member, volume_id) == "attaching"
    fault(await volume_action(client, member, volume_id, "os-reserve"), 400, "badRequest")
    r = await volume_action(
        client, member, volume_id, "os-attach", {"host_name": "compute1", "mountpoint": "/dev/sdb"}
    )
    assert r.status_code == 202, r.text
    volume = await show_volume(client, member, volume_id)
    assert volume["status"] == "in-use" and len(volume["attachments"]) == 1


async def test_a_connection_that_never_attached_gives_the_volume_back_when_it_ends(
    client: httpx.AsyncClient,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await connected_available_volume(client, member, service)
    r = await volume_action(
        client, member, volume_id, "os-terminate_connection", {"connector": connector()}
    )
    assert r.status_code == 202, r.text
    assert (await claim(client, service, [HOST]))["kind"] == "unexport_volume"  # type: ignore[index]
    assert await volume_status(client, member, volume_id) == "available"
    async with sessionmaker() as session:
        rows = (
            await session.scalars(
                select(VolumeAttachment).where(VolumeAttachment.volume_id == volume_id)
            )
        ).all()
        assert [a.attach_status for a in rows] == ["detached"]
    # os-unreserve after it (Nova's cleanup) has nothing left to do.
    assert (await volume_action(client, member, volume_id, "os-unreserve")).status_code == 202
    assert await volume_status(client, member, volume_id) == "available"


async def test_a_volume_being_created_is_not_connected(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    volume_id = await new_volume(client, member)
    r = await volume_action(
        client, member, volume_id, "os-initialize_connection", {"connector": connector()}
    )
    assert "must be available, attaching or in-use" in fault(r, 400, "badRequest")


@pytest.mark.parametrize(
    ("attached", "steps", "refusal"),
    [
        (False, ["IN-USE"], "cannot be in-use"),
        (False, ["error", "in-use"], "cannot be in-use"),
        (True, ["Available"], "cannot be available"),
        (True, ["error", "available"], "cannot be available"),
        (True, ["error", "in-use"], None),
        (True, ["in-use"], None),
        (False, ["error", "available"], None),
    ],
)
async def test_reset_status_keeps_in_use_and_attachments_together(
    client: httpx.AsyncClient,
    member: Caller,
    admin: Caller,
    service: Caller,
    attached: bool,
    steps: list[str],
    refusal: str | None,
) -> None:
    volume_id = await available_volume(client, member, service)
    if attached:
        attachment = (await create_attachment(client, member, volume_id)).json()["attachment"]
        r, _job = await connected(
            client, service, update_attachment(client, member, attachment["id"], connector())
        )
        assert r.status_code == 200, r.text
        await complete(client, member, attachment["id"])
    *before, last = steps
    for status in before:
        r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": status})
        assert r.status_code == 202, r.text
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": last})
    if refusal is None:
        assert r.status_code == 202, r.text
        assert await volume_status(client, member, volume_id) == last
    else:
        assert refusal in fault(r, 400, "badRequest")
        assert await volume_status(client, member, volume_id) == (
            before[-1] if before else ("in-use" if attached else "available")
        )
