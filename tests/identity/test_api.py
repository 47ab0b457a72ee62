"""The Keystone v3 subset over HTTP, on SQLite."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.identity import service
from tests.identity.helpers import TOKENS, UNAUTHORIZED_BODY, login, password_auth


async def test_versions_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/identity")
    assert response.status_code == 300
    (version,) = response.json()["versions"]["values"]
    assert version["id"] == "v3.14"
    assert version["status"] == "stable"
    assert version["links"] == [{"rel": "self", "href": "http://pumice.test/identity/v3/"}]

    response = await client.get("/identity/v3")
    assert response.status_code == 200
    assert response.json()["version"] == version
    assert (await client.get("/identity/v3/")).json() == response.json()


async def test_password_authentication_issues_a_scoped_token(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    response = await client.post(TOKENS, json=password_auth())
    assert response.status_code == 201, response.text
    assert response.headers["X-Subject-Token"]
    token = response.json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"] == {
        "id": people["alice"],
        "name": "alice",
        "domain": {"id": "default", "name": "Default"},
        "password_expires_at": None,
    }
    assert token["project"]["id"] == people["demo"]
    assert token["project"]["name"] == "demo"
    assert [r["name"] for r in token["roles"]] == ["member"]
    assert token["is_domain"] is False
    assert len(token["audit_ids"]) == 1
    for stamp in (token["issued_at"], token["expires_at"]):
        assert stamp.endswith(".000000Z") and len(stamp) == 27
    catalog = {entry["type"]: entry for entry in token["catalog"]}
    assert set(catalog) == {"block-storage", "volumev3", "identity"}
    for kind in ("block-storage", "volumev3"):
        endpoints = catalog[kind]["endpoints"]
        assert {e["interface"] for e in endpoints} == {"public", "internal", "admin"}
        assert {e["url"] for e in endpoints} == {f"http://pumice.test/v3/{people['demo']}"}
        assert {(e["region"], e["region_id"]) for e in endpoints} == {("RegionOne", "RegionOne")}
    assert catalog["identity"]["endpoints"][0]["url"] == "http://pumice.test/identity"


async def test_the_token_works_on_the_block_storage_api(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    token = await login(client)
    response = await client.get(f"/v3/{people['demo']}/volumes", headers={"X-Auth-Token": token})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "variant",
    [
        {"by_id": True},
        {"domain": {"id": "default"}},
        {"domain": {"name": "default"}},
        {"project": None},  # the default project
    ],
)
async def test_accepted_request_forms(
    client: httpx.AsyncClient, people: dict[str, str], variant: dict[str, Any]
) -> None:
    user = people["alice"] if variant.get("by_id") else "alice"
    response = await client.post(TOKENS, json=password_auth(user, **variant))
    assert response.status_code == 201, response.text
    assert response.json()["token"]["project"]["name"] == "demo"


async def test_project_scope_by_id(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    body = password_auth(project=None)
    body["auth"]["scope"] = {"project": {"id": people["demo"]}}
    response = await client.post(TOKENS, json=body)
    assert response.status_code == 201
    assert response.json()["token"]["project"]["id"] == people["demo"]


@pytest.mark.parametrize(
    "attempt",
    [
        {"password": "wrong"},
        {"user": "nobody"},
        {"project": "nowhere"},
        {"project": "empty"},  # exists, alice has no role there
        {"project": "admin"},
        {"domain": {"name": "Elsewhere"}},
    ],
)
async def test_every_failure_is_the_same_401(
    client: httpx.AsyncClient, people: dict[str, str], attempt: dict[str, Any]
) -> None:
    response = await client.post(TOKENS, json=password_auth(**attempt))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED_BODY
    assert "X-Subject-Token" not in response.headers
    assert response.headers["WWW-Authenticate"] == 'Keystone uri="http://pumice.test/identity"'


async def test_a_disabled_user_gets_the_same_401(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    token = await login(client)
    async with app.state.runtime.sessionmaker() as session:
        await service.set_user_enabled(session, "alice", False)
        await session.commit()
    response = await client.post(TOKENS, json=password_auth())
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)
    # Its earlier token stops working on the identity API too.
    response = await client.get(TOKENS, headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"auth": {}},
        {"auth": {"identity": {"methods": ["password"]}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {"password": "x"}}}}},
        {"auth": {"identity": "password"}},
    ],
)
async def test_malformed_requests_get_keystone_400s(
    client: httpx.AsyncClient, body: dict[str, Any] | None
) -> None:
    response = await client.post(TOKENS, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["title"]) == (400, "Bad Request")
    assert error["message"]


async def test_invalid_json_gets_a_keystone_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKENS, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["title"] == "Bad Request"


async def test_admin_power_needs_the_admin_project(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    tokens = app.state.runtime.tokens
    root = tokens.verify(await login(client, "root", "pw-root", "admin"))
    bob = tokens.verify(await login(client, "bob", "pw-bob", "demo"))
    assert root.is_admin and root.roles == ("admin",)
    assert not bob.is_admin and bob.roles == ("admin",)


async def test_nocatalog(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    response = await client.post(f"{TOKENS}?nocatalog", json=password_auth())
    assert response.status_code == 201
    assert "catalog" not in response.json()["token"]


async def test_validate_own_token(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    token = await login(client)
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    response = await client.get(TOKENS, headers=headers)
    assert response.status_code == 200
    assert response.headers["X-Subject-Token"] == token
    body = response.json()["token"]
    assert body["user"]["name"] == "alice" and body["project"]["name"] == "demo"
    assert {e["type"] for e in body["catalog"]} == {"block-storage", "volumev3", "identity"}

    response = await client.head(TOKENS, headers=headers)
    assert response.status_code == 200
    assert response.content == b""


async def test_validation_rules(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    alice = await login(client)
    bob = await login(client, "bob", "pw-bob")
    root = await login(client, "root", "pw-root", "admin")
    # No caller token, or a bad one: 401.
    assert (await client.get(TOKENS, headers={"X-Subject-Token": alice})).status_code == 401
    bad = {"X-Auth-Token": "garbage", "X-Subject-Token": alice}
    assert (await client.get(TOKENS, headers=bad)).status_code == 401
    assert (await client.head(TOKENS, headers=bad)).status_code == 401
    # Someone else's token: only an admin (or a service) may look.
    other = {"X-Auth-Token": bob, "X-Subject-Token": alice}
    response = await client.get(TOKENS, headers=other)
    assert response.status_code == 403
    assert response.json()["error"]["title"] == "Forbidden"
    assert (await client.head(TOKENS, headers=other)).status_code == 403
    by_admin = {"X-Auth-Token": root, "X-Subject-Token": alice}
    assert (await client.get(TOKENS, headers=by_admin)).status_code == 200
    # A token that is not one: 404, as Keystone answers.
    unknown = {"X-Auth-Token": root, "X-Subject-Token": alice[:-3] + "abc"}
    response = await client.get(TOKENS, headers=unknown)
    assert response.status_code == 404
    assert response.json()["error"]["title"] == "Not Found"
    assert (await client.head(TOKENS, headers=unknown)).status_code == 404


async def test_a_service_may_validate_any_token(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        password = await service.ensure_service_user(session)
        await session.commit()
    assert password is not None
    agent = await login(client, "pumice-agent", password, "service")
    alice = await login(client)
    response = await client.get(TOKENS, headers={"X-Auth-Token": agent, "X-Subject-Token": alice})
    assert response.status_code == 200


async def test_a_removed_role_invalidates_the_token(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    alice = await login(client)
    root = await login(client, "root", "pw-root", "admin")
    async with app.state.runtime.sessionmaker() as session:
        await service.remove_role(session, "alice", "demo", "member")
        await session.commit()
    response = await client.get(TOKENS, headers={"X-Auth-Token": root, "X-Subject-Token": alice})
    assert response.status_code == 404


async def test_rescope_with_the_token_method(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        await service.add_role(session, "alice", "empty", "reader")
        await session.commit()
    first = await login(client)
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": first}},
            "scope": {"project": {"name": "empty", "domain": {"name": "Default"}}},
        }
    }
    response = await client.post(TOKENS, json=body)
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["project"]["name"] == "empty"
    assert token["methods"] == ["token", "password"]
    assert [r["name"] for r in token["roles"]] == ["reader"]
    rescoped = response.headers["X-Subject-Token"]
    validated = await client.get(
        TOKENS, headers={"X-Auth-Token": rescoped, "X-Subject-Token": rescoped}
    )
    assert validated.json()["token"]["methods"] == ["token", "password"]
    tokens = app.state.runtime.tokens
    assert tokens.verify(rescoped).expires_at <= (tokens.verify(first).expires_at)
    body["auth"]["scope"] = {"project": {"name": "admin", "domain": {"name": "Default"}}}
    response = await client.post(TOKENS, json=body)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)


async def test_auth_projects_and_catalog(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        await service.add_role(session, "alice", "empty", "reader")
        await session.commit()
    headers = {"X-Auth-Token": await login(client)}
    response = await client.get("/identity/v3/auth/projects", headers=headers)
    assert response.status_code == 200
    projects = response.json()["projects"]
    assert [p["name"] for p in projects] == ["demo", "empty"]
    assert projects[0]["domain_id"] == "default" and projects[0]["enabled"] is True
    response = await client.get("/identity/v3/auth/catalog", headers=headers)
    assert {e["type"] for e in response.json()["catalog"]} == {
        "block-storage",
        "volumev3",
        "identity",
    }
    assert (await client.get("/identity/v3/auth/projects")).status_code == 401


async def test_self_lookups(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    alice = {"X-Auth-Token": await login(client)}
    root = {"X-Auth-Token": await login(client, "root", "pw-root", "admin")}
    response = await client.get(f"/identity/v3/users/{people['alice']}", headers=alice)
    assert response.status_code == 200
    assert response.json()["user"]["default_project_id"] == people["demo"]
    response = await client.get(f"/identity/v3/projects/{people['demo']}", headers=alice)
    assert response.json()["project"]["name"] == "demo"
    response = await client.get(f"/identity/v3/users/{people['alice']}/projects", headers=alice)
    assert [p["name"] for p in response.json()["projects"]] == ["demo"]
    # Other users and projects: 403 for a member, visible to an admin.
    assert (await client.get("/identity/v3/users/root", headers=alice)).status_code == 403
    assert (await client.get("/identity/v3/projects/admin", headers=alice)).status_code == 403
    assert (await client.get("/identity/v3/projects/nowhere", headers=alice)).status_code == 403
    assert (await client.get("/identity/v3/projects", headers=alice)).status_code == 403
    assert (await client.get("/identity/v3/users/root", headers=root)).status_code == 200
    response = await client.get("/identity/v3/projects?name=demo", headers=root)
    assert [p["id"] for p in response.json()["projects"]] == [people["demo"]]
    response = await client.get("/identity/v3/users", headers=root)
    assert [u["name"] for u in response.json()["users"]] == ["alice", "bob", "root"]
    response = await client.get("/identity/v3/users/nobody", headers=root)
    assert response.status_code == 404
    assert response.json()["error"]["title"] == "Not Found"
