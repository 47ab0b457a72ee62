"""Two API replicas on one database: what one learns, the other's cache soon has
(PostgreSQL: the change channel; SQLite: polling). Typically well under a second; the
bound here is loose because test machines are shared."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Project, RoleAssignment, User
from app.main import create_app
from tests.api.helpers import file_pool, next_timestamp
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases  # replicas sharing one database


async def eventually(check: Callable[[], bool], within: float = 10.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, "replicas did not converge in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def caller(app: FastAPI, roles: tuple[str, ...]) -> Caller:
    runtime = app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        # Agents hold the service role on project 'service'.
        project = Project(name="service" if roles == ("service",) else f"p-{roles[0]}")
        user = User(name=f"u-{roles[0]}", password_hash="!")
        session.add_all([project, user])
        await session.flush()
        session.add_all(
            RoleAssignment(user_id=user.id, project_id=project.id, role=r) for r in roles
        )
    token, _ = runtime.tokens.issue(
        user_id=user.id,
        user_name=user.name,
        project_id=project.id,
        project_name=project.name,
        roles=roles,
        is_admin=False,
    )
    return Caller(user.id, project.id, token)


async def test_reports_and_claims_reach_the_other_replica(settings: Settings) -> None:
    settings = settings.model_copy(update={"cache_refresh_interval": 0.2})
    one, two = create_app(settings), create_app(settings)
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        service = await caller(one, ("service",))
        member = await caller(one, ("member",))
        c1 = httpx.AsyncClient(transport=httpx.ASGITransport(app=one), base_url="http://one")
        c2 = httpx.AsyncClient(transport=httpx.ASGITransport(app=two), base_url="http://two")
        async with c1, c2:
            body = {
                "host": "n1@file",
                "availability_zone": "nova",
                "timestamp": next_timestamp(),
                "capabilities": {"volume_backend_name": "file", "pools": [file_pool(total=10)]},
            }
            r = await c1.post("/agent/v1/capabilities", json=body, headers=service.headers())
            assert r.json()["accepted"] is True
            cache2 = two.state.runtime.cache
            await eventually(lambda: cache2.pool("n1@file", "pool") is not None)

            r = await c1.post(
                f"/v3/{member.project_id}/volumes",
                json={"volume": {"size": 4}},
                headers=member.headers(),
            )
            assert r.status_code == 202
            await eventually(lambda: cache2.pool("n1@file", "pool").allocated_gb == 4)

            # The second replica now places with the first one's claim counted: 10 - 4
            # leaves room for 6, not 10.
            r = await c2.post(
                f"/v3/{member.project_id}/volumes",
                json={"volume": {"size": 7}},
                headers=member.headers(),
            )
            assert r.json()["volume"]["status"] == "error"
            r = await c2.post(
                f"/v3/{member.project_id}/volumes",
                json={"volume": {"size": 6}},
                headers=member.headers(),
            )
            assert r.json()["volume"]["status"] == "creating"
            cache1 = one.state.runtime.cache
            await eventually(lambda: cache1.pool("n1@file", "pool").allocated_gb == 10)
