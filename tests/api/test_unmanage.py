"""os-unmanage of volumes and snapshots and the manageable listings, through the ASGI
app with the agent protocol spoken as an agent does: unmanage is a delete that keeps the
data (the row, its quota and its pool claim go once the agent let go), refused where
Cinder refuses it; a listing queues a job and answers with the agent's list in Cinder's
views, sorted and paged; a manage of a `volume-<id>` the database still has is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.helpers import (
    assert_ledgers_exact,
    available_volume,
    claim,
    create_snapshot,
    fault,
    finish,
    messages_about,
    quota_in_use,
    run_jobs,
    volume_action,
    volume_status,
)
from tests.conftest import Caller

BACKEND = "node1@file"


async def unmanage_job(client: httpx.AsyncClient, service: Caller, kind: str) -> dict[str, Any]:
    job = await claim(client, service, [BACKEND])
    assert job is not None and job["kind"] == kind, job
    return job


async def test_unmanaged_volume_leaves_the_database_and_gives_back_quota_and_capacity(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await available_volume(client, admin, service, size=3)
    r = await volume_action(client, admin, volume_id, "os-unmanage")
    assert r.status_code == 202, r.text
    assert await volume_status(client, admin, volume_id) == "unmanaging"
    job = await unmanage_job(client, service, "unmanage_volume")
    assert job["payload"]["volume"]["id"] == volume_id
    r = await finish(client, service, job)
    assert r.status_code == 200, r.text
    r = await client.get(f"/v3/{admin.project_id}/volumes/{volume_id}", headers=admin.headers())
    fault(r, 404, "itemNotFound")
    assert await quota_in_use(app, admin.project_id) == {}
    await assert_ledgers_exact(sessionmaker, admin.project_id)


async def test_unmanage_is_an_admin_action_refused_where_cinder_refuses_it(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    r = await volume_action(client, member, volume_id, "os-unmanage")
    fault(r, 403, "forbidden")
    create_snapshot_body = await create_snapshot(client, member, volume_id)
    await run_jobs(client, service, [BACKEND])
    r = await volume_action(client, admin, volume_id, "os-unmanage")
    assert "has snapshots" in fault(r, 400, "badRequest")
    r = await client.post(
        f"/v3/{admin.project_id}/snapshots/{create_snapshot_body['id']}/action",
        json={"os-unmanage": None},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [BACKEND])
    r = await volume_action(client, member, volume_id, "os-reserve")
    assert r.status_code == 202, r.text
    r = await volume_action(client, admin, volume_id, "os-unmanage")
    assert "status must be" in fault(r, 400, "badRequest")
    assert await volume_status(client, member, volume_id) == "attaching"


async def test_failed_unmanage_keeps_the_volume_managed_with_a_message(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, admin, service, size=2)
    await volume_action(client, admin, volume_id, "os-unmanage")
    job = await unmanage_job(client, service, "unmanage_volume")
    r = await finish(client, service, job, ok=False, error="target busy")
    assert r.status_code == 200, r.text
    assert await volume_status(client, admin, volume_id) == "available"
    assert any("target busy" in m for m in await messages_about(client, admin, volume_id))
    assert await quota_in_use(app, admin.project_id) == {"volumes": 1, "gigabytes": 2}


async def test_unmanaged_snapshot_gives_back_its_quota(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, admin, service, size=2)
    snapshot = await create_snapshot(client, admin, volume_id)
    await run_jobs(client, service, [BACKEND])
    url = f"/v3/{admin.project_id}/snapshots/{snapshot['id']}"
    r = await client.post(f"{url}/action", json={"os-unmanage": None}, headers=admin.headers())
    assert r.status_code == 202, r.text
    assert (await client.get(url, headers=admin.headers())).json()["snapshot"]["status"] == (
        "unmanaging"
    )
    job = await unmanage_job(client, service, "unmanage_snapshot")
    assert (await finish(client, service, job)).status_code == 200
    fault(await client.get(url, headers=admin.headers()), 404, "itemNotFound")
    assert await quota_in_use(app, admin.project_id) == {"volumes": 1, "gigabytes": 2}


async def test_managing_a_known_volumes_storage_is_refused(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, admin, service)
    body = {"host": f"{BACKEND}#pool", "ref": {"source-name": f"volume-{volume_id}"}}
    r = await client.post(
        f"/v3/{admin.project_id}/manageable_volumes",
        json={"volume": body},
        headers=admin.headers("3.8"),
    )
    assert "already managed" in fault(r, 400, "badRequest")
    # An unknown volume-<id> is adopted: the job says so to the driver.
    body["ref"] = {"source-name": "volume-00000000-0000-0000-0000-000000000001"}
    r = await client.post(
        f"/v3/{admin.project_id}/manageable_volumes",
        json={"volume": body},
        headers=admin.headers("3.8"),
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, [BACKEND])
    assert job is not None and job["payload"]["adopt"] is True


# --- manageable listings ----------------------------------------------------------------------

ITEMS = [
    {
        "reference": {"source-name": name},
        "size": size,
        "safe_to_manage": safe,
        "reason_not_safe": None if safe else "already managed",
        "cinder_id": cinder_id,
        "extra_info": None,
    }
    for name, size, safe, cinder_id in (
        ("b.img", 3, True, None),
        ("a.img", 1, True, None),
        ("volume-v1", 2, False, "v1"),
    )
]


async def listed(
    client: httpx.AsyncClient,
    admin: Caller,
    service: Caller,
    path: str,
    items: list[dict[str, Any]],
    version: str = "3.8",
) -> tuple[httpx.Response, dict[str, Any]]:
    """GET `path` as admin while the agent answers the listing job with `items`."""

    async def agent() -> dict[str, Any]:
        job = await claim(client, service, [BACKEND], wait=10)
        assert job is not None
        r = await finish(client, service, job, result={"items": items})
        assert r.status_code == 200, r.text
        return job

    response, job = await asyncio.gather(
        client.get(f"/v3/{admin.project_id}/{path}", headers=admin.headers(version)), agent()
    )
    return response, job


async def test_manageable_volumes_are_the_agents_list_in_cinders_views(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, admin, service)
    r, job = await listed(client, admin, service, f"manageable_volumes?host={BACKEND}", ITEMS)
    assert r.status_code == 200, r.text
    assert job["kind"] == "list_manageable_volumes"
    assert job["payload"]["known_ids"] == [volume_id]
    listing = r.json()["manageable-volumes"]
    # Cinder's default order: reference, descending; the summary view.
    assert [i["reference"]["source-name"] for i in listing] == ["volume-v1", "b.img", "a.img"]
    assert set(listing[0]) == {"reference", "size", "safe_to_manage"}

    path = f"manageable_volumes/detail?host={BACKEND}%23pool&sort=size:asc&limit=2&offset=1"
    r, _ = await listed(client, admin, service, path, ITEMS)
    assert r.status_code == 200, r.text
    detail = r.json()["manageable-volumes"]
    assert [i["size"] for i in detail] == [2, 3]
    assert detail[0] == {**ITEMS[2]}
    marker = '{"source-name": "b.img"}'
    r, _ = await listed(
        client, admin, service, f"manageable_volumes?host={BACKEND}&marker={marker}", ITEMS
    )
    assert [i["reference"]["source-name"] for i in r.json()["manageable-volumes"]] == ["a.img"]


async def test_manageable_snapshots_carry_their_source_reference(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await available_volume(client, admin, service)
    items = [
        {**ITEMS[0], "reference": {"source-name": "snapshot-s1"}, "source_reference": None},
    ]
    r, job = await listed(client, admin, service, f"manageable_snapshots?host={BACKEND}", items)
    assert r.status_code == 200, r.text
    assert job["kind"] == "list_manageable_snapshots"
    assert r.json()["manageable-snapshots"] == [
        {
            "reference": {"source-name": "snapshot-s1"},
            "size": 3,
            "safe_to_manage": True,
            "source_reference": {},
        }
    ]


@pytest.mark.parametrize(
    ("query", "version", "code", "message"),
    [
        ("", "3.8", 400, "host"),
        ("?host=node9@nothing", "3.8", 404, "could not be found"),
        (f"?host={BACKEND}&sort=name", "3.8", 400, "Invalid sort keys"),
        (f"?host={BACKEND}&cluster=c", "3.17", 400, "One and only one"),
        (f"?host={BACKEND}", "3.7", 404, ""),
    ],
)
async def test_manageable_listing_refusals(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    query: str,
    version: str,
    code: int,
    message: str,
) -> None:
    await available_volume(client, admin, service)
    r = await client.get(
        f"/v3/{admin.project_id}/manageable_volumes{query}", headers=admin.headers(version)
    )
    assert r.status_code == code, r.text
    assert message in r.text
    r = await client.get(
        f"/v3/{member.project_id}/manageable_volumes?host={BACKEND}", headers=member.headers("3.8")
    )
    fault(r, 403, "forbidden")


async def test_listing_the_agent_cannot_do_fails_with_its_reason(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await available_volume(client, admin, service)

    async def agent() -> None:
        job = await claim(client, service, [BACKEND], wait=10)
        assert job is not None
        await finish(client, service, job, ok=False, error="cannot list manageable volumes")

    r, _ = await asyncio.gather(
        client.get(
            f"/v3/{admin.project_id}/manageable_volumes?host={BACKEND}",
            headers=admin.headers("3.8"),
        ),
        agent(),
    )
    assert "cannot list manageable volumes" in fault(r, 500, "computeFault")
