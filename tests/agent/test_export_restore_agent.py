"""A real agent restarting against the real API and a real private tgtd: the attached
volume's target comes back (tgtd lost it), and a target left for a volume nobody has
attached any more is removed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.agent.service import Agent
from app.drivers import ExportSpec, VolumeSpec
from tests.api.helpers import (
    agent_password,
    connector,
    create_volume,
    in_process_agent,
    until,
    volume_status,
)
from tests.conftest import Caller
from tests.drivers.helpers import PrivateTgtd, make_export_driver

STALE = "6f1c2a57-0000-4000-8000-0000000000aa"
PREFIX = "iqn.2010-10.org.openstack:volume-"


async def _agent(app: FastAPI, folder: Path, tgtd: PrivateTgtd, password: str) -> Agent:
    backend = {
        "name": "file1",
        "driver": "file",
        "path": str(folder),
        "capacity_gb": 50,
        "target_ip_address": tgtd.address,
        "target_port": tgtd.port,
        "tgt_control_port": tgtd.control_port,
    }
    return await in_process_agent(app, [backend], password)


async def test_a_restarted_agent_restores_attached_exports_and_removes_stale_ones(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, tmp_path: Path, tgtd: PrivateTgtd
) -> None:
    password = await agent_password(app)
    folder = tmp_path / "file1"

    agent = await _agent(app, folder, tgtd, password)
    task = asyncio.create_task(agent.run())
    try:

        async def reported() -> bool:
            return bool(app.state.runtime.cache.backends())

        # A create before the agent's first report finds no pool and ends in error.
        await until(reported, "the agent's first report")
        r = await create_volume(client, member)
        volume_id = r.json()["volume"]["id"]

        async def available() -> bool:
            status = await volume_status(client, member, volume_id)
            assert status != "error", "the create failed"
            return status == "available"

        await until(available, "the volume")
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

        await until(restored, "the export restored and the stale one removed")
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)
    assert await volume_status(client, member, volume_id) == "attaching"
    assert "olduser" not in tgtd.accounts() and len(tgtd.accounts()) == 1
