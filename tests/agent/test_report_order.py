"""A real agent's reports through the real API (SQLite and PostgreSQL): numbered so the
API applies them in order, and an agent whose numbers fell behind the API's (its clock
went back across a restart) catches up at once instead of being ignored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.agent.backends import build_backends
from app.agent.client import AgentClient
from app.agent.config import parse_config
from app.agent.jobs import job_versions
from app.agent.reporter import Reporter
from app.db.models import Backend
from app.identity import agents

pytestmark = pytest.mark.both_databases  # reports ordered against the database's clock

HOST = "node1@file1"


async def _reporter(app: FastAPI, tmp_path: Path) -> tuple[Reporter, AgentClient]:
    async with app.state.runtime.sessionmaker() as session, session.begin():
        _, password = await agents.create_agent_user(session, "edge1")
    config = parse_config(
        {
            "agent": {"api_url": "http://pumice.test", "host": "node1"},
            "auth": {"username": "edge1", "password": password, "project_name": "service"},
            "backends": [{"name": "file1", "driver": "file", "path": str(tmp_path / "file1")}],
        }
    )
    backends = build_backends(config)
    assert await backends[HOST].setup()
    client = AgentClient(
        api_url="http://pumice.test",
        auth_url="http://pumice.test/identity/v3",
        username="edge1",
        password=password,
        project_name="service",
        agent_id="node1",
        transport=httpx.ASGITransport(app=app),
    )
    return Reporter(client, backends, interval=60, job_versions=job_versions()), client


async def _held_seq(app: FastAPI) -> int | None:
    async with app.state.runtime.sessionmaker() as session:
        return await session.scalar(select(Backend.report_seq).where(Backend.host == HOST))


async def test_an_agent_behind_the_apis_sequence_catches_up(app: FastAPI, tmp_path: Path) -> None:
    reporter, client = await _reporter(app, tmp_path)
    try:
        backend = reporter._backends[HOST]
        await reporter.report(backend)
        first = await _held_seq(app)
        assert first is not None and first == reporter._seq
        # As if the agent ran before with a clock far ahead, then restarted.
        ahead = first + 10**15
        async with app.state.runtime.sessionmaker() as session, session.begin():
            await session.execute(
                update(Backend).where(Backend.host == HOST).values(report_seq=ahead)
            )
        await reporter.report(backend)
        assert await _held_seq(app) == ahead  # refused: it was numbered below
        assert reporter._requested == {HOST}  # ... so it reports again at once
        await reporter.report(backend)
        held = await _held_seq(app)
        assert held is not None and held > ahead
    finally:
        await client.aclose()
