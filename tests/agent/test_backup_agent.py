"""The agent as a backup service: its `[backup]` config, and a real agent backing up a
real volume file through the real API (on SQLite)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.agent.backends import build_backends
from app.agent.backup import build_backup_service
from app.agent.config import AgentConfigError, load_config, parse_config
from app.agent.service import Agent
from app.db.models import Job
from app.drivers import VolumeSpec
from app.drivers.backup import MANIFEST_NAME, restore
from app.drivers.base import SnapshotSpec
from app.drivers.copy import checksum
from tests.agent.conftest import (
    agent_toml,
    backup_agent,
    eventually,
    get_json,
    poll,
    raw_config,
)
from tests.agent.fake_api import FakeApiServer
from tests.conftest import Caller

MiB = 1024 * 1024


def test_backup_section_defaults_and_mistakes(tmp_path: Path) -> None:
    config = parse_config(raw_config(tmp_path))
    assert config.backup is not None and config.backup_host == "node1@backup"
    assert config.backup.compression == "zstd" and config.backup.chunk_mib == 32
    assert config.backup.availability_zone is None  # the agent's zone
    assert parse_config(raw_config(tmp_path, host="vault@b1")).backup_host == "vault@b1"
    no_backup = raw_config(tmp_path)
    del no_backup["backup"]
    assert parse_config(no_backup).backup_host is None

    for bad, why in (
        ({"repository": "relative/path"}, "absolute"),
        ({"compression": "gzip"}, "compression"),
        ({"chunk_mib": 0}, "chunk_mib"),
        ({"host": "node1@file1"}, "also a backend"),
        ({"colour": "blue"}, "colour"),
    ):
        with pytest.raises(AgentConfigError, match=why):
            parse_config(raw_config(tmp_path, **bad))


async def test_agent_backs_up_a_volume_through_the_api(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, tmp_path: Path
) -> None:
    agent, _ = await backup_agent(app, tmp_path)
    task = asyncio.create_task(agent.run())
    try:
        await _backup_round_trip(app, client, admin, member, agent, tmp_path)
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)


def _fill(volume_file: Path, text: bytes, noise: bytes) -> None:
    with open(volume_file, "r+b") as out:
        out.write(text)
        out.seek(700 * MiB)
        out.write(noise)


async def _backup_round_trip(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    agent: Agent,
    tmp_path: Path,
) -> None:
    async def backup_service_up() -> bool:
        body = await get_json(client, admin, "/os-services?binary=cinder-backup")
        return bool(body and body["services"] and body["services"][0]["state"] == "up")

    await poll(backup_service_up, "the backup service to register")
    [entry] = (await get_json(client, admin, "/os-services?binary=cinder-backup"))["services"]
    assert entry["host"] == "node1@backup" and entry["zone"] == "nova"
    await eventually(lambda: bool(app.state.runtime.cache.backends()), "the backend report")

    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        json={"volume": {"size": 1, "name": "data"}},
        headers=member.headers(),
    )
    volume_id = r.json()["volume"]["id"]

    async def volume_available() -> bool:
        body = await get_json(client, member, f"/volumes/{volume_id}")
        return bool(body and body["volume"]["status"] == "available")

    await poll(volume_available, "the volume")
    # Real data in the volume file: text at the start, random bytes further in, the
    # rest a hole.
    volume_file = agent.backends["node1@file1"].driver.local_path(VolumeSpec(volume_id, 1))
    text = b"pumice backup test\n" * 100_000
    noise = os.urandom(3 * MiB)
    await asyncio.to_thread(_fill, volume_file, text, noise)

    r = await client.post(
        f"/v3/{member.project_id}/backups",
        json={"backup": {"volume_id": volume_id, "name": "b1", "container": "nightly"}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    backup_id = r.json()["backup"]["id"]

    async def backup_available() -> bool:
        body = await get_json(client, member, f"/backups/{backup_id}")
        assert body["backup"]["status"] in ("creating", "available"), body
        return bool(body["backup"]["status"] == "available")

    await poll(backup_available, "the backup")
    backup = (await get_json(client, member, f"/backups/{backup_id}"))["backup"]
    folder = tmp_path / "repo" / "nightly" / backup_id
    objects = [p for p in folder.iterdir() if p.name != MANIFEST_NAME]
    # 2 MiB of text and 3 MiB of noise in 1 MiB chunks (the noise may straddle one more).
    assert backup["object_count"] == len(objects) and 4 <= len(objects) <= 6
    assert backup["container"] == "nightly"
    volume = (await get_json(client, member, f"/volumes/{volume_id}"))["volume"]
    assert volume["status"] == "available"

    restored = tmp_path / "restored"
    result = restore(folder, restored)
    assert result["sha256"] == checksum(volume_file)
    async with app.state.runtime.sessionmaker() as session:
        job = (
            await session.scalars(
                select(Job).where(Job.resource_id == backup_id, Job.kind == "create_backup")
            )
        ).one()
    assert job.state == "succeeded" and job.progress == 100

    await _snapshot_backup(client, member, agent, volume_id, volume_file, tmp_path)

    r = await client.delete(
        f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers()
    )
    assert r.status_code == 202

    async def backup_gone() -> bool:
        return await get_json(client, member, f"/backups/{backup_id}") is None

    await poll(backup_gone, "the backup to be deleted")
    assert not folder.exists()


async def test_backup_jobs_heartbeat_their_progress(api: FakeApiServer, tmp_path: Path) -> None:
    """A backup job on the backup host runs with the backup driver, reading the volume of
    the agent's own backend, and its heartbeats carry how far it got."""
    repo = tmp_path / "repo"
    text = agent_toml(api.url, tmp_path / "file1")
    config = tmp_path / "agent.toml"
    config.write_text(f'{text}\n[backup]\nrepository = "{repo}"\nchunk_mib = 1\n')
    volume_id = "0b0e0000-0000-4000-8000-000000000001"
    (tmp_path / "file1").mkdir()
    volume_file = tmp_path / "file1" / f"volume-{volume_id}"
    await asyncio.to_thread(volume_file.write_bytes, os.urandom(96 * MiB))
    volume = {
        "id": volume_id,
        "size_gb": 1,
        "name": None,
        "pool": "file1",
        "host": "node1@file1#file1",
        "provider_location": None,
    }
    backup_id = "b0000000-0000-4000-8000-000000000001"
    backup: dict[str, Any] = {"id": backup_id, "container": None}
    job_id = api.state.add_job(
        "create_backup",
        {"backup": backup, "volume": volume},
        backend="node1@backup",
        lease_seconds=0.15,
    )
    missing = api.state.add_job(
        "create_backup",
        {
            "backup": {**backup, "id": "b0000000-0000-4000-8000-000000000002"},
            "volume": {**volume, "host": "elsewhere@file#p"},
        },
        backend="node1@backup",
    )
    malformed = api.state.add_job(
        "create_backup", {"backup": {**backup, "container": 7}}, backend="node1@backup"
    )
    agent = Agent(load_config(config))
    task = asyncio.create_task(agent.run())
    try:
        await eventually(
            lambda: {job_id, missing, malformed} <= set(api.state.results), "the results", 60
        )
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)
    done = api.state.results[job_id]
    assert done["ok"] is True and done["result"]["object_count"] == 96
    progress = [
        b["progress"] for jid, b in api.state.heartbeats if jid == job_id and "progress" in b
    ]
    assert progress and all(0 <= p <= 100 for p in progress) and progress == sorted(progress)
    assert (repo / "volumebackups" / backup_id / MANIFEST_NAME).exists()
    failed = api.state.results[missing]
    assert failed["ok"] is False and "elsewhere@file is not served here" in failed["error"]
    refused = api.state.results[malformed]
    assert refused["ok"] is False
    assert refused["error"] == "invalid job payload: backup.container must be a string; no volume"
    claimed_for = {tuple(c["backends"]) for c in api.state.claims}
    assert ("node1@backup", "node1@file1") in {tuple(sorted(c)) for c in claimed_for}


async def _snapshot_backup(
    client: httpx.AsyncClient,
    member: Caller,
    agent: Agent,
    volume_id: str,
    volume_file: Path,
    tmp_path: Path,
) -> None:
    """A backup of a snapshot holds the snapshot's bytes, not the volume's newer ones."""
    r = await client.post(
        f"/v3/{member.project_id}/snapshots",
        json={"snapshot": {"volume_id": volume_id}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    snapshot_id = r.json()["snapshot"]["id"]

    async def snapshot_available() -> bool:
        body = await get_json(client, member, f"/snapshots/{snapshot_id}")
        return bool(body and body["snapshot"]["status"] == "available")

    await poll(snapshot_available, "the snapshot")
    await asyncio.to_thread(_fill, volume_file, b"written after the snapshot\n" * 1000, b"")
    r = await client.post(
        f"/v3/{member.project_id}/backups",
        json={"backup": {"volume_id": volume_id, "snapshot_id": snapshot_id}},
        headers=member.headers(),
    )
    assert r.status_code == 202, r.text
    backup_id = r.json()["backup"]["id"]

    async def backup_available() -> bool:
        body = await get_json(client, member, f"/backups/{backup_id}")
        return bool(body["backup"]["status"] == "available")

    await poll(backup_available, "the snapshot's backup")
    driver = agent.backends["node1@file1"].driver
    snapshot_file = driver.snapshot_local_path(SnapshotSpec(snapshot_id, 1, volume_id))
    result = restore(tmp_path / "repo" / "volumebackups" / backup_id, tmp_path / "from-snapshot")
    assert result["sha256"] == checksum(snapshot_file) != checksum(volume_file)
    snapshot = (await get_json(client, member, f"/snapshots/{snapshot_id}"))["snapshot"]
    assert snapshot["status"] == "available"


async def test_the_backup_service_reaches_the_backends_that_are_set_up(tmp_path: Path) -> None:
    config = parse_config(raw_config(tmp_path))
    backends = build_backends(config)
    service = build_backup_service(config)
    assert service is not None and service.host == "node1@backup"
    assert service.report(backends, "t", 1)["reaches"] == []  # not set up yet
    assert await backends["node1@file1"].setup() and await service.setup()
    report = service.report(backends, "2026-11-25T18:00:00", 7)
    assert report == {
        "host": "node1@backup",
        "availability_zone": "nova",
        "repository": f"posix:{tmp_path / 'repo'}",
        "reaches": ["node1@file1"],
        "timestamp": "2026-11-25T18:00:00",
        "seq": 7,
    }
    assert (tmp_path / "repo").is_dir()
