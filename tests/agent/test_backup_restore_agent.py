"""A real agent (file backend, posix backup repository) restoring backups through the
real API (on SQLite): a full and an incremental backup restored into new volumes and
onto an existing one, each byte for byte (sha256) what the volume held when it was
backed up; a corrupt object fails the restore cleanly; an exported record imported
again is checked against the repository."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete

from app.agent.service import Agent
from app.db.models import Backup, Job
from app.drivers import VolumeSpec
from app.drivers.copy import checksum
from tests.agent.conftest import backup_agent, eventually, get_json, poll
from tests.conftest import Caller

MiB = 1024 * 1024


def _write(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as out:
        out.seek(offset)
        out.write(data)


class Session:
    """The member's calls and what the agent's files hold."""

    def __init__(self, client: httpx.AsyncClient, member: Caller, agent: Agent) -> None:
        self.client, self.member, self.agent = client, member, agent

    def file_of(self, volume_id: str) -> Path:
        driver = self.agent.backends["node1@file1"].driver
        return driver.local_path(VolumeSpec(volume_id, 1))

    async def post(self, path: str, body: dict[str, Any], version: str = "3.0") -> Any:
        r = await self.client.post(
            f"/v3/{self.member.project_id}{path}", json=body, headers=self.member.headers(version)
        )
        assert r.status_code == 202, r.text
        return r.json()

    async def status(self, kind: str, item_id: str) -> str:
        body = await get_json(self.client, self.member, f"/{kind}s/{item_id}")
        status: str = body[kind]["status"]
        return status

    async def settled(self, kind: str, item_id: str, *, want: str = "available") -> None:
        async def done() -> bool:
            status = await self.status(kind, item_id)
            assert status not in ({"error", "available"} - {want}), f"{kind} {item_id}: {status}"
            return status == want

        await poll(done, f"{kind} {item_id} {want}", 90)

    async def volume(self, size: int = 1) -> str:
        volume_id: str = (await self.post("/volumes", {"volume": {"size": size}}))["volume"]["id"]
        await self.settled("volume", volume_id)
        return volume_id

    async def backup(self, volume_id: str, **extra: Any) -> str:
        body = {"backup": {"volume_id": volume_id, **extra}}
        backup_id: str = (await self.post("/backups", body))["backup"]["id"]
        await self.settled("backup", backup_id)
        return backup_id

    async def restore(self, backup_id: str, *, want: str = "available", **body: Any) -> str:
        answer = await self.post(f"/backups/{backup_id}/restore", {"restore": body or None})
        volume_id: str = answer["restore"]["volume_id"]
        await self.settled("volume", volume_id, want=want)
        await self.settled("backup", backup_id)
        return volume_id


async def test_a_real_agent_restores_full_and_incremental_backups(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, tmp_path: Path
) -> None:
    agent, _ = await backup_agent(app, tmp_path)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: bool(app.state.runtime.cache.backends()), "the report", 60)
        s = Session(client, member, agent)
        await poll(lambda: _backup_service_up(client, admin), "the backup service to register", 60)
        await _round_trip(app, client, admin, s, tmp_path)
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)


async def _backup_service_up(client: httpx.AsyncClient, admin: Caller) -> bool:
    body = await get_json(client, admin, "/os-services?binary=cinder-backup")
    return bool(body and body["services"] and body["services"][0]["state"] == "up")


async def _round_trip(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, s: Session, tmp_path: Path
) -> None:
    source = await s.volume()
    path = s.file_of(source)
    await asyncio.to_thread(_write, path, 0, b"first state\n" * 200_000)
    await asyncio.to_thread(_write, path, 600 * MiB, os.urandom(2 * MiB))
    first = await asyncio.to_thread(checksum, path)
    full = await s.backup(source, name="full")

    await asyncio.to_thread(_write, path, 300 * MiB, os.urandom(MiB))
    second = await asyncio.to_thread(checksum, path)
    assert second != first
    incremental = await s.backup(source, incremental=True)
    shown = (await get_json(client, s.member, f"/backups/{incremental}"))["backup"]
    assert shown["is_incremental"] is True
    # Only the chunk that changed is stored; the rest are the full backup's.
    full_shown = (await get_json(client, s.member, f"/backups/{full}"))["backup"]
    assert 1 == shown["object_count"] < full_shown["object_count"]

    # Each backup restores to a new volume exactly as the volume was when it was taken.
    from_full = await s.restore(full)
    assert await asyncio.to_thread(checksum, s.file_of(from_full)) == first
    from_incremental = await s.restore(incremental, name="latest")
    assert await asyncio.to_thread(checksum, s.file_of(from_incremental)) == second
    volume = (await get_json(client, s.member, f"/volumes/{from_incremental}"))["volume"]
    assert volume["name"] == "latest"

    # Onto the existing volume (changed since): back to the first state, name kept.
    await asyncio.to_thread(_write, path, 0, b"later\n" * 1000)
    await s.restore(full, volume_id=source)
    assert await asyncio.to_thread(checksum, path) == first
    shown = (await get_json(client, s.member, f"/volumes/{source}"))["volume"]
    assert shown["status"] == "available" and shown["name"] is None

    # Before the corruption below: the incremental shares the full backup's objects.
    await _export_import(app, client, admin, s, incremental, second)

    # A corrupt object: the restore fails, the volume is in error and says why, the
    # backup stays available.
    folder = tmp_path / "repo" / "volumebackups" / full
    chunk = sorted(p for p in folder.iterdir() if p.name.startswith("chunk-"))[0]
    await asyncio.to_thread(_write, chunk, 0, b"\0garbage")
    broken = await s.restore(full, want="error")
    r = await client.get(
        f"/v3/{s.member.project_id}/messages?resource_uuid={broken}",
        headers=s.member.headers("3.3"),
    )
    [message] = [m["user_message"] for m in r.json()["messages"]]
    assert "restore backup" in message and f"object {chunk.name} is corrupt" in message
    assert await s.status("backup", full) == "available"


async def _export_import(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    s: Session,
    backup_id: str,
    expected: str,
) -> None:
    """The record of a backup whose row was lost brings it back once the agent found its
    manifest; a record of data that is gone ends in error."""
    r = await client.get(
        f"/v3/{admin.project_id}/backups/{backup_id}/export_record", headers=admin.headers()
    )
    record = r.json()["backup-record"]
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(delete(Job).where(Job.resource_id == backup_id))
        await session.execute(delete(Backup).where(Backup.id == backup_id))
    url = f"/v3/{admin.project_id}/backups/import_record"
    r = await client.post(url, json={"backup-record": record}, headers=admin.headers())
    assert r.status_code == 201, r.text

    async def imported() -> bool:
        body = await get_json(client, admin, f"/backups/{backup_id}")
        assert body["backup"]["status"] in ("creating", "available"), body
        return bool(body["backup"]["status"] == "available")

    await poll(imported, "the import")

    # Imported again under another id (the data stays in its folder): it restores the
    # same bytes.
    data = json.loads(base64.b64decode(record["backup_url"]))
    other_id = str(uuid.uuid4())
    renamed = base64.b64encode(json.dumps({**data, "id": other_id}).encode()).decode()
    body = {"backup-record": {**record, "backup_url": renamed}}
    r = await client.post(url, json=body, headers=admin.headers())
    assert r.status_code == 201, r.text
    backup_id = other_id
    await poll(imported, "the import under another id")
    # The import is the admin's (it is in the admin's project).
    as_admin = Session(client, admin, s.agent)
    restored = await as_admin.restore(other_id)
    assert await asyncio.to_thread(checksum, s.file_of(restored)) == expected
