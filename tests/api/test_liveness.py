"""Backends that stop reporting: down after service_down_time, their queued work fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.volumes import reaper
from tests.api.helpers import new_volume, report
from tests.api.helpers import volume_status as status_of
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases  # service_down_time against the database's clock

DOWN_AFTER = 3


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        public_url="http://pumice.test",
        service_down_time=DOWN_AFTER,
    )


async def test_a_dead_backends_queued_job_fails(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    volume_id = await new_volume(client, member)
    assert await reaper.reap_once(app.state.runtime) == 0
    await asyncio.sleep(DOWN_AFTER + 0.3)  # the agent went silent
    assert await reaper.reap_once(app.state.runtime) == 1
    assert await status_of(client, member, volume_id) == "error"
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    assert "backend is down" in r.json()["messages"][0]["user_message"]


async def test_down_backend_gets_no_volume(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    await asyncio.sleep(DOWN_AFTER + 0.3)
    r = await client.get(f"/v3/{admin.project_id}/os-services", headers=admin.headers())
    assert r.json()["services"][0]["state"] == "down"
    volume_id = await new_volume(client, member)
    assert await status_of(client, member, volume_id) == "error"
    r = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    # The down backend is named, not hidden behind what a filter made of the rest.
    assert "backend node1@file is down" in r.json()["messages"][0]["user_message"]
    await report(client, service)  # back up
    assert await status_of(client, member, await new_volume(client, member)) == "creating"
