from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.fake_api import PASSWORD, PROJECT, USERNAME, FakeApiServer, FakeApiState
from tests.conftest import free_port


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
