"""Volume types API: list, show, create, update, delete, extra specs and private-type
access, as python-cinderclient and openstacksdk call them, on SQLite."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import fault, make_type, report
from tests.conftest import Caller, MakeCaller

DEFAULT = "__DEFAULT__"


def types_url(caller: Caller, rest: str = "") -> str:
    return f"/v3/{caller.project_id}/types{rest}"


async def names(client: httpx.AsyncClient, caller: Caller, query: str = "") -> list[str]:
    r = await client.get(types_url(caller, query), headers=caller.headers())
    assert r.status_code == 200, r.text
    return sorted(t["name"] for t in r.json()["volume_types"])


async def grant(
    client: httpx.AsyncClient, admin: Caller, type_id: str, project: str, action: str
) -> httpx.Response:
    return await client.post(
        types_url(admin, f"/{type_id}/action"),
        json={action: {"project": project}},
        headers=admin.headers(),
    )


async def test_create_and_show(client: httpx.AsyncClient, admin: Caller, member: Caller) -> None:
    created = await make_type(
        client,
        admin,
        "gold",
        description="fast",
        extra_specs={"volume_backend_name": "lvm", "multiattach": "<is> True"},
    )
    assert created["name"] == "gold" and created["description"] == "fast"
    assert created["is_public"] is True and created["os-volume-type-access:is_public"] is True
    assert created["extra_specs"] == {"volume_backend_name": "lvm", "multiattach": "<is> True"}

    r = await client.get(types_url(admin, f"/{created['id']}"), headers=admin.headers())
    assert r.status_code == 200
    # Show adds what Cinder gives an admin on show and list only.
    assert r.json()["volume_type"] == {**created, "qos_specs_id": None}
    # A project's user sees only the user-visible extra specs.
    r = await client.get(types_url(member, f"/{created['id']}"), headers=member.headers())
    assert r.status_code == 200
    assert r.json()["volume_type"]["extra_specs"] == {"multiattach": "<is> True"}
    assert r.json()["volume_type"]["name"] == "gold"

    r = await client.get(types_url(member, "/default"), headers=member.headers())
    assert r.status_code == 200 and r.json()["volume_type"]["name"] == DEFAULT
    r = await client.get(types_url(member, "/no-such-type"), headers=member.headers())
    fault(r, 404, "itemNotFound")


async def test_list_private_types(
    client: httpx.AsyncClient, admin: Caller, member: Caller, make_caller: MakeCaller
) -> None:
    await make_type(client, admin, "public-one")
    private = await make_type(client, admin, "private-one", is_public=False)
    assert private["is_public"] is False
    hidden = await make_type(client, admin, "hidden", **{"os-volume-type-access:is_public": False})
    assert hidden["os-volume-type-access:is_public"] is False

    assert await names(client, admin) == [DEFAULT, "hidden", "private-one", "public-one"]
    # cinderclient's `type-list` sends is_public=None: every type.
    assert await names(client, admin, "?is_public=None") == [
        DEFAULT,
        "hidden",
        "private-one",
        "public-one",
    ]
    assert await names(client, admin, "?is_public=true") == [DEFAULT, "public-one"]
    assert await names(client, admin, "?is_public=false") == ["hidden", "private-one"]
    r = await client.get(types_url(admin, "?is_public=perhaps"), headers=admin.headers())
    fault(r, 400, "badRequest")

    assert await names(client, member) == [DEFAULT, "public-one"]
    # A member cannot widen the listing with the filter.
    assert await names(client, member, "?is_public=false") == [DEFAULT, "public-one"]
    assert (
        await grant(client, admin, private["id"], member.project_id, "addProjectAccess")
    ).status_code == 202
    assert await names(client, member) == [DEFAULT, "private-one", "public-one"]
    other: Caller = await make_caller("other")
    assert await names(client, other) == [DEFAULT, "public-one"]

    # Show follows the same rule: granted or public, else 404 (not 403).
    r = await client.get(types_url(member, f"/{private['id']}"), headers=member.headers())
    assert r.status_code == 200 and r.json()["volume_type"]["name"] == "private-one"
    r = await client.get(types_url(other, f"/{private['id']}"), headers=other.headers())
    fault(r, 404, "itemNotFound")
    r = await client.get(types_url(other, f"/{hidden['id']}/extra_specs"), headers=other.headers())
    fault(r, 404, "itemNotFound")


async def test_create_is_admin_only(client: httpx.AsyncClient, member: Caller) -> None:
    r = await client.post(
        types_url(member), json={"volume_type": {"name": "mine"}}, headers=member.headers()
    )
    message = fault(r, 403, "forbidden")
    # The refusal names Cinder's policy action, as Cinder's does.
    assert message == "Policy doesn't allow volume_extension:types_manage to be performed."
    assert await names(client, member) == [DEFAULT]


@pytest.mark.parametrize(
    "body",
    [
        {"volume_type": {"name": ""}},
        {"volume_type": {"name": "   "}},
        {"volume_type": {"name": "x" * 256}},
        {"volume_type": {"name": 5}},
        {"volume_type": {"name": None}},
        {"volume_type": {}},
        {"volume_type": "gold"},
        {"name": "gold"},
        {"volume_type": {"name": "ok", "is_public": "perhaps"}},
        {"volume_type": {"name": "ok", "description": 7}},
        {"volume_type": {"name": "ok", "extra_specs": ["a"]}},
        {"volume_type": {"name": "ok", "extra_specs": {"k": {"nested": 1}}}},
        {"volume_type": {"name": "ok", "extra_specs": {"k" * 256: "v"}}},
    ],
)
async def test_create_bad_bodies_are_400(
    client: httpx.AsyncClient, admin: Caller, body: dict[str, Any]
) -> None:
    r = await client.post(types_url(admin), json=body, headers=admin.headers())
    fault(r, 400, "badRequest")
    assert await names(client, admin) == [DEFAULT]


async def test_name_clash_is_409(client: httpx.AsyncClient, admin: Caller) -> None:
    await make_type(client, admin, "gold")
    r = await client.post(
        types_url(admin), json={"volume_type": {"name": "gold"}}, headers=admin.headers()
    )
    assert "gold" in fault(r, 409, "conflictingRequest")
    r = await client.post(
        types_url(admin), json={"volume_type": {"name": DEFAULT}}, headers=admin.headers()
    )
    fault(r, 409, "conflictingRequest")
    assert await names(client, admin) == [DEFAULT, "gold"]


async def test_update(client: httpx.AsyncClient, admin: Caller, member: Caller) -> None:
    gold = await make_type(client, admin, "gold", description="old")
    await make_type(client, admin, "silver")
    url = types_url(admin, f"/{gold['id']}")
    h = admin.headers()
    # cinderclient's update body.
    r = await client.put(
        url, json={"volume_type": {"name": "platinum", "description": "new"}}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["volume_type"]["name"] == "platinum"
    assert r.json()["volume_type"]["description"] == "new"
    r = await client.put(url, json={"volume_type": {"is_public": False}}, headers=h)
    assert r.status_code == 200 and r.json()["volume_type"]["is_public"] is False
    r = await client.get(url, headers=h)
    assert r.json()["volume_type"]["name"] == "platinum"
    assert r.json()["volume_type"]["is_public"] is False

    # Cinder answers a rename onto an existing name with 409.
    r = await client.put(url, json={"volume_type": {"name": "silver"}}, headers=h)
    fault(r, 409, "conflictingRequest")
    r = await client.put(url, json={"volume_type": {}}, headers=h)
    fault(r, 400, "badRequest")
    r = await client.put(url, json={"volume_type": {"name": ""}}, headers=h)
    fault(r, 400, "badRequest")
    r = await client.put(url, json={"volume_type": {"is_public": "perhaps"}}, headers=h)
    fault(r, 400, "badRequest")
    r = await client.put(
        types_url(admin, "/default"), json={"volume_type": {"name": "renamed"}}, headers=h
    )
    fault(r, 400, "badRequest")
    r = await client.put(types_url(admin, "/nope"), json={"volume_type": {"name": "x"}}, headers=h)
    fault(r, 404, "itemNotFound")
    r = await client.put(
        types_url(member, f"/{gold['id']}"),
        json={"volume_type": {"name": "mine"}},
        headers=member.headers(),
    )
    fault(r, 403, "forbidden")
    assert await names(client, admin) == [DEFAULT, "platinum", "silver"]


async def test_delete(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    gold = await make_type(client, admin, "gold")
    used = await make_type(client, admin, "used")
    await report(client, service)
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1, "volume_type": "used"}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text

    r = await client.delete(types_url(member, f"/{gold['id']}"), headers=member.headers())
    fault(r, 403, "forbidden")
    r = await client.delete(types_url(admin, f"/{used['id']}"), headers=admin.headers())
    assert "in use" in fault(r, 400, "badRequest")
    r = await client.delete(types_url(admin, "/default"), headers=admin.headers())
    fault(r, 400, "badRequest")
    default_id = (await client.get(types_url(admin, "/default"), headers=admin.headers())).json()[
        "volume_type"
    ]["id"]
    r = await client.delete(types_url(admin, f"/{default_id}"), headers=admin.headers())
    fault(r, 400, "badRequest")

    r = await client.delete(types_url(admin, f"/{gold['id']}"), headers=admin.headers())
    assert r.status_code == 202 and r.content == b""
    r = await client.get(types_url(admin, f"/{gold['id']}"), headers=admin.headers())
    fault(r, 404, "itemNotFound")
    r = await client.delete(types_url(admin, f"/{gold['id']}"), headers=admin.headers())
    fault(r, 404, "itemNotFound")
    assert await names(client, admin) == [DEFAULT, "used"]


async def test_extra_specs(client: httpx.AsyncClient, admin: Caller, member: Caller) -> None:
    gold = await make_type(client, admin, "gold", extra_specs={"a": "1"})
    base = types_url(admin, f"/{gold['id']}/extra_specs")
    h = admin.headers()
    # cinderclient's set_keys: POST {"extra_specs": {...}} merges.
    r = await client.post(base, json={"extra_specs": {"b": "2", "a": "one"}}, headers=h)
    assert r.status_code == 200 and r.json() == {"extra_specs": {"b": "2", "a": "one"}}
    r = await client.get(base, headers=h)
    assert r.json() == {"extra_specs": {"a": "one", "b": "2"}}
    r = await client.get(f"{base}/b", headers=h)
    assert r.status_code == 200 and r.json() == {"b": "2"}
    r = await client.put(f"{base}/b", json={"b": "two"}, headers=h)
    assert r.status_code == 200 and r.json() == {"b": "two"}
    assert (await client.get(f"{base}/b", headers=h)).json() == {"b": "two"}

    r = await client.put(f"{base}/b", json={"c": "3"}, headers=h)
    assert "mismatch" in fault(r, 400, "badRequest")
    r = await client.put(f"{base}/b", json={"b": "2", "c": "3"}, headers=h)
    fault(r, 400, "badRequest")
    r = await client.post(base, json={"extra_specs": "a=1"}, headers=h)
    fault(r, 400, "badRequest")
    r = await client.post(base, json={"specs": {"a": "1"}}, headers=h)
    fault(r, 400, "badRequest")
    r = await client.get(f"{base}/missing", headers=h)
    fault(r, 404, "itemNotFound")
    r = await client.delete(f"{base}/missing", headers=h)
    fault(r, 404, "itemNotFound")

    r = await client.delete(f"{base}/a", headers=h)
    assert r.status_code == 202
    r = await client.get(base, headers=h)
    assert r.json() == {"extra_specs": {"b": "two"}}
    r = await client.get(types_url(admin, f"/{gold['id']}"), headers=h)
    assert r.json()["volume_type"]["extra_specs"] == {"b": "two"}

    # Members read only user-visible specs and change none.
    mbase = types_url(member, f"/{gold['id']}/extra_specs")
    r = await client.get(mbase, headers=member.headers())
    assert r.status_code == 200 and r.json() == {"extra_specs": {}}
    r = await client.get(f"{mbase}/b", headers=member.headers())
    fault(r, 404, "itemNotFound")
    r = await client.post(mbase, json={"extra_specs": {"x": "y"}}, headers=member.headers())
    fault(r, 403, "forbidden")
    r = await client.put(f"{mbase}/b", json={"b": "z"}, headers=member.headers())
    fault(r, 403, "forbidden")
    r = await client.delete(f"{mbase}/b", headers=member.headers())
    fault(r, 403, "forbidden")
    assert (await client.get(base, headers=h)).json() == {"extra_specs": {"b": "two"}}
    r = await client.post(
        types_url(admin, "/nope/extra_specs"), json={"extra_specs": {"a": "1"}}, headers=h
    )
    fault(r, 404, "itemNotFound")


async def test_type_access(
    client: httpx.AsyncClient, admin: Caller, member: Caller, make_caller: MakeCaller
) -> None:
    private = await make_type(client, admin, "private", is_public=False)
    public = await make_type(client, admin, "public")
    other: Caller = await make_caller("other")
    access = types_url(admin, f"/{private['id']}/os-volume-type-access")
    h = admin.headers()

    r = await client.get(access, headers=h)
    assert r.status_code == 200 and r.json() == {"volume_type_access": []}
    for project in (member.project_id, other.project_id):
        r = await grant(client, admin, private["id"], project, "addProjectAccess")
        assert r.status_code == 202, r.text
    r = await client.get(access, headers=h)
    assert sorted(r.json()["volume_type_access"], key=lambda a: a["project_id"]) == sorted(
        [
            {"volume_type_id": private["id"], "project_id": member.project_id},
            {"volume_type_id": private["id"], "project_id": other.project_id},
        ],
        key=lambda a: a["project_id"],
    )
    # Cinder: granting twice is a conflict.
    r = await grant(client, admin, private["id"], member.project_id, "addProjectAccess")
    fault(r, 409, "conflictingRequest")

    r = await grant(client, admin, private["id"], other.project_id, "removeProjectAccess")
    assert r.status_code == 202
    r = await grant(client, admin, private["id"], other.project_id, "removeProjectAccess")
    fault(r, 404, "itemNotFound")
    r = await client.get(access, headers=h)
    assert r.json()["volume_type_access"] == [
        {"volume_type_id": private["id"], "project_id": member.project_id}
    ]
    assert await names(client, other) == [DEFAULT, "public"]

    # Public types have no access list and take no grants.
    r = await client.get(types_url(admin, f"/{public['id']}/os-volume-type-access"), headers=h)
    fault(r, 404, "itemNotFound")
    r = await grant(client, admin, public["id"], member.project_id, "addProjectAccess")
    fault(r, 400, "badRequest")
    # Bad action bodies.
    action = types_url(admin, f"/{private['id']}/action")
    bodies: list[dict[str, Any]] = [
        {"addProjectAccess": {}},
        {"addProjectAccess": {"project": ""}},
        {"addProjectAccess": {"project": 5}},
        {"addProjectAccess": {"project": "p" * 65}},
        {"addProjectAccess": "p"},
        {"grantEverything": {"project": "p"}},
        {},
    ]
    for body in bodies:
        r = await client.post(action, json=body, headers=h)
        fault(r, 400, "badRequest")
    # Members may do none of it.
    r = await client.get(
        types_url(member, f"/{private['id']}/os-volume-type-access"), headers=member.headers()
    )
    fault(r, 403, "forbidden")
    r = await client.post(
        types_url(member, f"/{private['id']}/action"),
        json={"addProjectAccess": {"project": member.project_id}},
        headers=member.headers(),
    )
    fault(r, 403, "forbidden")


async def test_volume_of_a_private_type(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    make_caller: MakeCaller,
    service: Caller,
) -> None:
    await report(client, service)
    private = await make_type(client, admin, "private", is_public=False)
    other: Caller = await make_caller("other")
    r = await grant(client, admin, private["id"], member.project_id, "addProjectAccess")
    assert r.status_code == 202

    for ref in ("private", private["id"]):
        r = await client.post(
            f"/v3/{member.project_id}/volumes",
            json={"volume": {"size": 1, "volume_type": ref}},
            headers=member.headers("3.63"),
        )
        assert r.status_code == 202, r.text
        volume = r.json()["volume"]
        assert volume["volume_type"] == "private"
        assert volume["volume_type_id"] == private["id"]

    for ref in ("private", private["id"]):
        r = await client.post(
            f"/v3/{other.project_id}/volumes",
            json={"volume": {"size": 1, "volume_type": ref}},
            headers=other.headers(),
        )
        fault(r, 404, "itemNotFound")
    r = await client.get(f"/v3/{other.project_id}/volumes", headers=other.headers())
    assert r.json()["volumes"] == []
    r = await client.get(f"/v3/{other.project_id}/limits", headers=other.headers())
    assert r.json()["limits"]["absolute"]["totalVolumesUsed"] == 0
