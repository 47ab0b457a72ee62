"""Identity fixtures: the CLI on the test's database, and a few people to log in as."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.identity import service
from tests.identity.helpers import Cli


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url)


@pytest.fixture
async def people(app: FastAPI) -> dict[str, str]:
    """demo (alice: member), admin (root: admin), and bob with admin on demo only."""
    async with app.state.runtime.sessionmaker() as session:
        demo = await service.create_project(session, "demo")
        await service.create_project(session, "admin")
        await service.create_project(session, "empty")
        alice = await service.create_user(session, "alice", "pw-alice", project="demo")
        await service.add_role(session, "alice", "demo", "member")
        await service.create_user(session, "root", "pw-root", project="admin")
        await service.add_role(session, "root", "admin", "admin")
        await service.create_user(session, "bob", "pw-bob", project="demo")
        await service.add_role(session, "bob", "demo", "admin")
        await session.commit()
        return {"alice": alice.id, "demo": demo.id}
