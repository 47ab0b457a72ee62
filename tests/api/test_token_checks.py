"""What a token is worth is decided at validation, from the database: admin power from
the roles held and the project, not from the token's own flag; and a revocation or
password change shows at once on the replica that made it and within
token_check_ttl_seconds on the others (their cached checks run out)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.identity import service
from app.main import create_app
from tests.conftest import Caller, MakeCaller

pytestmark = pytest.mark.both_databases  # revocations and password changes seen across replicas

TOKENS = "/identity/v3/auth/tokens"


async def test_an_admin_flag_in_the_token_is_not_trusted(
    app: FastAPI, client: httpx.AsyncClient, make_caller: MakeCaller
) -> None:
    member: Caller = await make_caller("demo", ("member",))
    tokens = app.state.runtime.tokens
    claims = tokens.verify(member.token)
    # Signed with the right key, but claiming admin for a member of a normal project.
    forged, _ = tokens.issue(
        user_id=claims.user_id,
        user_name=claims.user_name,
        project_id=claims.project_id,
        project_name="admin",
        roles=("member",),
        is_admin=True,
    )
    headers = {"X-Auth-Token": forged}
    r = await client.get(f"/v3/{member.project_id}/os-services", headers=headers)
    assert r.status_code == 403
    r = await client.get("/identity/v3/users", headers=headers)
    assert r.status_code == 403


async def test_a_project_name_in_the_token_does_not_make_an_agent(
    app: FastAPI, client: httpx.AsyncClient, make_caller: MakeCaller
) -> None:
    tenant: Caller = await make_caller("tenant", ("service",))
    tokens = app.state.runtime.tokens
    claims = tokens.verify(tenant.token)
    # Signed with the right key, naming project 'service' for a tenant project's role.
    forged, _ = tokens.issue(
        user_id=claims.user_id,
        user_name=claims.user_name,
        project_id=claims.project_id,
        project_name="service",
        roles=("service",),
        is_admin=False,
    )
    r = await client.post(
        "/agent/v1/jobs/claim",
        json={"backends": ["node1@file"], "wait": 0},
        headers={"X-Auth-Token": forged},
    )
    assert r.status_code == 403, r.text


async def test_the_admin_role_on_the_admin_project_is_admin_whatever_the_token_says(
    app: FastAPI, client: httpx.AsyncClient, make_caller: MakeCaller
) -> None:
    admin: Caller = await make_caller("admin", ("admin",))
    tokens = app.state.runtime.tokens
    claims = tokens.verify(admin.token)
    modest, _ = tokens.issue(
        user_id=claims.user_id,
        user_name=claims.user_name,
        project_id=claims.project_id,
        project_name=claims.project_name,
        roles=("admin",),
        is_admin=False,
    )
    headers = {"X-Auth-Token": modest}
    assert (await client.get(f"/v3/{admin.project_id}/os-services", headers=headers)).is_success
    assert (await client.get("/identity/v3/users", headers=headers)).status_code == 200


async def test_a_revocation_shows_at_once_on_the_replica_that_made_it(
    client: httpx.AsyncClient, make_caller: MakeCaller
) -> None:
    caller: Caller = await make_caller("demo", ("member",))
    url = f"/v3/{caller.project_id}/volumes"
    assert (await client.get(url, headers=caller.headers())).status_code == 200  # now cached
    headers = caller.headers(**{"X-Subject-Token": caller.token})
    assert (await client.delete(TOKENS, headers=headers)).status_code == 204
    assert (await client.get(url, headers=caller.headers())).status_code == 401


async def test_a_password_change_shows_at_once_on_the_replica_that_made_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        project = await service.create_project(session, "demo")
        user = await service.create_user(session, "alice", "pw-old", project="demo")
        await service.add_role(session, "alice", "demo", "member")
        await session.commit()
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"id": user.id, "password": "pw-old"}},
            }
        }
    }
    token = (await client.post(TOKENS, json=auth)).headers["X-Subject-Token"]
    url = f"/v3/{project.id}/volumes"
    assert (await client.get(url, headers={"X-Auth-Token": token})).status_code == 200
    change = {"user": {"password": "pw-new", "original_password": "pw-old"}}
    r = await client.post(f"/identity/v3/users/{user.id}/password", json=change)
    assert r.status_code == 204
    assert (await client.get(url, headers={"X-Auth-Token": token})).status_code == 401


async def test_other_replicas_see_a_revocation_within_the_check_ttl(settings: Settings) -> None:
    settings = settings.model_copy(update={"token_check_ttl_seconds": 0.5})
    one, two = create_app(settings, background=False), create_app(settings, background=False)
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        c1, c2 = (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://pumice.test")
            for a in (one, two)
        )
        async with c1, c2:
            async with one.state.runtime.sessionmaker() as session:
                await service.create_project(session, "demo")
                await service.create_user(session, "alice", "pw", project="demo")
                await service.add_role(session, "alice", "demo", "member")
                await session.commit()
            auth = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {"user": {"name": "alice", "password": "pw"}},
                    }
                }
            }
            r = await c1.post(TOKENS, json=auth)
            token, project = r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]
            url, headers = f"/v3/{project}/volumes", {"X-Auth-Token": token}
            assert (await c2.get(url, headers=headers)).status_code == 200  # cached on two

            revoke = {"X-Auth-Token": token, "X-Subject-Token": token}
            assert (await c1.delete(TOKENS, headers=revoke)).status_code == 204
            assert (await c1.get(url, headers=headers)).status_code == 401
            # The other replica re-checks once its entry is older than the ttl; the
            # bound is loose because test machines are shared.
            started = time.monotonic()
            while (await c2.get(url, headers=headers)).status_code != 401:
                assert time.monotonic() - started < 20, "replica two kept the revoked token"
                await asyncio.sleep(0.05)
