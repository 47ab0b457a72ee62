"""Volumes API through the ASGI app, on SQLite (the tests marked both_databases on
PostgreSQL too)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Volume
from tests.api.helpers import (
    assert_ledgers_exact,
    available_volume,
    claim,
    file_pool,
    finish,
    report,
    run_jobs,
    volume_action,
)
from tests.api.helpers import create_volume as create
from tests.api.helpers import show_volume as show
from tests.conftest import Caller, MakeCaller


async def test_create_runs_the_job_and_becomes_available(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    r = await create(client, member, 2, name="v1", metadata={"a": "b"})
    assert r.status_code == 202, r.text
    volume = r.json()["volume"]
    assert volume["status"] == "creating" and volume["size"] == 2
    assert volume["metadata"] == {"a": "b"} and volume["volume_type"] == "__DEFAULT__"
    assert r.headers["x-openstack-request-id"].startswith("req-")

    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["kind"] == "create_volume"
    assert job["payload"]["volume"] == {
        "id": volume["id"],
        "size_gb": 2,
        "name": "v1",
        "pool": "pool",
        "host": "node1@file#pool",
        "provider_location": None,
    }
    assert (
        await finish(client, service, job, result={"provider_location": "/x"})
    ).status_code == 200
    assert (await show(client, member, volume["id"]))["status"] == "available"


async def test_failed_create_goes_to_error_with_a_message(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    volume = (await create(client, member)).json()["volume"]
    job = await claim(client, service, ["node1@file"])
    assert job is not None
    await finish(client, service, job, ok=False, error="no space left on device")
    assert (await show(client, member, volume["id"]))["status"] == "error"
    r = await client.get(
        f"/v3/{member.project_id}/messages?resource_uuid={volume['id']}",
        headers=member.headers("3.3"),
    )
    assert r.status_code == 200
    [message] = r.json()["messages"]
    assert "no space left on device" in message["user_message"]


@pytest.mark.parametrize("size", [0, -1, "abc", 2**31, True, None, 1.5, "", [1]])
async def test_bad_sizes_are_400(client: httpx.AsyncClient, member: Caller, size: Any) -> None:
    r = await create(client, member, size)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["code"] == 400


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b"null",
        b"",
        b'{"volume": 5}',
        b'{"volume": {}}',
        b'{"volume": {"size": 1, "metadata": {"k": 5}}}',
        b'{"volume": {"size": 1, "name": 7}}',
    ],
)
async def test_malformed_bodies_are_400(
    client: httpx.AsyncClient, member: Caller, body: bytes
) -> None:
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        content=body,
        headers={**member.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert "badRequest" in r.json()


async def test_unknown_type_and_zone(client: httpx.AsyncClient, member: Caller) -> None:
    r = await create(client, member, volume_type="nope")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = await create(client, member, availability_zone="mars")
    assert r.status_code == 400 and "mars" in r.json()["badRequest"]["message"]


async def test_huge_volume_has_no_backend(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{admin.project_id}",
        json={"quota_set": {"gigabytes": -1}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    r = await create(client, admin, 100000)
    assert r.status_code == 202
    volume = await show(client, admin, r.json()["volume"]["id"])
    assert volume["status"] == "error"
    r = await client.get(f"/v3/{admin.project_id}/messages", headers=admin.headers("3.3"))
    [message] = r.json()["messages"]
    assert message["event_id"] == "VOLUME_VOLUME_001_003"
    assert "CapacityFilter" in message["user_message"]


async def test_quota_is_413_and_nothing_is_left(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{member.project_id}",
        json={"quota_set": {"volumes": 1}},
        headers=admin.headers(),
    )
    assert r.status_code == 200
    assert (await create(client, member)).status_code == 202
    r = await create(client, member)
    assert r.status_code == 413 and "overLimit" in r.json()
    r = await client.get(f"/v3/{member.project_id}/volumes", headers=member.headers())
    assert len(r.json()["volumes"]) == 1
    r = await client.get(
        f"/v3/{member.project_id}/os-quota-sets/{member.project_id}?usage=true",
        headers=member.headers(),
    )
    assert r.json()["quota_set"]["volumes"] == {
        "limit": 1,
        "in_use": 1,
        "reserved": 0,
    }


async def test_other_projects_volume_is_404(
    client: httpx.AsyncClient, member: Caller, make_caller: MakeCaller, service: Caller
) -> None:
    await report(client, service)
    volume = (await create(client, member)).json()["volume"]
    other: Caller = await make_caller("other")
    for method in ("GET", "DELETE", "PUT"):
        r = await client.request(
            method,
            f"/v3/{other.project_id}/volumes/{volume['id']}",
            headers=other.headers(),
            json={"volume": {"name": "x"}},
        )
        assert r.status_code == 404, (method, r.text)
    r = await client.get(f"/v3/{member.project_id}/volumes", headers=other.headers())
    assert r.status_code == 403


async def test_microversions(client: httpx.AsyncClient, member: Caller) -> None:
    r = await client.get(f"/v3/{member.project_id}/volumes", headers=member.headers("3.999"))
    assert r.status_code == 406
    assert r.headers["openstack-api-version"] == "volume 3.0"
    assert "OpenStack-API-Version" in r.headers["vary"]
    r = await client.get(f"/v3/{member.project_id}/volumes", headers=member.headers("abc"))
    assert r.status_code == 400
    r = await client.get(f"/v3/{member.project_id}/volumes", headers=member.headers("latest"))
    assert r.headers["openstack-api-version"] == "volume 3.71"
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.2"))
    assert r.status_code == 404
    r = await client.get("/v3/volumes", headers=member.headers("3.66"))
    assert r.status_code == 404
    r = await client.get("/v3/volumes", headers=member.headers("3.67"))
    assert r.status_code == 200
    r = await client.get(
        f"/v3/{member.project_id}/volumes",
        headers={"X-Auth-Token": member.token, "X-OpenStack-Volume-API-Version": "3.5"},
    )
    assert r.headers["openstack-api-version"] == "volume 3.5"


async def test_versions_documents(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 300
    [v3] = r.json()["versions"]
    assert v3["min_version"] == "3.0" and v3["version"] == "3.71"
    r = await client.get("/v3/")
    assert r.status_code == 200 and r.json()["versions"][0]["id"] == "v3.0"


async def test_unauthenticated_is_401(client: httpx.AsyncClient, member: Caller) -> None:
    r = await client.get(f"/v3/{member.project_id}/volumes")
    assert r.status_code == 401 and "unauthorized" in r.json()
    r = await client.get(f"/v3/{member.project_id}/volumes", headers={"X-Auth-Token": "junk"})
    assert r.status_code == 401


async def test_update_metadata_and_delete(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    volume = (await create(client, member, name="v")).json()["volume"]
    await run_jobs(client, service, ["node1@file"])
    base = f"/v3/{member.project_id}/volumes/{volume['id']}"
    h = member.headers()
    r = await client.put(base, json={"volume": {"name": "renamed", "description": "d"}}, headers=h)
    assert r.status_code == 200 and r.json()["volume"]["name"] == "renamed"
    r = await client.post(f"{base}/metadata", json={"metadata": {"k": "v", "k2": "v2"}}, headers=h)
    assert r.json()["metadata"] == {"k": "v", "k2": "v2"}
    r = await client.put(f"{base}/metadata/k", json={"meta": {"k": "w"}}, headers=h)
    assert r.json() == {"meta": {"k": "w"}}
    r = await client.delete(f"{base}/metadata/k2", headers=h)
    assert r.status_code == 200
    r = await client.get(f"{base}/metadata/k2", headers=h)
    assert r.status_code == 404
    r = await client.put(f"{base}/metadata", json={"metadata": {"only": "this"}}, headers=h)
    assert (await show(client, member, volume["id"]))["metadata"] == {"only": "this"}

    r = await client.delete(base, headers=h)
    assert r.status_code == 202
    assert (await show(client, member, volume["id"]))["status"] == "deleting"
    r = await client.delete(base, headers=h)
    assert r.status_code == 400  # already deleting
    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["kind"] == "delete_volume"
    await finish(client, service, job)
    r = await client.get(base, headers=h)
    assert r.status_code == 404
    r = await client.get(f"/v3/{member.project_id}/limits", headers=h)
    assert r.json()["limits"]["absolute"]["totalVolumesUsed"] == 0


async def test_list_filters_sort_and_pages(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    ids = []
    for i in range(5):
        r = await create(client, member, i + 1, name=f"v{i}", metadata={"n": str(i % 2)})
        ids.append(r.json()["volume"]["id"])
    h = member.headers()
    base = f"/v3/{member.project_id}/volumes"
    r = await client.get(f"{base}/detail?sort=size:asc", headers=h)
    assert [v["size"] for v in r.json()["volumes"]] == [1, 2, 3, 4, 5]
    r = await client.get(f"{base}?name=v3", headers=h)
    assert [v["id"] for v in r.json()["volumes"]] == [ids[3]]
    r = await client.get(f'{base}/detail?metadata={{"n": "1"}}', headers=h)
    assert sorted(v["name"] for v in r.json()["volumes"]) == ["v1", "v3"]
    seen: list[str] = []
    url: str | None = f"{base}?limit=2&sort=size:desc"
    while url:
        r = await client.get(url, headers=h)
        body = r.json()
        seen += [v["name"] for v in body["volumes"]]
        links = body.get("volumes_links")
        url = links[0]["href"].replace("http://pumice.test", "") if links else None
    assert seen == ["v4", "v3", "v2", "v1", "v0"]
    r = await client.get(f"{base}?sort=bogus", headers=h)
    assert r.status_code == 400
    r = await client.get(f"{base}?marker=nope", headers=h)
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == "Marker nope could not be found."
    r = await client.get(f"{base}/detail?with_count=true", headers=member.headers("3.45"))
    assert r.json()["count"] == 5
    r = await client.get(f"{base}?status=creating&limit=abc", headers=h)
    assert r.status_code == 400


async def test_extend(client: httpx.AsyncClient, member: Caller, service: Caller) -> None:
    await report(client, service, pools=[file_pool(total=10)])
    volume = (await create(client, member, 4)).json()["volume"]
    await run_jobs(client, service, ["node1@file"])
    action = f"/v3/{member.project_id}/volumes/{volume['id']}/action"
    r = await client.post(action, json={"os-extend": {"new_size": 3}}, headers=member.headers())
    assert r.status_code == 400
    r = await client.post(action, json={"os-extend": {"new_size": 20}}, headers=member.headers())
    assert r.status_code == 202  # no room: stays available with a message
    assert (await show(client, member, volume["id"]))["status"] == "available"
    r = await client.post(action, json={"os-extend": {"new_size": 10}}, headers=member.headers())
    assert r.status_code == 202
    assert (await show(client, member, volume["id"]))["status"] == "extending"
    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["payload"]["new_size_gb"] == 10
    await finish(client, service, job)
    assert (await show(client, member, volume["id"]))["size"] == 10


async def test_extend_volume_completion_needs_an_attached_extend(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    volume = (await create(client, admin)).json()["volume"]
    await run_jobs(client, service, ["node1@file"])
    action = f"/v3/{admin.project_id}/volumes/{volume['id']}/action"
    body = {"os-extend_volume_completion": {"error": False}}
    r = await client.post(action, json=body, headers=admin.headers("3.70"))
    assert r.status_code == 404
    r = await client.post(action, json=body, headers=admin.headers("3.71"))
    assert r.status_code == 400 and "not waiting" in r.json()["badRequest"]["message"]


# --- an admin action on a volume whose job is in flight: every ledger stays exact -------


@pytest.mark.both_databases
async def test_force_delete_while_extending_releases_the_delta(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await available_volume(client, member, service, size=2)
    r = await volume_action(client, member, volume_id, "os-extend", {"new_size": 5})
    assert r.status_code == 202, r.text
    # The agent is slow; the admin force-deletes the volume stuck in 'extending'.
    r = await volume_action(client, admin, volume_id, "os-force_delete")
    assert r.status_code == 202, r.text
    # The agent runs both jobs (extend first, it was queued first), successfully.
    await run_jobs(client, service, ["node1@file"])
    async with sessionmaker() as session:
        assert await session.get(Volume, volume_id) is None
    await assert_ledgers_exact(sessionmaker, member.project_id)


@pytest.mark.both_databases
async def test_no_reset_status_while_extending_nor_to_a_transitional_status(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await available_volume(client, member, service, size=2)
    r = await volume_action(client, member, volume_id, "os-extend", {"new_size": 5})
    assert r.status_code == 202, r.text
    # Refused while the extend is in flight: its job would find a status it does not
    # expect and what it claimed would never be given back.
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "available"})
    assert r.status_code == 400 and "in flight" in r.text
    r = await volume_action(client, admin, volume_id, "os-reset_status", {"status": "extending"})
    assert r.status_code == 400  # never to a transitional status
    await run_jobs(client, service, ["node1@file"])
    await assert_ledgers_exact(sessionmaker, member.project_id)


@pytest.mark.both_databases
async def test_force_delete_supersedes_a_running_delete(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A user delete then an admin force delete: one delete job stays, so two results can
    never both release the volume's quota and claim."""
    await available_volume(client, member, service, size=3)
    volume_id = await available_volume(client, member, service, size=2)
    r = await client.delete(
        f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers()
    )
    assert r.status_code == 202, r.text
    first = await claim(client, service, ["node1@file"])
    assert first is not None
    r = await volume_action(client, admin, volume_id, "os-force_delete")
    assert r.status_code == 202, r.text
    second = await claim(client, service, ["node1@file"])
    assert second is not None and await claim(client, service, ["node1@file"]) is None
    late = await finish(client, service, first)
    assert late.status_code == 409  # superseded: its result changes nothing
    assert (await finish(client, service, second)).status_code == 200
    await assert_ledgers_exact(sessionmaker, member.project_id)
