"""Volumes from volumes through the real clients against a real `pumice up`: the
OpenStack CLI makes a volume from a snapshot (`--snapshot`) and a clone (`--source`), the
cinder client reverts a volume to its snapshot; the agent's file backend holds the data,
compared by sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.e2e.helpers import Up, cinder, openstack, volume_status, wait_for

pytestmark = pytest.mark.e2e
GiB = 1024**3


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def snapshot_status(up: Up, name: str) -> str:
    status: str = openstack(up, "volume", "snapshot", "show", name, "-f", "json")["status"]
    return status


def test_volumes_from_a_snapshot_and_a_volume_then_a_revert(up: Up) -> None:
    folder = up.data_dir / "volumes"
    source_id = openstack(up, "volume", "create", "--size", "1", "v1", "-f", "json")["id"]
    wait_for(lambda: volume_status(up, "v1") == "available")
    source = folder / f"volume-{source_id}"
    write(source, 0, b"\x5a" * 65536)
    write(source, GiB // 2, b"the middle of the volume")
    snapshot_id = openstack(
        up, "volume", "snapshot", "create", "--volume", "v1", "s1", "-f", "json"
    )["id"]
    wait_for(lambda: snapshot_status(up, "s1") == "available")
    at_snapshot = sha256(source)
    write(source, 4096, b"written after the snapshot")
    changed = sha256(source)
    assert changed != at_snapshot

    # From the snapshot: its data, not the volume's since; larger, zeros past it.
    made = openstack(
        up, "volume", "create", "--snapshot", "s1", "--size", "2", "from-snap", "-f", "json"
    )
    assert made["snapshot_id"] == snapshot_id and made["size"] == 2
    wait_for(lambda: volume_status(up, "from-snap") == "available", timeout=60)
    from_snap = folder / f"volume-{made['id']}"
    assert from_snap.stat().st_size == 2 * GiB
    with open(from_snap, "rb") as f:
        assert hashlib.sha256(f.read(GiB)).hexdigest() == at_snapshot
        assert f.read() == bytes(GiB)

    # A clone: the volume's data now.
    clone = openstack(up, "volume", "create", "--source", "v1", "clone", "-f", "json")
    assert clone["source_volid"] == source_id and clone["size"] == 1
    wait_for(lambda: volume_status(up, "clone") == "available", timeout=60)
    assert sha256(folder / f"volume-{clone['id']}") == changed

    # The volume keeps the name of its source.
    shown = openstack(up, "volume", "show", "from-snap", "-f", "json")
    assert shown["snapshot_id"] == snapshot_id

    # Revert: the volume holds the snapshot's data again; the others keep theirs.
    cinder(up, "--os-volume-api-version", "3.40", "revert-to-snapshot", snapshot_id)
    wait_for(
        lambda: volume_status(up, "v1") == "available" and snapshot_status(up, "s1") == "available",
        timeout=60,
    )
    assert sha256(source) == at_snapshot
    assert sha256(folder / f"volume-{clone['id']}") == changed

    for name in ("from-snap", "clone"):
        openstack(up, "volume", "delete", name)
    openstack(up, "volume", "delete", "--cascade", "v1")
    wait_for(lambda: openstack(up, "volume", "list", "-f", "json") == [], timeout=60)
    assert sorted(p.name for p in folder.iterdir()) == []
