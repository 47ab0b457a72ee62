"""Token revocation and password changes (Keystone's semantics), on SQLite and
PostgreSQL: a revoked token is 404 to GET/HEAD /auth/tokens and 401 everywhere, its
rescoped tokens go with it, and a password change ends every token of the user."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import RevokedToken, utcnow
from app.db.session import make_engine, make_sessionmaker
from app.identity import revocations, service
from app.identity.tokens import TokenClaims, TokenIssuer, new_signing_key
from tests.identity.helpers import TOKENS, UNAUTHORIZED_BODY, Cli, login, password_auth

pytestmark = pytest.mark.both_databases  # revocations stored in the database


def subject(caller: str, token: str) -> dict[str, str]:
    return {"X-Auth-Token": caller, "X-Subject-Token": token}


async def rescope(client: httpx.AsyncClient, token: str, project: str) -> httpx.Response:
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }
    return await client.post(TOKENS, json=body)


async def works_on_block_storage(client: httpx.AsyncClient, token: str, project: str) -> int:
    response = await client.get(f"/v3/{project}/volumes", headers={"X-Auth-Token": token})
    return response.status_code


async def test_a_revoked_token_is_not_found_and_refused_everywhere(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    alice = await login(client)
    root = await login(client, "root", "pw-root", "admin")
    assert await works_on_block_storage(client, alice, people["demo"]) == 200

    response = await client.delete(TOKENS, headers=subject(alice, alice))
    assert (response.status_code, response.content) == (204, b"")

    response = await client.get(TOKENS, headers=subject(root, alice))
    assert response.status_code == 404
    assert response.json()["error"]["title"] == "Not Found"
    assert (await client.head(TOKENS, headers=subject(root, alice))).status_code == 404
    # As a caller it is no token at all, on the identity and the block storage API.
    response = await client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": alice})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)
    assert await works_on_block_storage(client, alice, people["demo"]) == 401
    # Revoking it again: there is no such token any more.
    assert (await client.delete(TOKENS, headers=subject(root, alice))).status_code == 404
    # Alice's other tokens are untouched.
    again = await login(client)
    assert await works_on_block_storage(client, again, people["demo"]) == 200


async def test_only_the_owner_an_admin_or_a_service_may_revoke(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        agent_password = await service.ensure_service_user(session)
        await session.commit()
    assert agent_password is not None
    alice = await login(client)
    bob = await login(client, "bob", "pw-bob")  # admin role, but on demo: not admin
    response = await client.delete(TOKENS, headers=subject(bob, alice))
    assert response.status_code == 403
    assert response.json()["error"]["title"] == "Forbidden"
    assert "identity:revoke_token" in response.json()["error"]["message"]
    assert await works_on_block_storage(client, alice, people["demo"]) == 200

    root = await login(client, "root", "pw-root", "admin")
    assert (await client.delete(TOKENS, headers=subject(root, alice))).status_code == 204
    agent = await login(client, "pumice-agent", agent_password, "service")
    assert (await client.delete(TOKENS, headers=subject(agent, bob))).status_code == 204
    assert await works_on_block_storage(client, bob, people["demo"]) == 401
    # No caller token, or a revoked one: 401.
    assert (await client.delete(TOKENS, headers={"X-Subject-Token": root})).status_code == 401
    assert (await client.delete(TOKENS, headers=subject(alice, alice))).status_code == 401


async def test_revoking_a_password_token_revokes_its_rescoped_tokens(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        await service.add_role(session, "alice", "empty", "reader")
        await session.commit()
    first = await login(client)
    response = await rescope(client, first, "empty")
    assert response.status_code == 201, response.text
    rescoped = response.headers["X-Subject-Token"]
    tokens = app.state.runtime.tokens
    # Keystone's audit ids: its own, then its chain's (the password token's).
    assert response.json()["token"]["audit_ids"] == [
        tokens.verify(rescoped).audit_id,
        tokens.verify(first).audit_id,
    ]
    # Rescoping the rescoped token keeps the chain.
    response = await rescope(client, rescoped, "demo")
    assert response.json()["token"]["audit_ids"][1] == tokens.verify(first).audit_id
    twice = response.headers["X-Subject-Token"]
    projects = await client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": first})
    (empty,) = [p["id"] for p in projects.json()["projects"] if p["name"] == "empty"]
    assert await works_on_block_storage(client, rescoped, empty) == 200

    assert (await client.delete(TOKENS, headers=subject(first, first))).status_code == 204
    assert await works_on_block_storage(client, rescoped, empty) == 401
    assert await works_on_block_storage(client, twice, people["demo"]) == 401
    root = await login(client, "root", "pw-root", "admin")
    assert (await client.get(TOKENS, headers=subject(root, rescoped))).status_code == 404
    # And a revoked token cannot be rescoped into a fresh one.
    response = await rescope(client, first, "empty")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)


async def test_revoking_a_rescoped_token_leaves_the_original(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    first = await login(client)
    rescoped = (await rescope(client, first, "demo")).headers["X-Subject-Token"]
    assert (await client.delete(TOKENS, headers=subject(first, rescoped))).status_code == 204
    assert await works_on_block_storage(client, rescoped, people["demo"]) == 401
    assert await works_on_block_storage(client, first, people["demo"]) == 200


async def test_a_rescoped_token_cannot_outlive_the_original(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    runtime = app.state.runtime
    async with runtime.sessionmaker() as session:
        result = await service.authenticate(
            session,
            user_name="alice",
            user_id=None,
            password="pw-alice",
            project_name="demo",
            project_id=None,
        )
    soon = utcnow() + timedelta(minutes=2)
    short, claims = runtime.tokens.issue(
        user_id=result.user.id,
        user_name=result.user.name,
        project_id=result.project.id,
        project_name=result.project.name,
        roles=result.roles,
        is_admin=False,
        expires_at=soon,
    )
    response = await rescope(client, short, "demo")
    assert response.status_code == 201
    assert runtime.tokens.verify(response.headers["X-Subject-Token"]).expires_at == (
        claims.expires_at
    )


async def test_revocations_are_purged_once_their_tokens_have_expired(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    def claims(token_id: str, expires_in: timedelta) -> TokenClaims:
        now = utcnow().replace(microsecond=0)
        return TokenClaims(
            "u", "u", "p", "p", ("member",), False, now - timedelta(hours=1), now + expires_in,
            token_id,
        )  # fmt: skip

    expired, live = claims("aa" * 16, timedelta(seconds=-1)), claims("bb" * 16, timedelta(hours=1))
    async with sessionmaker() as session, session.begin():
        await revocations.revoke(session, expired)
    async with sessionmaker() as session, session.begin():
        await revocations.revoke(session, live)
    async with sessionmaker() as session:
        kept = set(await session.scalars(select(RevokedToken.audit_id)))
    assert kept == {live.audit_id}


# --- password changes ------------------------------------------------------------


def password_change(new: str, original: str) -> dict[str, Any]:
    return {"user": {"password": new, "original_password": original}}


async def test_changing_ones_password_revokes_ones_tokens(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    alice = await login(client)
    rescoped = (await rescope(client, alice, "demo")).headers["X-Subject-Token"]
    bob = await login(client, "bob", "pw-bob")
    url = f"/identity/v3/users/{people['alice']}/password"

    # Keystone's self-service change needs no token: the original password is the proof.
    response = await client.post(url, json=password_change("pw-new", "pw-alice"))
    assert (response.status_code, response.content) == (204, b"")

    for token in (alice, rescoped):
        assert await works_on_block_storage(client, token, people["demo"]) == 401
        response = await client.get(TOKENS, headers=subject(token, token))
        assert response.status_code == 401
    assert await works_on_block_storage(client, bob, people["demo"]) == 200
    response = await client.post(TOKENS, json=password_auth())
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)
    fresh = await login(client, password="pw-new")
    assert await works_on_block_storage(client, fresh, people["demo"]) == 200


async def test_a_wrong_original_password_changes_nothing(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    alice = await login(client)
    url = f"/identity/v3/users/{people['alice']}/password"
    response = await client.post(url, json=password_change("pw-new", "wrong"))
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)
    response = await client.post(
        "/identity/v3/users/nobody/password", json=password_change("pw-new", "pw-alice")
    )
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)
    response = await client.post(url, json=password_change("", "pw-alice"))
    assert response.status_code == 400
    response = await client.post(url, json={"user": {"password": "pw-new"}})
    assert response.status_code == 400
    assert response.json()["error"]["title"] == "Bad Request"
    assert await works_on_block_storage(client, alice, people["demo"]) == 200
    await login(client)


def test_set_password_from_the_cli_revokes_the_users_tokens(cli: Cli) -> None:
    from app.identity.cli import project_app, user_app

    cli(project_app, "create", "demo")
    cli(user_app, "create", "carol", "--password", "pw-c", "--project", "demo", "--role", "member")
    cli(user_app, "create", "dave", "--password", "pw-d", "--project", "demo", "--role", "member")
    carol, dave = cli.login("carol", "pw-c", "demo"), cli.login("dave", "pw-d", "demo")
    issuer = TokenIssuer(new_signing_key(), 3600)

    def token(result: service.AuthResult) -> TokenClaims:
        return issuer.issue(
            user_id=result.user.id,
            user_name=result.user.name,
            project_id=result.project.id,
            project_name=result.project.name,
            roles=result.roles,
            is_admin=False,
            generation=result.user.token_generation,
        )[1]

    before, others = token(carol), token(dave)
    assert still_valid(cli.db_url, before) and still_valid(cli.db_url, others)
    cli(user_app, "set-password", "carol", "--password", "pw-c2")
    assert not still_valid(cli.db_url, before)
    assert still_valid(cli.db_url, others)
    assert still_valid(cli.db_url, token(cli.login("carol", "pw-c2", "demo")))


def still_valid(db_url: str, claims: TokenClaims) -> bool:
    async def check() -> bool:
        engine = make_engine(db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await service.token_still_valid(session, claims)
        finally:
            await engine.dispose()

    return asyncio.run(check())
