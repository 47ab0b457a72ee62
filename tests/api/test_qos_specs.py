"""QoS specs (/qos-specs): create, show, list, set and unset keys, delete, associate with
volume types; admin-only; and the specs a volume's type carries reach the agent in its
job. Shapes and codes as Cinder's (tempest's qos response schemas), on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import VolumeType
from tests.api.helpers import claim, fault, file_pool, report, run_jobs
from tests.conftest import Caller

UUID = "00000000-0000-4000-8000-000000000000"


def url(caller: Caller, rest: str = "") -> str:
    return f"/v3/{caller.project_id}/qos-specs{rest}"


async def make_qos(
    client: httpx.AsyncClient, admin: Caller, name: str, **specs: Any
) -> dict[str, Any]:
    r = await client.post(
        url(admin), json={"qos_specs": {"name": name, **specs}}, headers=admin.headers()
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["qos_specs"]
    return body


async def make_type(client: httpx.AsyncClient, admin: Caller, name: str) -> str:
    r = await client.post(
        f"/v3/{admin.project_id}/types",
        json={"volume_type": {"name": name}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    type_id: str = r.json()["volume_type"]["id"]
    return type_id


async def show_type(client: httpx.AsyncClient, caller: Caller, type_id: str) -> dict[str, Any]:
    r = await client.get(f"/v3/{caller.project_id}/types/{type_id}", headers=caller.headers())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["volume_type"]
    return body


async def associate(
    client: httpx.AsyncClient, admin: Caller, qos_id: str, type_id: str, verb: str = "associate"
) -> httpx.Response:
    return await client.get(
        url(admin, f"/{qos_id}/{verb}?vol_type_id={type_id}"), headers=admin.headers()
    )


async def associations(client: httpx.AsyncClient, admin: Caller, qos_id: str) -> list[Any]:
    r = await client.get(url(admin, f"/{qos_id}/associations"), headers=admin.headers())
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["qos_associations"]
    found: list[Any] = r.json()["qos_associations"]
    return found


async def test_create_show_and_list_in_cinders_shapes(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    r = await client.post(
        url(admin),
        json={"qos_specs": {"name": "  gold ", "total_iops_sec": 1000, "read_bytes_sec": "5"}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"qos_specs", "links"}
    gold = body["qos_specs"]
    # The default consumer is the back end; values are kept as strings; the name stripped.
    assert gold == {
        "id": gold["id"],
        "name": "gold",
        "consumer": "back-end",
        "specs": {"total_iops_sec": "1000", "read_bytes_sec": "5"},
    }
    assert [link["rel"] for link in body["links"]] == ["self", "bookmark"]
    assert body["links"][0]["href"].endswith(f"/v3/{admin.project_id}/qos-specs/{gold['id']}")

    r = await client.get(url(admin, f"/{gold['id']}"), headers=admin.headers())
    assert r.status_code == 200 and r.json() == body

    silver = await make_qos(client, admin, "silver", consumer="front-end")
    assert silver["consumer"] == "front-end" and silver["specs"] == {}
    r = await client.get(url(admin), headers=admin.headers())
    assert r.status_code == 200
    # No links in the list, as Cinder's (tempest's schema refuses any other member).
    assert list(r.json()) == ["qos_specs"]
    assert {s["name"]: s for s in r.json()["qos_specs"]} == {"gold": gold, "silver": silver}


async def test_create_refuses_bad_bodies_and_duplicate_names(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    await make_qos(client, admin, "gold")
    r = await client.post(url(admin), json={"qos_specs": {"name": "gold"}}, headers=admin.headers())
    assert "QoS Specs gold already exists" in fault(r, 409, "conflictingRequest")
    for body in (
        {"qos_specs": {"name": "x", "consumer": "hypervisor"}},
        {"qos_specs": {"name": ""}},
        {"qos_specs": {"name": "   "}},
        {"qos_specs": {"iops": "1"}},
        {"qos_specs": {"name": "x", "iops": {"nested": 1}}},
        {"qos_specs": {"name": "x", "bad key!": "1"}},
        {"qos_specs": "x"},
        {"name": "x"},
    ):
        r = await client.post(url(admin), json=body, headers=admin.headers())
        fault(r, 400, "badRequest")
    r = await client.post(
        url(admin), json={"qos_specs": {"name": "x", "consumer": "hypervisor"}},
        headers=admin.headers(),
    )  # fmt: skip
    assert "front-end, back-end, both" in fault(r, 400, "badRequest")
    r = await client.get(url(admin), headers=admin.headers())
    assert [s["name"] for s in r.json()["qos_specs"]] == ["gold"]


async def test_every_qos_specs_call_is_the_admins(
    client: httpx.AsyncClient, admin: Caller, member: Caller
) -> None:
    gold = await make_qos(client, admin, "gold", iops="1")
    type_id = await make_type(client, admin, "t")
    q = f"/{gold['id']}"
    calls: list[tuple[str, str, Any]] = [
        ("GET", "", None),
        ("POST", "", {"qos_specs": {"name": "mine"}}),
        ("GET", q, None),
        ("PUT", q, {"qos_specs": {"iops": "2"}}),
        ("PUT", f"{q}/delete_keys", {"keys": ["iops"]}),
        ("GET", f"{q}/associations", None),
        ("GET", f"{q}/associate?vol_type_id={type_id}", None),
        ("GET", f"{q}/disassociate?vol_type_id={type_id}", None),
        ("GET", f"{q}/disassociate_all", None),
        ("DELETE", q, None),
    ]
    for method, rest, body in calls:
        r = await client.request(method, url(member, rest), json=body, headers=member.headers())
        assert fault(r, 403, "forbidden"), (method, rest)
    # Nothing changed.
    r = await client.get(url(admin, q), headers=admin.headers())
    assert r.json()["qos_specs"]["specs"] == {"iops": "1"}
    assert (await show_type(client, admin, type_id))["qos_specs_id"] is None
    r = await client.get(url(admin), headers=admin.headers())
    assert [s["name"] for s in r.json()["qos_specs"]] == ["gold"]


async def test_update_sets_keys_and_consumer_and_answers_what_was_set(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    gold = await make_qos(client, admin, "gold", iops="1", bw="2")
    r = await client.put(
        url(admin, f"/{gold['id']}"),
        json={"qos_specs": {"iops": 10, "burst": "30", "consumer": "both"}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"qos_specs": {"iops": "10", "burst": "30", "consumer": "both"}}
    r = await client.get(url(admin, f"/{gold['id']}"), headers=admin.headers())
    shown = r.json()["qos_specs"]
    assert shown["consumer"] == "both" and shown["name"] == "gold"
    assert shown["specs"] == {"iops": "10", "bw": "2", "burst": "30"}

    r = await client.put(
        url(admin, f"/{gold['id']}"),
        json={"qos_specs": {"consumer": "nobody"}},
        headers=admin.headers(),
    )
    fault(r, 400, "badRequest")
    r = await client.put(url(admin, f"/{gold['id']}"), json={"x": {}}, headers=admin.headers())
    fault(r, 400, "badRequest")
    r = await client.put(
        url(admin, f"/{UUID}"), json={"qos_specs": {"iops": "1"}}, headers=admin.headers()
    )
    assert UUID in fault(r, 404, "itemNotFound")
    r = await client.get(url(admin, f"/{gold['id']}"), headers=admin.headers())
    assert r.json()["qos_specs"]["consumer"] == "both"


async def test_delete_keys_removes_every_named_key_or_none(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    gold = await make_qos(client, admin, "gold", a="1", b="2", c="3")
    unset = url(admin, f"/{gold['id']}/delete_keys")
    r = await client.put(unset, json={"keys": ["a", "nope"]}, headers=admin.headers())
    assert "nope" in fault(r, 404, "itemNotFound")
    r = await client.get(url(admin, f"/{gold['id']}"), headers=admin.headers())
    assert r.json()["qos_specs"]["specs"] == {"a": "1", "b": "2", "c": "3"}

    r = await client.put(unset, json={"keys": ["a", "b"]}, headers=admin.headers())
    assert r.status_code == 202, r.text
    r = await client.get(url(admin, f"/{gold['id']}"), headers=admin.headers())
    assert r.json()["qos_specs"]["specs"] == {"c": "3"}

    for body in ({}, {"keys": "c"}, {"keys": [""]}, {"keys": [1]}):
        fault(await client.put(unset, json=body, headers=admin.headers()), 400, "badRequest")
    r = await client.put(
        url(admin, f"/{UUID}/delete_keys"), json={"keys": ["c"]}, headers=admin.headers()
    )
    fault(r, 404, "itemNotFound")


async def test_associations_point_types_at_one_qos_specs_each(
    client: httpx.AsyncClient, admin: Caller, member: Caller
) -> None:
    gold = await make_qos(client, admin, "gold", iops="1")
    silver = await make_qos(client, admin, "silver")
    fast = await make_type(client, admin, "fast")
    faster = await make_type(client, admin, "faster")
    assert await associations(client, admin, gold["id"]) == []

    for type_id in (fast, faster):
        assert (await associate(client, admin, gold["id"], type_id)).status_code == 202
    # Associating again with the same specs is no change.
    assert (await associate(client, admin, gold["id"], fast)).status_code == 202
    assert await associations(client, admin, gold["id"]) == [
        {"association_type": "volume_type", "name": "fast", "id": fast},
        {"association_type": "volume_type", "name": "faster", "id": faster},
    ]
    # A type has one QoS specs: another is refused until it is disassociated.
    r = await associate(client, admin, silver["id"], fast)
    assert "already associated" in fault(r, 400, "badRequest")

    # qos_specs_id is shown on types to admins only (Cinder's access_types_qos_specs_id).
    assert (await show_type(client, admin, fast))["qos_specs_id"] == gold["id"]
    assert "qos_specs_id" not in await show_type(client, member, fast)
    r = await client.get(f"/v3/{admin.project_id}/types", headers=admin.headers())
    listed = {t["name"]: t["qos_specs_id"] for t in r.json()["volume_types"]}
    assert listed["fast"] == gold["id"] and listed["__DEFAULT__"] is None

    # Disassociating from specs the type does not point at changes nothing.
    assert (await associate(client, admin, silver["id"], fast, "disassociate")).status_code == 202
    assert (await show_type(client, admin, fast))["qos_specs_id"] == gold["id"]
    assert (await associate(client, admin, gold["id"], fast, "disassociate")).status_code == 202
    assert [a["name"] for a in await associations(client, admin, gold["id"])] == ["faster"]
    assert (await associate(client, admin, silver["id"], fast)).status_code == 202
    assert (await show_type(client, admin, fast))["qos_specs_id"] == silver["id"]

    r = await client.get(url(admin, f"/{gold['id']}/disassociate_all"), headers=admin.headers())
    assert r.status_code == 202, r.text
    assert await associations(client, admin, gold["id"]) == []
    assert (await show_type(client, admin, faster))["qos_specs_id"] is None
    assert [a["name"] for a in await associations(client, admin, silver["id"])] == ["fast"]


async def test_association_calls_refuse_what_cinder_refuses(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    gold = await make_qos(client, admin, "gold")
    fast = await make_type(client, admin, "fast")
    for verb in ("associate", "disassociate"):
        r = await client.get(url(admin, f"/{gold['id']}/{verb}"), headers=admin.headers())
        assert "Volume Type id must not be None" in fault(r, 400, "badRequest")
        r = await associate(client, admin, gold["id"], UUID, verb)
        assert UUID in fault(r, 404, "itemNotFound")
        fault(await associate(client, admin, UUID, fast, verb), 404, "itemNotFound")
    for rest in (f"/{UUID}/associations", f"/{UUID}/disassociate_all", f"/{UUID}"):
        fault(await client.get(url(admin, rest), headers=admin.headers()), 404, "itemNotFound")


async def test_specs_in_use_by_a_type_are_deleted_only_with_force(
    client: httpx.AsyncClient, admin: Caller, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    gold = await make_qos(client, admin, "gold", iops="1")
    fast = await make_type(client, admin, "fast")
    assert (await associate(client, admin, gold["id"], fast)).status_code == 202
    r = await client.delete(url(admin, f"/{gold['id']}"), headers=admin.headers())
    assert "still in use" in fault(r, 400, "badRequest")
    r = await client.delete(url(admin, f"/{gold['id']}?force=maybe"), headers=admin.headers())
    fault(r, 400, "badRequest")
    assert (await show_type(client, admin, fast))["qos_specs_id"] == gold["id"]

    r = await client.delete(url(admin, f"/{gold['id']}?force=True"), headers=admin.headers())
    assert r.status_code == 202, r.text
    fault(
        await client.get(url(admin, f"/{gold['id']}"), headers=admin.headers()), 404, "itemNotFound"
    )
    assert (await show_type(client, admin, fast))["qos_specs_id"] is None
    async with sessionmaker() as session:
        pointing = await session.scalars(
            select(VolumeType.id).where(VolumeType.qos_specs_id.is_not(None))
        )
        assert list(pointing) == []

    unused = await make_qos(client, admin, "unused")
    r = await client.delete(url(admin, f"/{unused['id']}"), headers=admin.headers())
    assert r.status_code == 202
    fault(await client.delete(url(admin, f"/{UUID}"), headers=admin.headers()), 404, "itemNotFound")
    # The name is free again.
    await make_qos(client, admin, "gold")


async def test_list_sorts_filters_and_pages(client: httpx.AsyncClient, admin: Caller) -> None:
    for name in ("c", "a", "b"):
        await make_qos(client, admin, name, consumer="both" if name == "b" else "back-end")

    async def listed(query: str) -> list[str]:
        r = await client.get(url(admin, query), headers=admin.headers())
        assert r.status_code == 200, r.text
        return [s["name"] for s in r.json()["qos_specs"]]

    assert await listed("?sort=name:asc") == ["a", "b", "c"]
    assert await listed("?sort_key=name&sort_dir=desc") == ["c", "b", "a"]
    assert await listed("?sort=name:asc&limit=2") == ["a", "b"]
    r = await client.get(url(admin, "?sort=name:asc"), headers=admin.headers())
    ids = {s["name"]: s["id"] for s in r.json()["qos_specs"]}
    assert await listed(f"?sort=name:asc&marker={ids['a']}") == ["b", "c"]
    assert await listed("?consumer=both") == ["b"]
    assert await listed("?name=c") == ["c"]
    fault(
        await client.get(url(admin, f"?marker={UUID}"), headers=admin.headers()),
        404,
        "itemNotFound",
    )
    fault(await client.get(url(admin, "?sort=nope"), headers=admin.headers()), 400, "badRequest")


async def _create_and_claim(
    client: httpx.AsyncClient, member: Caller, service: Caller, volume_type: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"size": 1}
    if volume_type:
        body["volume_type"] = volume_type
    r = await client.post(
        f"/v3/{member.project_id}/volumes", json={"volume": body}, headers=member.headers()
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["kind"] == "create_volume"
    assert job["resource_id"] == r.json()["volume"]["id"]
    await run_jobs(client, service, ["node1@file"])
    return job


async def test_create_job_carries_the_back_end_qos_specs_of_the_type(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    limited = await make_qos(client, admin, "limited", total_iops_sec="500", consumer="both")
    hypervisor = await make_qos(client, admin, "hv", total_iops_sec="9", consumer="front-end")
    fast = await make_type(client, admin, "fast")
    slow = await make_type(client, admin, "slow")
    assert (await associate(client, admin, limited["id"], fast)).status_code == 202
    assert (await associate(client, admin, hypervisor["id"], slow)).status_code == 202

    job = await _create_and_claim(client, member, service, "fast")
    assert job["payload"]["qos_specs"] == {"total_iops_sec": "500"}
    # Front-end specs are the hypervisor's to enforce: the agent is told of none.
    job = await _create_and_claim(client, member, service, "slow")
    assert job["payload"]["qos_specs"] is None
    job = await _create_and_claim(client, member, service, None)
    assert job["payload"]["qos_specs"] is None
    # A change of the specs is seen by the next create.
    r = await client.put(
        url(admin, f"/{limited['id']}"),
        json={"qos_specs": {"total_iops_sec": "600", "consumer": "back-end"}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    job = await _create_and_claim(client, member, service, "fast")
    assert job["payload"]["qos_specs"] == {"total_iops_sec": "600"}


async def test_migrate_job_carries_the_qos_specs_of_the_type(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    a, b = "n1@a", "n1@b"
    await report(client, service, host=a, pools=[file_pool()])
    await report(client, service, host=b, pools=[file_pool()])
    limited = await make_qos(client, admin, "limited", read_iops_sec="70")
    fast = await make_type(client, admin, "fast")
    assert (await associate(client, admin, limited["id"], fast)).status_code == 202
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1, "volume_type": "fast"}},
        headers=member.headers(),
    )
    volume_id = r.json()["volume"]["id"]
    await run_jobs(client, service, [a, b])
    r = await client.get(f"/v3/{admin.project_id}/volumes/{volume_id}", headers=admin.headers())
    host = r.json()["volume"]["os-vol-host-attr:host"]
    target = f"{b}#pool" if host.startswith(a) else f"{a}#pool"
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-migrate_volume": {"host": target}},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, [a, b])
    assert job is not None and job["kind"] == "migrate_volume"
    assert job["payload"]["qos_specs"] == {"read_iops_sec": "70"}


async def test_filter_functions_see_the_types_qos_specs(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # Cinder's DriverFilter gives a backend's filter_function the type's QoS specs as qos.*
    await report(client, service, filter_function="qos.maxIOPS > 5")
    limited = await make_qos(client, admin, "limited", maxIOPS="10", consumer="front-end")
    fast = await make_type(client, admin, "fast")
    assert (await associate(client, admin, limited["id"], fast)).status_code == 202
    job = await _create_and_claim(client, member, service, "fast")
    assert job["payload"]["qos_specs"] is None  # front-end: not the agent's


async def test_clone_job_carries_the_qos_specs_of_the_type(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    limited = await make_qos(client, admin, "limited", write_iops_sec="80")
    fast = await make_type(client, admin, "fast")
    assert (await associate(client, admin, limited["id"], fast)).status_code == 202
    v = "3.14"
    r = await client.post(
        f"/v3/{admin.project_id}/group_types",
        json={"group_type": {"name": "gt"}},
        headers=admin.headers(v),
    )
    assert r.status_code == 202, r.text
    r = await client.post(
        f"/v3/{member.project_id}/groups",
        json={"group": {"group_type": r.json()["group_type"]["id"], "volume_types": ["fast"]}},
        headers=member.headers(v),
    )
    assert r.status_code == 202, r.text
    group_id = r.json()["group"]["id"]
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1, "volume_type": "fast", "group_id": group_id}},
        headers=member.headers(v),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, ["node1@file"])
    r = await client.post(
        f"/v3/{member.project_id}/groups/action",
        json={"create-from-src": {"name": "copy", "source_group_id": group_id}},
        headers=member.headers(v),
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, ["node1@file"])
    assert job is not None and job["kind"] == "clone_volume"
    assert job["payload"]["qos_specs"] == {"write_iops_sec": "80"}
