"""A real agent with a file backend serves a group snapshot through the real API: a
snapshot file of every member holds the member's data as it was, later writes to the
volumes do not reach it, and the group snapshot's delete removes every file."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.api.helpers import (
    agent_password,
    create_group_snapshot,
    create_volume,
    delete_group_snapshot,
    in_process_agent,
    make_group_type,
    make_type,
    show_group_snapshot,
    until,
    volume_status,
)
from tests.conftest import Caller

MiB = 1 << 20


def write_head(path: Path, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.write(data)


def head_sha256(path: Path) -> str:
    """The sha256 of the file's first MiB (where the test writes)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(MiB)).hexdigest()


async def test_every_member_snapshot_file_holds_its_volumes_data(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, tmp_path: Path
) -> None:
    folder = tmp_path / "file1"
    backend = {"name": "file1", "driver": "file", "path": str(folder), "capacity_gb": 50}
    agent = await in_process_agent(app, [backend], await agent_password(app))
    task = asyncio.create_task(agent.run())
    try:

        async def reported() -> bool:
            return bool(app.state.runtime.cache.backends())

        # A create before the agent's first report finds no pool and ends in error.
        await until(reported, "the agent's first report")
        vtype = await make_type(client, admin, "plain")
        gtype = await make_group_type(client, admin, "generic")
        r = await client.post(
            f"/v3/{member.project_id}/groups",
            json={"group": {"group_type": gtype["id"], "volume_types": [vtype["id"]]}},
            headers=member.headers("3.13"),
        )
        assert r.status_code == 202, r.text
        group_id = r.json()["group"]["id"]
        ids = []
        for _ in range(2):
            r = await create_volume(
                client, member, 1, "3.13", volume_type=vtype["id"], group_id=group_id
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["volume"]["id"])

        async def volumes_available() -> bool:
            statuses = [await volume_status(client, member, i) for i in ids]
            assert "error" not in statuses, statuses
            return set(statuses) == {"available"}

        await until(volumes_available, "the group's volumes")
        for n, volume_id in enumerate(ids):
            write_head(folder / f"volume-{volume_id}", f"member {n} data ".encode() * 1000)
        wanted = {i: head_sha256(folder / f"volume-{i}") for i in ids}

        r = await create_group_snapshot(client, member, group_id, name="gs")
        assert r.status_code == 202, r.text
        gs_id = r.json()["group_snapshot"]["id"]

        async def gs_available() -> bool:
            shown = await show_group_snapshot(client, member, gs_id)
            assert shown is not None and shown["status"] != "error", shown
            return shown["status"] == "available"

        await until(gs_available, "the group snapshot")
        r = await client.get(
            f"/v3/{member.project_id}/snapshots/detail", headers=member.headers("3.14")
        )
        members = {s["volume_id"]: s["id"] for s in r.json()["snapshots"]}
        assert set(members) == set(ids)
        for volume_id in ids:  # later writes reach the volume, never its snapshot
            write_head(folder / f"volume-{volume_id}", b"overwritten " * 1000)
        for volume_id, snapshot_id in members.items():
            assert head_sha256(folder / f"snapshot-{snapshot_id}") == wanted[volume_id]

        assert (await delete_group_snapshot(client, member, gs_id)).status_code == 202

        async def gone() -> bool:
            return await show_group_snapshot(client, member, gs_id) is None

        await until(gone, "the group snapshot's delete")
        assert not [p for p in folder.iterdir() if p.name.startswith("snapshot-")]
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)
