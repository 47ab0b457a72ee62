"""`pumice agent-user`: an agent's user and record, and the admin's move of a host, on
real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from app.db.models import Agent, Backend
from app.db.session import make_engine, make_sessionmaker
from app.identity.agent_cli import agent_user_app
from tests.identity.helpers import Cli

pytestmark = pytest.mark.both_databases  # the CLI on each database URL


def _backend_owner(db_url: str, host: str, *, add_owned_by: str | None = None) -> str | None:
    async def work() -> str | None:
        engine = make_engine(db_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                if add_owned_by is not None:
                    session.add(
                        Backend(
                            host=host,
                            availability_zone="nova",
                            report={},
                            reported_at=datetime(2026, 1, 1),
                            agent_id=add_owned_by,
                        )
                    )
                    return add_owned_by
                return await session.scalar(select(Backend.agent_id).where(Backend.host == host))
        finally:
            await engine.dispose()

    return asyncio.run(work())


def _agents(db_url: str) -> dict[str, str]:
    async def work() -> dict[str, str]:
        engine = make_engine(db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return {a.name: a.user_id for a in await session.scalars(select(Agent))}
        finally:
            await engine.dispose()

    return asyncio.run(work())


def test_agent_user_create_makes_a_service_user_registered_as_that_agent(cli: Cli) -> None:
    out = cli(agent_user_app, "create", "edge1")
    password = re.search(r"shown once: (\S+)", out)
    assert password is not None
    auth = cli.login("edge1", password.group(1), "service")
    assert auth.roles == ("service",) and auth.project.name == "service"
    assert _agents(cli.db_url) == {"edge1": auth.user.id}
    assert "already exists" in cli(agent_user_app, "create", "edge1", code=1)
    cli(agent_user_app, "create", "edge2", "--password", "s3cret")
    assert cli.login("edge2", "s3cret", "service").roles == ("service",)


def test_agent_user_reassign_moves_a_host_to_another_agent(cli: Cli) -> None:
    cli(agent_user_app, "create", "edge1")
    cli(agent_user_app, "create", "edge2")
    _backend_owner(cli.db_url, "n1@file", add_owned_by="edge1")
    assert "Could not find agent" in cli(agent_user_app, "reassign", "n1@file", "nobody", code=1)
    assert "Could not find host" in cli(agent_user_app, "reassign", "n9@file", "edge2", code=1)
    cli(agent_user_app, "reassign", "n1@file", "edge2")
    assert _backend_owner(cli.db_url, "n1@file") == "edge2"
    listed = json.loads(cli(agent_user_app, "list", "--json"))
    assert [(a["name"], a["hosts"]) for a in listed] == [("edge1", ""), ("edge2", "n1@file")]


def test_agent_user_create_if_missing_runs_at_every_start_and_changes_nothing(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deployment's first-run step: the password from the container's environment.
    monkeypatch.setenv("PUMICE_AGENT_PASSWORD", "from-the-environment")
    assert "Created agent edge1." in cli(agent_user_app, "create", "edge1", "--if-missing")
    monkeypatch.setenv("PUMICE_AGENT_PASSWORD", "another")
    assert "exists: unchanged" in cli(agent_user_app, "create", "edge1", "--if-missing")
    assert cli.login("edge1", "from-the-environment", "service").roles == ("service",)
    assert "already exists" in cli(agent_user_app, "create", "edge1", code=1)
