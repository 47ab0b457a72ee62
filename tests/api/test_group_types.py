"""Group types API (3.11): list, show, default, create, update, delete and group specs, as
python-cinderclient calls them, on SQLite."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.api.helpers import fault, make_group_type
from tests.conftest import Caller

V = "3.11"


def url(caller: Caller, rest: str = "") -> str:
    return f"/v3/{caller.project_id}/group_types{rest}"


async def test_create_show_list(client: httpx.AsyncClient, admin: Caller, member: Caller) -> None:
    created = await make_group_type(
        client, admin, "gold", description="fast", group_specs={"spec": "<is> True"}
    )
    assert created["name"] == "gold" and created["description"] == "fast"
    assert created["is_public"] is True and created["group_specs"] == {"spec": "<is> True"}
    r = await client.get(url(admin, f"/{created['id']}"), headers=admin.headers(V))
    assert r.status_code == 200 and r.json()["group_type"] == created
    # A member sees the public type, without its specs (admin-only in Cinder).
    r = await client.get(url(member, f"/{created['id']}"), headers=member.headers(V))
    assert r.status_code == 200
    assert r.json()["group_type"] == {
        "id": created["id"],
        "name": "gold",
        "description": "fast",
        "is_public": True,
    }
    private = await make_group_type(client, admin, "secret", is_public=False)
    r = await client.get(url(member), headers=member.headers(V))
    assert [t["name"] for t in r.json()["group_types"]] == ["gold"]
    r = await client.get(url(admin), headers=admin.headers(V))
    assert [t["name"] for t in r.json()["group_types"]] == ["gold", "secret"]
    r = await client.get(url(admin, "?is_public=false"), headers=admin.headers(V))
    assert [t["name"] for t in r.json()["group_types"]] == ["secret"]
    fault(
        await client.get(url(member, f"/{private['id']}"), headers=member.headers(V)),
        404,
        "itemNotFound",
    )
    # Duplicate names conflict.
    r = await client.post(
        url(admin), json={"group_type": {"name": "gold"}}, headers=admin.headers(V)
    )
    fault(r, 409, "conflictingRequest")


async def test_needs_microversion_and_admin(
    client: httpx.AsyncClient, admin: Caller, member: Caller
) -> None:
    fault(await client.get(url(admin), headers=admin.headers("3.10")), 404, "itemNotFound")
    r = await client.post(
        url(member), json={"group_type": {"name": "x"}}, headers=member.headers(V)
    )
    fault(r, 403, "forbidden")
    gt = await make_group_type(client, admin, "x")
    for method, rest, body in (
        ("PUT", f"/{gt['id']}", {"group_type": {"name": "y"}}),
        ("DELETE", f"/{gt['id']}", None),
        ("GET", f"/{gt['id']}/group_specs", None),
        ("POST", f"/{gt['id']}/group_specs", {"group_specs": {"a": "b"}}),
        ("PUT", f"/{gt['id']}/group_specs/a", {"a": "b"}),
        ("DELETE", f"/{gt['id']}/group_specs/a", None),
    ):
        r = await client.request(method, url(member, rest), json=body, headers=member.headers(V))
        fault(r, 403, "forbidden")


async def test_bad_input(client: httpx.AsyncClient, admin: Caller) -> None:
    for body in (
        {},
        {"group_type": "x"},
        {"group_type": {"name": ""}},
        {"group_type": {"name": "a" * 256}},
        {"group_type": {"name": "a", "group_specs": []}},
        {"group_type": {"name": "a", "group_specs": {"k": {"x": 1}}}},
        {"group_type": {"name": "a", "is_public": "maybe"}},
    ):
        r = await client.post(url(admin), json=body, headers=admin.headers(V))
        fault(r, 400, "badRequest")
    gt = await make_group_type(client, admin, "x")
    r = await client.put(
        url(admin, f"/{gt['id']}"), json={"group_type": {}}, headers=admin.headers(V)
    )
    fault(r, 400, "badRequest")
    r = await client.put(
        url(admin, f"/{gt['id']}/group_specs/a"), json={"b": "c"}, headers=admin.headers(V)
    )
    fault(r, 400, "badRequest")


async def test_update_and_delete(client: httpx.AsyncClient, admin: Caller) -> None:
    a = await make_group_type(client, admin, "a")
    await make_group_type(client, admin, "b")
    r = await client.put(
        url(admin, f"/{a['id']}"),
        json={"group_type": {"name": "c", "description": "d", "is_public": False}},
        headers=admin.headers(V),
    )
    assert r.status_code == 200, r.text
    assert r.json()["group_type"] | {"group_specs": {}} == {
        "id": a["id"],
        "name": "c",
        "description": "d",
        "is_public": False,
        "group_specs": {},
    }
    r = await client.put(
        url(admin, f"/{a['id']}"), json={"group_type": {"name": "b"}}, headers=admin.headers(V)
    )
    fault(r, 409, "conflictingRequest")
    r = await client.delete(url(admin, f"/{a['id']}"), headers=admin.headers(V))
    assert r.status_code == 202
    fault(
        await client.get(url(admin, f"/{a['id']}"), headers=admin.headers(V)), 404, "itemNotFound"
    )
    fault(
        await client.delete(url(admin, f"/{a['id']}"), headers=admin.headers(V)),
        404,
        "itemNotFound",
    )


async def test_group_specs(client: httpx.AsyncClient, admin: Caller) -> None:
    gt = await make_group_type(client, admin, "g", group_specs={"a": "1"})
    base = f"/{gt['id']}/group_specs"
    r = await client.post(
        url(admin, base), json={"group_specs": {"b": "2", "a": "3"}}, headers=admin.headers(V)
    )
    assert r.status_code == 202 and r.json() == {"group_specs": {"b": "2", "a": "3"}}
    r = await client.get(url(admin, base), headers=admin.headers(V))
    assert r.json() == {"group_specs": {"a": "3", "b": "2"}}
    r = await client.get(url(admin, f"{base}/b"), headers=admin.headers(V))
    assert r.status_code == 200 and r.json() == {"b": "2"}
    r = await client.put(url(admin, f"{base}/b"), json={"b": "4"}, headers=admin.headers(V))
    assert r.status_code == 200 and r.json() == {"b": "4"}
    r = await client.delete(url(admin, f"{base}/b"), headers=admin.headers(V))
    assert r.status_code == 202
    fault(await client.get(url(admin, f"{base}/b"), headers=admin.headers(V)), 404, "itemNotFound")
    fault(
        await client.delete(url(admin, f"{base}/b"), headers=admin.headers(V)),
        404,
        "itemNotFound",
    )
    r = await client.get(url(admin, f"/{gt['id']}"), headers=admin.headers(V))
    assert r.json()["group_type"]["group_specs"] == {"a": "3"}


async def test_default_group_type(client: httpx.AsyncClient, admin: Caller, member: Caller) -> None:
    # None configured: 404, as Cinder answers.
    fault(await client.get(url(member, "/default"), headers=member.headers(V)), 404, "itemNotFound")


async def test_configured_default(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller
) -> None:
    app.state.runtime.settings.default_group_type = "standard"
    fault(await client.get(url(member, "/default"), headers=member.headers(V)), 404, "itemNotFound")
    made = await make_group_type(client, admin, "standard")
    r = await client.get(url(member, "/default"), headers=member.headers(V))
    assert r.status_code == 200 and r.json()["group_type"]["id"] == made["id"]
    r = await client.delete(url(admin, f"/{made['id']}"), headers=admin.headers(V))
    fault(r, 400, "badRequest")
