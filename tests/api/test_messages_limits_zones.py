"""Absolute limits, availability zones and user messages, on SQLite."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import claim, fault, file_pool, finish, report
from tests.conftest import Caller, MakeCaller


async def create(
    client: httpx.AsyncClient, caller: Caller, size: int = 1, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/v3/{caller.project_id}/volumes",
        json={"volume": {"size": size, **extra}},
        headers=caller.headers(),
    )
    assert r.status_code == 202, r.text
    volume: dict[str, Any] = r.json()["volume"]
    return volume


async def absolute(
    client: httpx.AsyncClient, caller: Caller, query: str = "", version: str | None = None
) -> dict[str, int]:
    r = await client.get(f"/v3/{caller.project_id}/limits{query}", headers=caller.headers(version))
    assert r.status_code == 200, r.text
    assert r.json()["limits"]["rate"] == []
    out: dict[str, int] = r.json()["limits"]["absolute"]
    return out


# --- limits -------------------------------------------------------------------------------


async def test_limits_follow_quotas_and_usage(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    assert await absolute(client, member) == {
        "maxTotalVolumes": 100,
        "totalVolumesUsed": 0,
        "maxTotalVolumeGigabytes": 10000,
        "totalGigabytesUsed": 0,
        "maxTotalSnapshots": 10,
        "totalSnapshotsUsed": 0,
        "maxTotalBackups": 10,
        "totalBackupsUsed": 0,
        "maxTotalBackupGigabytes": 1000,
        "totalBackupGigabytesUsed": 0,
    }
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{member.project_id}",
        json={"quota_set": {"volumes": 4, "gigabytes": 30, "snapshots": -1}},
        headers=admin.headers(),
    )
    assert r.status_code == 200
    await report(client, service)
    await create(client, member, 3)
    await create(client, member, 5)
    limits = await absolute(client, member)
    assert limits["maxTotalVolumes"] == 4 and limits["totalVolumesUsed"] == 2
    assert limits["maxTotalVolumeGigabytes"] == 30 and limits["totalGigabytesUsed"] == 8
    assert limits["maxTotalSnapshots"] == -1
    # The admin's own limits are the admin project's.
    limits = await absolute(client, admin)
    assert limits["maxTotalVolumes"] == 100 and limits["totalVolumesUsed"] == 0
    # From 3.39 an admin may name the project.
    limits = await absolute(client, admin, f"?project_id={member.project_id}", "3.39")
    assert limits["maxTotalVolumes"] == 4 and limits["totalGigabytesUsed"] == 8
    limits = await absolute(client, admin, f"?project_id={member.project_id}", "3.38")
    assert limits["maxTotalVolumes"] == 100
    # A member may not: the filter is ignored.
    limits = await absolute(client, member, f"?project_id={admin.project_id}", "3.39")
    assert limits["maxTotalVolumes"] == 4
    # Another project's URL is 403 for a member; the 3.67 form works.
    r = await client.get(f"/v3/{admin.project_id}/limits", headers=member.headers())
    fault(r, 403, "forbidden")
    r = await client.get("/v3/limits", headers=member.headers("3.67"))
    assert r.status_code == 200
    assert r.json()["limits"]["absolute"]["totalGigabytesUsed"] == 8


# --- availability zones ---------------------------------------------------------------------


async def zones(client: httpx.AsyncClient, caller: Caller) -> list[dict[str, Any]]:
    r = await client.get(f"/v3/{caller.project_id}/os-availability-zone", headers=caller.headers())
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["availabilityZoneInfo"]
    return out


async def test_availability_zones(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    # No backend yet: the default zone, not available.
    assert await zones(client, member) == [{"zoneName": "nova", "zoneState": {"available": False}}]
    await report(client, service, host="node1@file", zone="nova")
    await report(client, service, host="node2@file", zone="az2", pools=[file_pool("p2")])
    assert await zones(client, member) == [
        {"zoneName": "az2", "zoneState": {"available": True}},
        {"zoneName": "nova", "zoneState": {"available": True}},
    ]
    volume = await create(client, member, availability_zone="az2")
    assert volume["availability_zone"] == "az2"
    r = await client.get(f"/v3/{member.project_id}/os-availability-zone")
    fault(r, 401, "unauthorized")


# --- messages -------------------------------------------------------------------------------


def messages_url(caller: Caller, rest: str = "") -> str:
    return f"/v3/{caller.project_id}/messages{rest}"


async def list_messages(
    client: httpx.AsyncClient, caller: Caller, query: str = ""
) -> list[dict[str, Any]]:
    r = await client.get(messages_url(caller, query), headers=caller.headers("3.3"))
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["messages"]
    return out


async def failed_create(
    client: httpx.AsyncClient, caller: Caller, service: Caller, error: str
) -> dict[str, Any]:
    """A volume whose create job fails on the agent: one ERROR message."""
    volume = await create(client, caller)
    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["resource_id"] == volume["id"]
    r = await finish(client, service, job, ok=False, error=error)
    assert r.status_code == 200
    return volume


async def failed_extend(
    client: httpx.AsyncClient, caller: Caller, service: Caller, error: str
) -> dict[str, Any]:
    """An available volume whose extend job fails on the agent: one ERROR message."""
    volume = await create(client, caller)
    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["resource_id"] == volume["id"]
    assert (
        await finish(client, service, job, result={"provider_location": "/x"})
    ).status_code == 200
    r = await client.post(
        f"/v3/{caller.project_id}/volumes/{volume['id']}/action",
        json={"os-extend": {"new_size": 2}},
        headers=caller.headers(),
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["kind"] == "extend_volume"
    assert (await finish(client, service, job, ok=False, error=error)).status_code == 200
    return volume


async def test_messages(
    client: httpx.AsyncClient, member: Caller, service: Caller, admin: Caller
) -> None:
    await report(client, service)
    first = await failed_create(client, member, service, "first failure")
    second = await failed_extend(client, member, service, "second failure")
    # No backend at all for this one (the pool is 100 GB): the scheduler's message.
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 500}},
        headers={**member.headers(), "X-OpenStack-Request-ID": "ignored"},
    )
    assert r.status_code == 202
    third = r.json()["volume"]
    third_request = r.headers["x-openstack-request-id"]

    listed = await list_messages(client, member)
    assert len(listed) == 3
    by_resource = {m["resource_uuid"]: m for m in listed}
    assert set(by_resource) == {first["id"], second["id"], third["id"]}
    message = by_resource[first["id"]]
    assert set(message) == {
        "id",
        "event_id",
        "user_message",
        "message_level",
        "resource_type",
        "resource_uuid",
        "created_at",
        "guaranteed_until",
        "request_id",
        "links",
    }
    assert message["message_level"] == "ERROR" and message["resource_type"] == "VOLUME"
    assert "first failure" in message["user_message"]
    assert message["guaranteed_until"] > message["created_at"]
    assert message["links"][0] == {
        "href": f"http://pumice.test/v3/{member.project_id}/messages/{message['id']}",
        "rel": "self",
    }
    assert by_resource[third["id"]]["event_id"] == "VOLUME_VOLUME_001_003"
    assert by_resource[third["id"]]["request_id"] == third_request

    # Show.
    r = await client.get(messages_url(member, f"/{message['id']}"), headers=member.headers("3.3"))
    assert r.status_code == 200 and r.json() == {"message": message}

    # Filters.
    assert [
        m["id"] for m in await list_messages(client, member, f"?resource_uuid={second['id']}")
    ] == [by_resource[second["id"]]["id"]]
    assert by_resource[second["id"]]["event_id"] == "VOLUME_VOLUME_007_009"
    assert "second failure" in by_resource[second["id"]]["user_message"]
    assert [
        m["resource_uuid"]
        for m in await list_messages(client, member, "?event_id=VOLUME_VOLUME_007_009")
    ] == [second["id"]]
    assert sorted(
        m["resource_uuid"]
        for m in await list_messages(client, member, "?event_id=VOLUME_VOLUME_001_003")
    ) == sorted([first["id"], third["id"]])
    assert [
        m["resource_uuid"]
        for m in await list_messages(client, member, f"?request_id={third_request}")
    ] == [third["id"]]
    assert len(await list_messages(client, member, "?message_level=ERROR")) == 3
    assert await list_messages(client, member, "?message_level=INFO") == []
    assert len(await list_messages(client, member, "?resource_type=VOLUME")) == 3

    # Sorting and pages.
    ascending = await list_messages(client, member, "?sort=created_at:asc")
    assert [m["resource_uuid"] for m in ascending] == [first["id"], second["id"], third["id"]]
    descending = await list_messages(client, member, "?sort=created_at:desc")
    assert [m["id"] for m in descending] == [m["id"] for m in reversed(ascending)]
    r = await client.get(
        messages_url(member, "?sort=created_at:asc&limit=2"), headers=member.headers("3.3")
    )
    body = r.json()
    assert [m["id"] for m in body["messages"]] == [m["id"] for m in ascending[:2]]
    next_url = body["messages_links"][0]["href"].replace("http://pumice.test", "")
    assert f"marker={ascending[1]['id']}" in next_url
    r = await client.get(next_url, headers=member.headers("3.3"))
    assert [m["id"] for m in r.json()["messages"]] == [ascending[2]["id"]]
    assert "messages_links" not in r.json()
    for query in ("?sort=user_message", "?sort=created_at:up", "?limit=-1"):
        r = await client.get(messages_url(member, query), headers=member.headers("3.3"))
        fault(r, 400, "badRequest")
    # An unknown marker is Cinder's MarkerNotFound: a 404.
    r = await client.get(messages_url(member, "?marker=nope"), headers=member.headers("3.3"))
    fault(r, 404, "itemNotFound")

    # Delete: 204, then gone.
    r = await client.delete(
        messages_url(member, f"/{message['id']}"), headers=member.headers("3.3")
    )
    assert r.status_code == 204 and r.content == b""
    r = await client.get(messages_url(member, f"/{message['id']}"), headers=member.headers("3.3"))
    fault(r, 404, "itemNotFound")
    r = await client.delete(
        messages_url(member, f"/{message['id']}"), headers=member.headers("3.3")
    )
    fault(r, 404, "itemNotFound")
    assert len(await list_messages(client, member)) == 2

    # An admin sees every project's messages.
    assert len(await list_messages(client, admin)) == 2


async def test_messages_of_another_project_and_old_versions(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    await report(client, service)
    await failed_create(client, member, service, "boom")
    [message] = await list_messages(client, member)
    other: Caller = await make_caller("other")
    assert await list_messages(client, other) == []
    for method in ("GET", "DELETE"):
        r = await client.request(
            method, messages_url(other, f"/{message['id']}"), headers=other.headers("3.3")
        )
        fault(r, 404, "itemNotFound")
    # Through the member's URL: 403 before anything is looked up.
    r = await client.get(messages_url(member), headers=other.headers("3.3"))
    fault(r, 403, "forbidden")
    # A reader may look but not delete.
    reader: Caller = await make_caller("demo", ("reader",))
    assert [m["id"] for m in await list_messages(client, reader)] == [message["id"]]
    r = await client.delete(
        messages_url(reader, f"/{message['id']}"), headers=reader.headers("3.3")
    )
    fault(r, 403, "forbidden")

    # Below 3.3 the API does not exist.
    for version in (None, "3.0", "3.2"):
        for method, rest in (
            ("GET", ""),
            ("GET", f"/{message['id']}"),
            ("DELETE", f"/{message['id']}"),
        ):
            r = await client.request(
                method, messages_url(member, rest), headers=member.headers(version)
            )
            fault(r, 404, "itemNotFound")
    assert [m["id"] for m in await list_messages(client, member)] == [message["id"]]
