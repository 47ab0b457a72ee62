from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.agent.client import AgentClient
from app.agent.config import AgentConfig, parse_config
from app.agent.service import Agent
from app.identity.service import ensure_service_user
from tests.agent.fake_api import PASSWORD, PROJECT, USERNAME, FakeApiServer, FakeApiState
from tests.conftest import Caller, free_port


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    server = FakeApiServer(FakeApiState(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def agent_toml(
    api_url: str | list[str],
    backend_path: Path,
    *,
    agent_extra: str = "",
    backend_extra: str = "",
    driver: str = "file",
    shutdown_grace: float = 3,
) -> str:
    return f"""
[agent]
api_url = {json.dumps(api_url)}
host = "node1"
availability_zone = "az1"
report_interval = 0.3
claim_wait = 1
retry_max_interval = 0.3
shutdown_grace = {shutdown_grace}
{agent_extra}

[auth]
username = "{USERNAME}"
password = "{PASSWORD}"
project_name = "{PROJECT}"

[[backends]]
name = "file1"
driver = "{driver}"
path = "{backend_path}"
capacity_gb = 100
{backend_extra}
"""


async def eventually(condition: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    """Wait (bounded) until condition() holds, polling the event loop."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit} s waiting for {what}")
        await asyncio.sleep(0.02)


def raw_config(tmp_path: Path, **backup: Any) -> dict[str, Any]:
    """An agent config (as parsed TOML) with a file backend and a backup repository."""
    return {
        "agent": {
            "api_url": "http://pumice.test",
            "host": "node1",
            "availability_zone": "nova",
            "report_interval": 0.3,
            "claim_wait": 1,
            "retry_max_interval": 0.3,
        },
        "auth": {"username": "backup-agent", "password": "unset", "project_name": "service"},
        "backends": [
            {"name": "file1", "driver": "file", "path": str(tmp_path / "file1"), "capacity_gb": 50}
        ],
        "backup": {"repository": str(tmp_path / "repo"), **backup},
    }


async def backup_agent(app: FastAPI, tmp_path: Path) -> tuple[Agent, AgentConfig]:
    """An agent with a file backend and a backup repository (1 MiB chunks) under
    `tmp_path`, speaking to `app` in process as its service user."""
    async with app.state.runtime.sessionmaker() as session, session.begin():
        password = await ensure_service_user(session, "backup-agent")
    assert password is not None
    raw = raw_config(tmp_path, chunk_mib=1)
    raw["auth"]["password"] = password
    config = parse_config(raw)
    client = AgentClient(
        api_url="http://pumice.test",
        auth_url="http://pumice.test/identity/v3",
        username="backup-agent",
        password=password,
        project_name="service",
        agent_id="node1",
        retry_max=0.3,
        transport=httpx.ASGITransport(app=app),
    )
    return Agent(config, client=client), config


async def get_json(
    client: httpx.AsyncClient, caller: Caller, path: str, version: str = "3.0"
) -> Any:
    r = await client.get(f"/v3/{caller.project_id}{path}", headers=caller.headers(version))
    return r.json() if r.status_code == 200 else None


async def poll(check: Any, what: str, limit: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
