"""Manage existing volume (admin only) through the ASGI app, on SQLite:
the host validated by the scheduler's filters, the agent's manage_volume job, then the
quota and the pool's capacity claimed at the size the agent found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import claim, file_pool, finish, make_type, report
from tests.api.helpers import messages_about as messages_of
from tests.api.helpers import pool_ledger as ledger
from tests.api.helpers import show_volume as show
from tests.conftest import Caller, MakeCaller

HOST = "node1@file#pool"
BACKEND = "node1@file"


async def manage(
    client: httpx.AsyncClient,
    caller: Caller,
    *,
    path: str = "manageable_volumes",
    version: str | None = "3.8",
    **volume: Any,
) -> httpx.Response:
    body = {"host": HOST, "ref": {"source-name": "legacy.img"}, **volume}
    return await client.post(
        f"/v3/{caller.project_id}/{path}", json={"volume": body}, headers=caller.headers(version)
    )


async def usage(client: httpx.AsyncClient, admin: Caller) -> tuple[int, int]:
    r = await client.get(
        f"/v3/{admin.project_id}/os-quota-sets/{admin.project_id}?usage=true",
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    quota = r.json()["quota_set"]
    return quota["volumes"]["in_use"], quota["gigabytes"]["in_use"]


async def set_quota(client: httpx.AsyncClient, admin: Caller, **limits: int) -> None:
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{admin.project_id}",
        json={"quota_set": limits},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text


async def managed_job(client: httpx.AsyncClient, service: Caller) -> dict[str, Any]:
    job = await claim(client, service, [BACKEND])
    assert job is not None and job["kind"] == "manage_volume"
    return job


async def delete_and_run(
    client: httpx.AsyncClient, admin: Caller, service: Caller, vid: str
) -> None:
    r = await client.delete(f"/v3/{admin.project_id}/volumes/{vid}", headers=admin.headers())
    assert r.status_code == 202, r.text
    job = await claim(client, service, [BACKEND])
    assert job is not None and job["kind"] == "delete_volume"
    assert (await finish(client, service, job)).status_code == 200
    r = await client.get(f"/v3/{admin.project_id}/volumes/{vid}", headers=admin.headers())
    assert r.status_code == 404


# --- policy and input ----------------------------------------------------------------------


async def test_members_may_not_manage(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    await report(client, service)
    for caller in (member, await make_caller("demo", ("reader",))):
        for path in ("manageable_volumes", "os-volume-manage"):
            r = await manage(client, caller, path=path)
            assert r.status_code == 403, r.text
            assert "volume_manage" in r.json()["forbidden"]["message"]
    assert await claim(client, service, [BACKEND]) is None


@pytest.mark.parametrize(
    ("volume", "said"),
    [
        ({"ref": None}, "ref"),
        ({"ref": "legacy.img"}, "ref"),
        ({"ref": {}}, "source-name"),
        ({"ref": {"source-name": ""}}, "source-name"),
        ({"ref": {"source-name": 5}}, "source-name"),
        ({"host": None}, "host must be set"),
        ({"host": ""}, "host must be set"),
        ({"host": 7}, "host"),
        ({"cluster": "c1"}, "cluster"),
        ({"name": 7}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"metadata": {"k": 5}}, "Metadata"),
        ({"metadata": []}, "metadata"),
        ({"bootable": "maybe"}, "bootable"),
        ({"volume_type": 3}, "volume_type"),
    ],
)
async def test_bad_input_is_400(
    client: httpx.AsyncClient,
    admin: Caller,
    service: Caller,
    volume: dict[str, Any],
    said: str,
) -> None:
    await report(client, service)
    r = await manage(client, admin, **volume)
    assert r.status_code == 400, r.text
    assert said in r.json()["badRequest"]["message"]


async def test_missing_ref_and_malformed_bodies_are_400(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    url = f"/v3/{admin.project_id}/os-volume-manage"
    r = await client.post(url, json={"volume": {"host": HOST}}, headers=admin.headers())
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Missing required element 'ref' in request body."
    for body in (b"", b"{", b"[]", b'{"volume": 1}', b'{"other": {}}'):
        r = await client.post(
            url, content=body, headers={**admin.headers(), "Content-Type": "application/json"}
        )
        assert r.status_code == 400, (body, r.text)
        assert "badRequest" in r.json()


async def test_manageable_volumes_needs_3_8(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    r = await manage(client, admin, version="3.7")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    # The older extension answers at any version.
    r = await manage(client, admin, path="os-volume-manage", version=None)
    assert r.status_code == 202, r.text
    # And from 3.67 without the project in the URL.
    r = await client.post(
        "/v3/manageable_volumes",
        json={"volume": {"host": HOST, "ref": {"source-name": "other.img"}}},
        headers=admin.headers("3.67"),
    )
    assert r.status_code == 202, r.text
    assert (await show(client, admin, r.json()["volume"]["id"]))[
        "os-vol-tenant-attr:tenant_id"
    ] == admin.project_id


# --- validating the given host ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("nope@file#pool", "no pool nope@file#pool has been reported"),
        ("node1@file#other", "no pool node1@file#other has been reported"),
        ("nope@file", "no backend nope@file has reported"),
        ("node1@two", "backend node1@two has 2 pools (a, b): name one as node1@two#<pool>"),
    ],
)
async def test_unknown_hosts_and_pools_are_400(
    client: httpx.AsyncClient, admin: Caller, service: Caller, host: str, said: str
) -> None:
    await report(client, service)
    await report(client, service, host="node1@two", pools=[file_pool("a"), file_pool("b")])
    r = await manage(client, admin, host=host)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == f"Host {host} is not valid: {said}."
    assert await claim(client, service, [BACKEND, "node1@two"]) is None


async def test_down_or_disabled_backends_are_not_valid(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    cache = app.state.runtime.cache
    cache.set_disabled(BACKEND, True)
    r = await manage(client, admin)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        f"Host {HOST} is not valid: backend {BACKEND} is disabled."
    )
    cache.set_disabled(BACKEND, False)
    cache.backend(BACKEND).heard_at = datetime(2000, 1, 1)  # silent for years
    r = await manage(client, admin)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        f"Host {HOST} is not valid: backend {BACKEND} is down."
    )
    await report(client, service)  # back
    assert (await manage(client, admin)).status_code == 202


async def test_the_pool_must_satisfy_the_type_and_zone(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service, pools=[file_pool(disk_type="hdd")], zone="az1")
    await make_type(client, admin, "ssd", {"disk_type": "ssd"})
    await make_type(client, admin, "hdd", {"disk_type": "hdd"})
    r = await manage(client, admin, volume_type="ssd")
    assert r.status_code == 400
    message = r.json()["badRequest"]["message"]
    assert message.startswith(f"Host {HOST} is not valid: CapabilitiesFilter: disk_type")
    assert "'hdd'" in message and "'ssd'" in message
    r = await manage(client, admin, volume_type="hdd", availability_zone="az2")
    assert r.status_code == 400
    assert "AvailabilityZoneFilter" in r.json()["badRequest"]["message"]
    r = await manage(client, admin, volume_type="nope")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    # The zone defaults to the backend's; capacity is not judged before the size is known.
    r = await manage(client, admin, volume_type="hdd")
    assert r.status_code == 202, r.text
    assert r.json()["volume"]["availability_zone"] == "az1"
    assert r.json()["volume"]["volume_type"] == "hdd"


# --- the agent's answer ------------------------------------------------------------------------


async def test_manage_end_to_end(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    r = await manage(
        client,
        admin,
        name="legacy",
        description="from the old array",
        metadata={"owner": "ops"},
        bootable=True,
    )
    assert r.status_code == 202, r.text
    volume = r.json()["volume"]
    assert volume["status"] == "creating" and volume["size"] == 0
    assert volume["name"] == "legacy" and volume["description"] == "from the old array"
    assert volume["metadata"] == {"owner": "ops"} and volume["bootable"] == "true"
    # Cinder's manage answer has no extension attributes; show has them.
    assert "os-vol-host-attr:host" not in volume
    assert (await show(client, admin, volume["id"]))["os-vol-host-attr:host"] == HOST
    assert volume["volume_type"] == "__DEFAULT__"
    assert await usage(client, admin) == (0, 0)
    assert await ledger(app) == 0

    job = await managed_job(client, service)
    assert job["resource_id"] == volume["id"]
    assert job["payload"] == {
        "volume": {
            "id": volume["id"],
            "size_gb": 0,
            "name": "legacy",
            "pool": "pool",
            "host": HOST,
            "provider_location": None,
        },
        "ref": {"source-name": "legacy.img"},
    }
    location = f"/data/file/volume-{volume['id']}"
    r = await finish(client, service, job, result={"size_gb": 3, "provider_location": location})
    assert r.status_code == 200, r.text

    shown = await show(client, admin, volume["id"])
    assert shown["status"] == "available" and shown["size"] == 3
    assert await usage(client, admin) == (1, 3)
    assert await ledger(app) == 3
    assert app.state.runtime.cache.pool(BACKEND, "pool").allocated_gb == 3
    assert await messages_of(client, admin, volume["id"]) == []
    # Another project does not see it.
    r = await client.get(
        f"/v3/{member.project_id}/volumes/{volume['id']}", headers=member.headers()
    )
    assert r.status_code == 404

    await delete_and_run(client, admin, service, volume["id"])
    assert await usage(client, admin) == (0, 0)
    assert await ledger(app) == 0


async def test_backend_without_pool_name_and_thin_claims(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    # 10 GB thin at 2x: a 15 GB volume fits thin only.
    await report(client, service, pools=[file_pool(total=10, thin=True, mosr="2.0")])
    await make_type(client, admin, "thick", {"provisioning:type": "thick"})
    ids = []
    for vtype in ("__DEFAULT__", "thick"):
        r = await manage(client, admin, host=BACKEND, path="os-volume-manage", volume_type=vtype)
        assert r.status_code == 202, r.text
        ids.append(r.json()["volume"]["id"])
        assert (await show(client, admin, ids[-1]))["os-vol-host-attr:host"] == HOST
    for _ in ids:
        job = await managed_job(client, service)
        await finish(client, service, job, result={"size_gb": 15, "provider_location": "/x"})
    thin, thick = [await show(client, admin, i) for i in ids]
    assert thin["status"] == "available" and thin["size"] == 15
    assert thick["status"] == "error_managing" and thick["size"] == 0
    [message] = await messages_of(client, admin, thick["id"])
    assert "no room for the 15 GB (thick)" in message
    assert await usage(client, admin) == (1, 15)
    assert await ledger(app) == 15


async def test_no_room_on_the_pool_is_error_managing_and_claims_nothing(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service, pools=[file_pool(total=2)])
    volume = (await manage(client, admin)).json()["volume"]
    job = await managed_job(client, service)
    await finish(client, service, job, result={"size_gb": 3, "provider_location": "/x"})
    shown = await show(client, admin, volume["id"])
    assert shown["status"] == "error_managing" and shown["size"] == 0
    [message] = await messages_of(client, admin, volume["id"])
    assert message.startswith("VOLUME_VOLUME_101_003: manage existing volume:")
    assert f"Pool {HOST} has no room for the 3 GB" in message
    assert await usage(client, admin) == (0, 0)
    assert await ledger(app) == 0


@pytest.mark.parametrize(
    ("limits", "said"),
    [
        ({"gigabytes": 2}, "VolumeSizeExceedsAvailableQuota"),
        ({"volumes": 0}, "Maximum number of volumes allowed (0)"),
        ({"per_volume_gigabytes": 2}, "VolumeSizeExceedsLimit"),
    ],
)
async def test_over_quota_is_error_managing_and_claims_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    service: Caller,
    limits: dict[str, int],
    said: str,
) -> None:
    await report(client, service)
    await set_quota(client, admin, **limits)
    volume = (await manage(client, admin)).json()["volume"]
    job = await managed_job(client, service)
    await finish(client, service, job, result={"size_gb": 3, "provider_location": "/x"})
    assert (await show(client, admin, volume["id"]))["status"] == "error_managing"
    [message] = await messages_of(client, admin, volume["id"])
    assert message.startswith("VOLUME_VOLUME_101_007:") and said in message
    assert await usage(client, admin) == (0, 0)
    assert await ledger(app) == 0


async def test_agent_failure_is_error_managing_with_its_reason(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    volume = (await manage(client, admin)).json()["volume"]
    job = await managed_job(client, service)
    r = await finish(client, service, job, ok=False, error="no file named 'legacy.img' to manage")
    assert r.status_code == 200 and r.json() == {"state": "failed"}
    assert (await show(client, admin, volume["id"]))["status"] == "error_managing"
    [message] = await messages_of(client, admin, volume["id"])
    assert message.startswith("VOLUME_VOLUME_101_009:")
    assert "no file named 'legacy.img' to manage" in message
    assert await usage(client, admin) == (0, 0)
    assert await ledger(app) == 0
    assert await claim(client, service, [BACKEND]) is None  # not retried elsewhere


@pytest.mark.parametrize(
    ("result", "said"),
    [
        ({"size_gb": "3", "provider_location": "/x"}, "size_gb must be an integer"),
        ({"size_gb": 0}, "size_gb must be at least 1"),
        ({"provider_location": "/x"}, "no size_gb"),
    ],
)
async def test_a_result_without_a_valid_size_fails_the_manage_into_error_managing(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    service: Caller,
    result: dict[str, Any],
    said: str,
) -> None:
    """The size is the storage's answer to the user's request (Cinder's get_size): a
    driver that gives no valid one fails the job, and the user reads why."""
    await report(client, service)
    volume = (await manage(client, admin)).json()["volume"]
    job = await managed_job(client, service)
    r = await finish(client, service, job, result=result)
    assert r.status_code == 200 and r.json() == {"state": "failed"}
    assert (await show(client, admin, volume["id"]))["status"] == "error_managing"
    [message] = await messages_of(client, admin, volume["id"])
    assert message.startswith("VOLUME_VOLUME_101_009:")
    assert f"the driver's answer to manage_volume: invalid job result: {said}" in message
    assert await usage(client, admin) == (0, 0)
    assert await ledger(app) == 0


async def test_an_error_managing_volume_can_be_deleted(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    volume = (await manage(client, admin)).json()["volume"]
    job = await managed_job(client, service)
    await finish(client, service, job, ok=False)
    # The delete job goes to the agent (the file may have been renamed), size 0.
    r = await client.delete(
        f"/v3/{admin.project_id}/volumes/{volume['id']}", headers=admin.headers()
    )
    assert r.status_code == 202, r.text
    deleting = await claim(client, service, [BACKEND])
    assert deleting is not None and deleting["kind"] == "delete_volume"
    assert deleting["payload"]["volume"]["size_gb"] == 0
    assert (await finish(client, service, deleting)).status_code == 200
    r = await client.get(f"/v3/{admin.project_id}/volumes/{volume['id']}", headers=admin.headers())
    assert r.status_code == 404
    assert await ledger(app) == 0


async def test_deleting_an_error_managing_volume_gives_back_no_quota(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    kept = (await manage(client, admin, ref={"source-name": "a"})).json()["volume"]
    failed = (await manage(client, admin, ref={"source-name": "b"})).json()["volume"]
    job = await managed_job(client, service)
    await finish(client, service, job, result={"size_gb": 2, "provider_location": "/a"})
    job = await managed_job(client, service)
    await finish(client, service, job, ok=False)
    assert (await show(client, admin, kept["id"]))["status"] == "available"
    assert await usage(client, admin) == (1, 2)
    await delete_and_run(client, admin, service, failed["id"])
    assert await usage(client, admin) == (1, 2)


async def test_a_result_for_a_force_deleted_volume_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    volume = (await manage(client, admin)).json()["volume"]
    job = await managed_job(client, service)
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume['id']}/action",
        json={"os-force_delete": {}},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    await finish(client, service, job, result={"size_gb": 3, "provider_location": "/x"})
    assert (await show(client, admin, volume["id"]))["status"] == "deleting"
    assert await ledger(app) == 0
