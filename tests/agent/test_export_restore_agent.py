"""A real agent restarting against the real API and a real private tgtd: the attached
volume's target comes back (tgtd lost it), and a target left for a volume nobody has
attached any more is removed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.agent.client import AgentClient
from app.agent.config import parse_config
from app.agent.service import Agent
from app.drivers import ExportSpec, VolumeSpec
from app.identity.service import ensure_service_user
from tests.api.helpers import connector, create_volume, volume_status
from tests.conftest import Caller
from tests.drivers.helpers import PrivateTgtd, make_export_driver

STALE = "6f1c2a57-0000-4000-8000-0000000000aa"
PREFIX = "iqn.2010-10.org.openstack:volume-"


async def _agent(app: FastAPI, folder: Path, tgtd: PrivateTgtd, password: str) -> Agent:
    config = parse_config(
        {
            "agent": {
                "api_url": "http://pumice.test",
                "host": "node1",
                "report_interval": 0.3,
                "claim_wait": 1,
                "retry_max_interval": 0.3,
            },
            "auth": {"username": "node1-agent", "password": password, "project_name": "service"},
            "backends": [
                {
                    "name": "file1",
                    "driver": "file",
                    "path": str(folder),
                    "capacity_gb": 50,
                    "target_ip_address": tgtd.address,
                    "target_port": tgtd.port,
                    "tgt_control_port": tgtd.control_port,
                }
            ],
        }
    )
    client = AgentClient(
        api_url="http://pumice.test",
        auth_url="http://pumice.test/identity/v3",
        username="node1-agent",
        password=password,
        project_name="service",
        agent_id="node1",
        retry_max=0.3,
        transport=httpx.ASGITransport(app=app),
    )
    return Agent(config, client=client)


async def _until(check: object, what: str, limit: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_restarted_agent_restores_attached_exports_and_removes_stale_ones(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, tmp_path: Path, tgtd: PrivateTgtd
) -> None:
    async with app.state.runtime.sessionmaker() as session, session.begin():
        password = await ensure_service_user(session, "node1-agent")
    assert password is not None
    folder = tmp_path / "file1"

    agent = await _agent(app, folder, tgtd, password)
    task = asyncio.create_task(agent.run())
    try:

        async def reported() -> bool:
            return bool(app.state.runtime.cache.backends())

        # A create before the agent's first report finds no pool and ends in error.
        await _until(reported, "the agent's first report")
        r = await create_volume(client, member)
        volume_id = r.json()["volume"]["id"]

        async def available() -> bool:
            status = await volume_status(client, member, volume_id)
            assert status != "error", "the create failed"
            return status == "available"

        await _until(available, "the volume")
        r = await client.post(
            f"/v3/{member.project_id}/attachments",
            json={"attachment": {"volume_uuid": volume_id, "connector": connector("127.0.0.1")}},
            headers=member.headers("3.54"),
        )
        assert r.status_code == 200, r.text
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)
    wanted = PREFIX + volume_id
    assert [t.iqn for t in tgtd.targets()] == [wanted]

    # While the agent is away, tgtd restarts (it forgets every target) and a target of
    # a volume whose attachment is gone is left behind.
    tgtd.clear()
    driver = make_export_driver(folder, tgtd)
    stale = VolumeSpec(id=STALE, size_gb=1)
    driver.create_volume(stale)
    driver.export_volume(stale, ExportSpec(chap_user="olduser", chap_secret="OldSecret12345"))
    assert [t.iqn for t in tgtd.targets()] == [PREFIX + STALE]

    agent = await _agent(app, folder, tgtd, password)
    task = asyncio.create_task(agent.run())
    try:

        async def restored() -> bool:
            return [t.iqn for t in tgtd.targets()] == [wanted]

        await _until(restored, "the export restored and the stale one removed")
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)
    assert await volume_status(client, member, volume_id) == "attaching"
    assert "olduser" not in tgtd.accounts() and len(tgtd.accounts()) == 1
