"""Quota sets and quota class sets as cinderclient and openstacksdk use them, and
quota enforcement on create and extend, on SQLite."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import create_volume as create
from tests.api.helpers import fault, file_pool, report, run_jobs, set_quota
from tests.conftest import Caller, MakeCaller

# The test settings: quota_volumes=100, quota_gigabytes=10000, the rest from app.config.
DEFAULTS = {
    "volumes": 100,
    "gigabytes": 10000,
    "snapshots": 10,
    "backups": 10,
    "backup_gigabytes": 1000,
    "groups": 10,
    "per_volume_gigabytes": -1,
}


def quota_url(caller: Caller, target: str, rest: str = "") -> str:
    return f"/v3/{caller.project_id}/os-quota-sets/{target}{rest}"


async def show(
    client: httpx.AsyncClient, caller: Caller, target: str, usage: bool = False
) -> dict[str, Any]:
    r = await client.get(
        quota_url(caller, target, f"?usage={usage}"),
        headers=caller.headers(),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["quota_set"]
    return body


async def volume_count(client: httpx.AsyncClient, caller: Caller) -> int:
    r = await client.get(f"/v3/{caller.project_id}/volumes", headers=caller.headers())
    assert r.status_code == 200
    return len(r.json()["volumes"])


async def test_show_own_and_others(
    client: httpx.AsyncClient, admin: Caller, member: Caller, make_caller: MakeCaller
) -> None:
    assert await show(client, member, member.project_id) == {
        "id": member.project_id,
        **DEFAULTS,
    }
    other: Caller = await make_caller("other")
    # Another project's quota, through the member's own URL: 403.
    r = await client.get(quota_url(member, other.project_id), headers=member.headers())
    fault(r, 403, "forbidden")
    r = await client.get(quota_url(member, other.project_id, "/defaults"), headers=member.headers())
    fault(r, 403, "forbidden")
    # ... or through the other project's URL: 403 as well.
    r = await client.get(quota_url(other, other.project_id), headers=member.headers())
    fault(r, 403, "forbidden")
    # An admin may read any project's.
    assert (await show(client, admin, other.project_id))["volumes"] == 100
    # The 3.67 URL without a project id.
    r = await client.get(f"/v3/os-quota-sets/{member.project_id}", headers=member.headers("3.67"))
    assert r.status_code == 200 and r.json()["quota_set"]["gigabytes"] == 10000
    r = await client.get(
        quota_url(member, member.project_id, "?usage=perhaps"), headers=member.headers()
    )
    fault(r, 400, "badRequest")


async def test_usage_shape_follows_volumes(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (await create(client, member, 3)).status_code == 202
    assert (await create(client, member, 4)).status_code == 202
    body = await show(client, member, member.project_id, usage=True)
    assert body == {
        "id": member.project_id,
        **{
            k: {
                "limit": v,
                "in_use": {"volumes": 2, "gigabytes": 7}.get(k, 0),
                "reserved": 0,
            }
            for k, v in DEFAULTS.items()
        },
    }
    # Deleting gives the usage back once the agent has done it.
    await run_jobs(client, service, ["node1@file"])
    volumes = (
        await client.get(f"/v3/{member.project_id}/volumes", headers=member.headers())
    ).json()["volumes"]
    for v in volumes:
        r = await client.delete(
            f"/v3/{member.project_id}/volumes/{v['id']}", headers=member.headers()
        )
        assert r.status_code == 202
    await run_jobs(client, service, ["node1@file"])
    body = await show(client, member, member.project_id, usage=True)
    assert body["volumes"]["in_use"] == 0 and body["gigabytes"]["in_use"] == 0


async def test_defaults(client: httpx.AsyncClient, admin: Caller, member: Caller) -> None:
    r = await client.get(
        quota_url(member, member.project_id, "/defaults"), headers=member.headers()
    )
    assert r.status_code == 200
    assert r.json() == {"quota_set": {"id": member.project_id, **DEFAULTS}}
    # A project's own limit does not change its defaults.
    assert (await set_quota(client, admin, member.project_id, volumes=3)).status_code == 200
    r = await client.get(
        quota_url(member, member.project_id, "/defaults"), headers=member.headers()
    )
    assert r.json()["quota_set"]["volumes"] == 100
    assert (await show(client, member, member.project_id))["volumes"] == 3


async def test_update(client: httpx.AsyncClient, admin: Caller, member: Caller) -> None:
    r = await set_quota(client, admin, member.project_id, volumes=5, gigabytes="50", snapshots=-1)
    assert r.status_code == 200, r.text
    assert r.json() == {"quota_set": {**DEFAULTS, "volumes": 5, "gigabytes": 50, "snapshots": -1}}
    assert await show(client, member, member.project_id) == {
        "id": member.project_id,
        **DEFAULTS,
        "volumes": 5,
        "gigabytes": 50,
        "snapshots": -1,
    }
    # Another project is untouched.
    assert (await show(client, admin, admin.project_id))["volumes"] == 100


async def test_update_is_admin_only(client: httpx.AsyncClient, member: Caller) -> None:
    r = await client.put(
        quota_url(member, member.project_id),
        json={"quota_set": {"volumes": 1000}},
        headers=member.headers(),
    )
    fault(r, 403, "forbidden")
    r = await client.delete(quota_url(member, member.project_id), headers=member.headers())
    fault(r, 403, "forbidden")
    assert (await show(client, member, member.project_id))["volumes"] == 100


@pytest.mark.parametrize(
    "values",
    [
        {"bogus": 1},
        {"volumes_lvm": 1},
        {"volumes": -2},
        {"volumes": "lots"},
        {"volumes": 1.5},
        {"volumes": None},
        {"volumes": [1]},
        {"volumes": True},
        {"gigabytes": 2**31},
        {"gigabytes": 10**30},
    ],
)
async def test_update_bad_values_are_400(
    client: httpx.AsyncClient, admin: Caller, member: Caller, values: dict[str, Any]
) -> None:
    r = await set_quota(client, admin, member.project_id, **values)
    fault(r, 400, "badRequest")
    assert await show(client, member, member.project_id) == {"id": member.project_id, **DEFAULTS}


@pytest.mark.parametrize(
    "body", [b"", b"{", b"[]", b'{"quota_set": 5}', b'{"quotas": {"volumes": 1}}']
)
async def test_update_malformed_bodies_are_400(
    client: httpx.AsyncClient, admin: Caller, member: Caller, body: bytes
) -> None:
    r = await client.put(
        quota_url(admin, member.project_id),
        content=body,
        headers={**admin.headers(), "Content-Type": "application/json"},
    )
    fault(r, 400, "badRequest")


async def test_update_below_usage_is_400(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (await create(client, member, 5)).status_code == 202
    assert (await create(client, member, 5)).status_code == 202
    r = await set_quota(client, admin, member.project_id, gigabytes=9)
    assert "10" in fault(r, 400, "badRequest")
    r = await set_quota(client, admin, member.project_id, volumes=1)
    fault(r, 400, "badRequest")
    # Both or nothing: one bad value leaves the good one unset too.
    r = await set_quota(client, admin, member.project_id, snapshots=3, volumes=1)
    fault(r, 400, "badRequest")
    assert await show(client, member, member.project_id) == {"id": member.project_id, **DEFAULTS}
    # Exactly the usage, or unlimited, is fine.
    assert (await set_quota(client, admin, member.project_id, gigabytes=10)).status_code == 200
    assert (await set_quota(client, admin, member.project_id, volumes=-1)).status_code == 200
    quota = await show(client, member, member.project_id)
    assert quota["gigabytes"] == 10 and quota["volumes"] == -1


async def test_too_long_project_id_is_400(client: httpx.AsyncClient, admin: Caller) -> None:
    r = await set_quota(client, admin, "p" * 65, volumes=1)
    fault(r, 400, "badRequest")


async def test_delete_resets_to_defaults(
    client: httpx.AsyncClient, admin: Caller, member: Caller
) -> None:
    assert (
        await set_quota(client, admin, member.project_id, volumes=3, groups=1)
    ).status_code == 200
    assert (await set_quota(client, admin, admin.project_id, volumes=7)).status_code == 200
    r = await client.delete(quota_url(admin, member.project_id), headers=admin.headers())
    assert r.status_code == 200 and r.content == b""
    assert await show(client, member, member.project_id) == {"id": member.project_id, **DEFAULTS}
    # Only that project's.
    assert (await show(client, admin, admin.project_id))["volumes"] == 7


async def test_quota_class_sets(
    client: httpx.AsyncClient, admin: Caller, member: Caller, make_caller: MakeCaller
) -> None:
    url = f"/v3/{admin.project_id}/os-quota-class-sets"
    r = await client.get(f"{url}/default", headers=admin.headers())
    assert r.status_code == 200
    assert r.json() == {"quota_class_set": {"id": "default", **DEFAULTS}}

    r = await client.put(
        f"{url}/default",
        json={"quota_class_set": {"volumes": 20, "gigabytes": 200}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["quota_class_set"] == {**DEFAULTS, "volumes": 20, "gigabytes": 200}
    # The default class is every project's default, unless the project has its own.
    assert (await set_quota(client, admin, member.project_id, volumes=3)).status_code == 200
    assert (await show(client, member, member.project_id))["volumes"] == 3
    assert (await show(client, member, member.project_id))["gigabytes"] == 200
    other: Caller = await make_caller("other")
    quota = await show(client, other, other.project_id)
    assert quota["volumes"] == 20 and quota["gigabytes"] == 200
    r = await client.get(quota_url(other, other.project_id, "/defaults"), headers=other.headers())
    assert r.json()["quota_set"]["volumes"] == 20

    # Another class is kept on its own: it does not change the default.
    r = await client.put(
        f"{url}/gold", json={"quota_class_set": {"volumes": 500}}, headers=admin.headers()
    )
    assert r.status_code == 200, r.text
    assert r.json()["quota_class_set"]["volumes"] == 500
    r = await client.get(f"{url}/gold", headers=admin.headers())
    assert r.json()["quota_class_set"] == {
        "id": "gold",
        **DEFAULTS,
        "volumes": 500,
        "gigabytes": 200,
    }
    r = await client.get(f"{url}/default", headers=admin.headers())
    assert r.json()["quota_class_set"]["volumes"] == 20
    assert (await show(client, other, other.project_id))["volumes"] == 20

    # Admin only; bad keys and values are 400.
    r = await client.get(
        f"/v3/{member.project_id}/os-quota-class-sets/default", headers=member.headers()
    )
    fault(r, 403, "forbidden")
    r = await client.put(
        f"/v3/{member.project_id}/os-quota-class-sets/default",
        json={"quota_class_set": {"volumes": 1}},
        headers=member.headers(),
    )
    fault(r, 403, "forbidden")
    for values in ({"bogus": 1}, {"volumes": -5}, {"volumes": "x"}, {"volumes": 2**40}):
        r = await client.put(
            f"{url}/default", json={"quota_class_set": values}, headers=admin.headers()
        )
        fault(r, 400, "badRequest")
    r = await client.put(
        f"{url}/{'c' * 300}", json={"quota_class_set": {"volumes": 1}}, headers=admin.headers()
    )
    fault(r, 400, "badRequest")
    r = await client.get(f"{url}/default", headers=admin.headers())
    assert r.json()["quota_class_set"]["volumes"] == 20


async def test_gigabytes_over_quota_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (await set_quota(client, admin, member.project_id, gigabytes=5)).status_code == 200
    assert (await create(client, member, 3)).status_code == 202
    r = await create(client, member, 3, name="too-big")
    message = fault(r, 413, "overLimit")
    assert "gigabytes" in message and "5G" in message and "3G has been consumed" in message
    assert await volume_count(client, member) == 1
    usage = await show(client, member, member.project_id, usage=True)
    assert usage["gigabytes"]["in_use"] == 3 and usage["volumes"]["in_use"] == 1
    # No job was queued for the refused volume, and no pool space was claimed.
    assert await run_jobs(client, service, ["node1@file"]) == 1
    r = await client.get(
        f"/v3/{admin.project_id}/scheduler-stats/get_pools?detail=true", headers=admin.headers()
    )
    [pool] = r.json()["pools"]
    assert pool["capabilities"]["allocated_capacity_gb"] == 3
    # What is left fits.
    assert (await create(client, member, 2)).status_code == 202
    usage = await show(client, member, member.project_id, usage=True)
    assert usage["gigabytes"]["in_use"] == 5 and usage["volumes"]["in_use"] == 2


async def test_volumes_over_quota_gives_the_gigabytes_back(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (await set_quota(client, admin, member.project_id, volumes=1)).status_code == 200
    assert (await create(client, member, 1)).status_code == 202
    r = await create(client, member, 4)
    assert "volumes" in fault(r, 413, "overLimit")
    usage = await show(client, member, member.project_id, usage=True)
    assert usage["gigabytes"]["in_use"] == 1 and usage["volumes"]["in_use"] == 1


async def test_per_volume_gigabytes(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (
        await set_quota(client, admin, member.project_id, per_volume_gigabytes=5)
    ).status_code == 200
    r = await create(client, member, 6)
    assert "VolumeSizeExceedsLimit" in fault(r, 413, "overLimit")
    assert await volume_count(client, member) == 0
    usage = await show(client, member, member.project_id, usage=True)
    assert usage["gigabytes"]["in_use"] == 0 and usage["volumes"]["in_use"] == 0
    assert usage["per_volume_gigabytes"]["limit"] == 5
    assert (await create(client, member, 5)).status_code == 202
    assert (await create(client, member, 5)).status_code == 202  # per volume, not in total


async def test_per_volume_gigabytes_on_extend(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service, pools=[file_pool(total=100)])
    assert (
        await set_quota(client, admin, member.project_id, per_volume_gigabytes=6)
    ).status_code == 200
    volume = (await create(client, member, 4)).json()["volume"]
    await run_jobs(client, service, ["node1@file"])
    r = await client.post(
        f"/v3/{member.project_id}/volumes/{volume['id']}/action",
        json={"os-extend": {"new_size": 8}},
        headers=member.headers(),
    )
    assert "VolumeSizeExceedsLimit" in fault(r, 413, "overLimit")


async def test_extend_over_gigabytes_quota_is_413(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service, pools=[file_pool(total=100)])
    assert (await set_quota(client, admin, member.project_id, gigabytes=10)).status_code == 200
    volume = (await create(client, member, 4)).json()["volume"]
    await run_jobs(client, service, ["node1@file"])
    action = f"/v3/{member.project_id}/volumes/{volume['id']}/action"
    r = await client.post(action, json={"os-extend": {"new_size": 11}}, headers=member.headers())
    fault(r, 413, "overLimit")
    r = await client.get(
        f"/v3/{member.project_id}/volumes/{volume['id']}", headers=member.headers()
    )
    assert r.json()["volume"]["status"] == "available" and r.json()["volume"]["size"] == 4
    usage = await show(client, member, member.project_id, usage=True)
    assert usage["gigabytes"]["in_use"] == 4
    r = await client.post(action, json={"os-extend": {"new_size": 10}}, headers=member.headers())
    assert r.status_code == 202
    usage = await show(client, member, member.project_id, usage=True)
    assert usage["gigabytes"]["in_use"] == 10
