"""Keystone's admin API, as OpenStack test tooling uses it for throwaway credentials:
a project, a user in it, a role granted by the role's id, a login, the volume API as
that user, then everything removed and the user's token refused."""

from __future__ import annotations

import httpx
import pytest

from tests.identity.helpers import login

V3 = "/identity/v3"


def auth(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


async def role_id(client: httpx.AsyncClient, token: str, name: str) -> str:
    r = await client.get(f"{V3}/roles", params={"name": name}, headers=auth(token))
    assert r.status_code == 200, r.text
    (role,) = r.json()["roles"]
    assert role["name"] == name and role["domain_id"] is None
    return str(role["id"])


async def test_dynamic_credentials_round_trip(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    root = await login(client, "root", "pw-root", "admin")
    r = await client.post(
        f"{V3}/projects",
        json={
            "project": {"name": "tempest-p1", "description": "throwaway", "domain_id": "default"}
        },
        headers=auth(root),
    )
    assert r.status_code == 201, r.text
    project = r.json()["project"]
    assert (project["name"], project["enabled"], project["domain_id"]) == (
        "tempest-p1",
        True,
        "default",
    )

    r = await client.post(
        f"{V3}/users",
        json={"user": {"name": "tempest-u1", "password": "pw-tempest-u1",
                       "default_project_id": project["id"], "domain_id": "default"}},
        headers=auth(root),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert user["default_project_id"] == project["id"] and "password" not in user

    member = await role_id(client, root, "member")
    grant = f"{V3}/projects/{project['id']}/users/{user['id']}/roles/{member}"
    assert (await client.head(grant, headers=auth(root))).status_code == 404
    assert (await client.put(grant, headers=auth(root))).status_code == 204
    assert (await client.head(grant, headers=auth(root))).status_code == 204
    r = await client.get(
        f"{V3}/role_assignments",
        params={"user.id": user["id"], "scope.project.id": project["id"]},
        headers=auth(root),
    )
    assert [
        (a["role"]["id"], a["scope"]["project"]["id"]) for a in r.json()["role_assignments"]
    ] == [(member, project["id"])]

    # The new user works: a token scoped to its project, the volume API answers.
    token = await login(client, "tempest-u1", "pw-tempest-u1", "tempest-p1")
    r = await client.get(f"/v3/{project['id']}/volumes", headers=auth(token))
    assert r.status_code == 200, r.text

    # Disabled, its token stops working; deleted with its project, nothing remains.
    r = await client.patch(
        f"{V3}/users/{user['id']}", json={"user": {"enabled": False}}, headers=auth(root)
    )
    assert r.status_code == 200 and r.json()["user"]["enabled"] is False
    assert (
        await client.get(f"/v3/{project['id']}/volumes", headers=auth(token))
    ).status_code == 401
    assert (await client.delete(grant, headers=auth(root))).status_code == 204
    assert (await client.delete(f"{V3}/users/{user['id']}", headers=auth(root))).status_code == 204
    r = await client.delete(f"{V3}/projects/{project['id']}", headers=auth(root))
    assert r.status_code == 204
    r = await client.get(f"{V3}/users/{user['id']}", headers=auth(root))
    assert r.status_code == 404 and r.json()["error"]["code"] == 404


async def test_domains_and_roles_read(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    root = await login(client, "root", "pw-root", "admin")
    r = await client.get(f"{V3}/domains", headers=auth(root))
    assert [d["id"] for d in r.json()["domains"]] == ["default"]
    assert (await client.get(f"{V3}/domains/default", headers=auth(root))).json()["domain"][
        "name"
    ] == "Default"
    assert (await client.get(f"{V3}/domains/other", headers=auth(root))).status_code == 404
    r = await client.get(f"{V3}/roles", headers=auth(root))
    assert {role["name"] for role in r.json()["roles"]} == {"admin", "member", "reader", "service"}
    reader = await role_id(client, root, "reader")
    assert (await client.get(f"{V3}/roles/{reader}", headers=auth(root))).json()["role"][
        "name"
    ] == "reader"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/projects", {"project": {"name": "x"}}),
        ("post", "/users", {"user": {"name": "x", "password": "pw-xxxxxxx"}}),
        ("get", "/roles", None),
        ("get", "/domains", None),
        ("get", "/role_assignments", None),
    ],
)
async def test_only_an_admin_may(
    client: httpx.AsyncClient, people: dict[str, str], method: str, path: str, body: object
) -> None:
    # bob holds admin on demo, not on the admin project: no admin power.
    for user, password, project in (("alice", "pw-alice", "demo"), ("bob", "pw-bob", "demo")):
        token = await login(client, user, password, project)
        r = await client.request(method, V3 + path, json=body, headers=auth(token))
        assert r.status_code == 403, r.text
        assert r.json()["error"]["title"] == "Forbidden"


async def test_bad_input_is_a_keystone_400_or_404(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    root = await login(client, "root", "pw-root", "admin")
    r = await client.post(f"{V3}/projects", json={"project": {}}, headers=auth(root))
    assert r.status_code == 400 and "needs a name" in r.json()["error"]["message"]
    r = await client.post(
        f"{V3}/projects",
        json={"project": {"name": "p", "domain_id": "elsewhere"}},
        headers=auth(root),
    )
    assert r.status_code == 400
    r = await client.post(f"{V3}/projects", json={"project": {"name": "demo"}}, headers=auth(root))
    assert r.status_code == 409
    r = await client.put(
        f"{V3}/projects/{people['demo']}/users/{people['alice']}/roles/nosuchrole",
        headers=auth(root),
    )
    assert r.status_code == 404 and "Could not find role" in r.json()["error"]["message"]
    r = await client.patch(
        f"{V3}/projects/admin", json={"project": {"enabled": False}}, headers=auth(root)
    )
    assert r.status_code == 409  # admin power lives there
