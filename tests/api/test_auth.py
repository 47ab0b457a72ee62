"""Tokens stop working when what they stand for is gone; admin power is scoped."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.identity import service as identity
from tests.conftest import Caller, MakeCaller


async def test_deleted_users_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, make_caller: MakeCaller
) -> None:
    caller: Caller = await make_caller("demo", ("member",), user_name="leaving")
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await identity.delete_user(session, "leaving")
    r = await client.get(f"/v3/{caller.project_id}/volumes", headers=caller.headers())
    assert r.status_code == 401 and "unauthorized" in r.json()


async def test_admin_role_elsewhere_is_not_admin(
    client: httpx.AsyncClient, make_caller: MakeCaller
) -> None:
    caller: Caller = await make_caller("demo", ("admin",))
    r = await client.get(f"/v3/{caller.project_id}/os-services", headers=caller.headers())
    assert r.status_code == 403
    r = await client.post(
        f"/v3/{caller.project_id}/types",
        headers=caller.headers(),
        json={"volume_type": {"name": "x"}},
    )
    assert r.status_code == 403


async def test_reader_cannot_write(client: httpx.AsyncClient, make_caller: MakeCaller) -> None:
    caller: Caller = await make_caller("demo", ("reader",))
    r = await client.get(f"/v3/{caller.project_id}/volumes", headers=caller.headers())
    assert r.status_code == 200
    r = await client.post(
        f"/v3/{caller.project_id}/volumes", headers=caller.headers(), json={"volume": {"size": 1}}
    )
    assert r.status_code == 403
