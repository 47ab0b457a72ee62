"""Right after a start with no capability report known (a new deployment, `pumice up`),
a create waits for the first report (bounded, Cinder's scheduler_driver_init_wait_time)
instead of failing for want of one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.api.helpers import create_volume, report, volume_status
from tests.conftest import Caller


@pytest.fixture
def wait_time() -> float:
    return 120.0


@pytest.fixture
def settings(db_url: str, tmp_path: Path, wait_time: float) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        public_url="http://pumice.test",
        scheduler_driver_init_wait_time=wait_time,
    )


async def test_a_create_before_the_first_report_waits_for_it_and_is_placed(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    create = asyncio.create_task(create_volume(client, member, 1))
    await asyncio.sleep(0.5)
    assert not create.done()  # waiting, not failed
    await report(client, service)
    r = await asyncio.wait_for(create, 30)
    assert r.status_code == 202, r.text
    volume_id = r.json()["volume"]["id"]
    assert await volume_status(client, member, volume_id) == "creating"  # placed, queued


@pytest.mark.parametrize("wait_time", [0.3])
async def test_past_the_wait_a_create_with_no_report_fails_with_the_reason(
    client: httpx.AsyncClient, member: Caller, wait_time: float
) -> None:
    await asyncio.sleep(wait_time)
    r = await create_volume(client, member, 1)
    assert r.status_code == 202
    volume_id = r.json()["volume"]["id"]
    assert await volume_status(client, member, volume_id) == "error"
    messages = await client.get(f"/v3/{member.project_id}/messages", headers=member.headers("3.3"))
    assert "No backend has reported capabilities" in messages.json()["messages"][0]["user_message"]


async def test_a_known_backend_means_no_wait(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    # Answered at once (bounded far below the 120 s wait), and placed.
    r = await asyncio.wait_for(create_volume(client, member, 1), 30)
    assert r.status_code == 202
    assert await volume_status(client, member, r.json()["volume"]["id"]) == "creating"
