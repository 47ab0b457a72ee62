"""Restoring backups with the real OpenStack and cinder CLIs against a real `pumice up`
(its agent is the backup service): a full and an incremental backup of a volume whose
data changed in between, each restored to a new volume holding exactly the bytes of its
point in time; a volume created from a backup (3.47); a corrupt stored object makes the
restore fail clearly, the backup still available."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.drivers.copy import checksum
from tests.e2e.helpers import Up, cinder, openstack, volume_status, wait_for

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def backup_status(up: Up, name: str) -> str:
    status: str = openstack(up, "volume", "backup", "show", name, "-f", "json")["status"]
    return status


def volume_file(up: Up, name: str) -> Path:
    volume_id = openstack(up, "volume", "show", name, "-f", "json")["id"]
    return up.data_dir / "volumes" / f"volume-{volume_id}"


def write(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as out:
        out.seek(offset)
        out.write(data)


def backup(up: Up, name: str, *extra: str) -> str:
    created = openstack(up, "volume", "backup", "create", "--name", name, *extra, "-f", "json")
    wait_for(lambda: backup_status(up, name) == "available", timeout=120)
    backup_id: str = created["id"]
    return backup_id


def settled(up: Up, name: str) -> str:
    """The volume's status once its restore ended."""
    wait_for(lambda: volume_status(up, name) not in ("creating", "restoring-backup"), timeout=120)
    return volume_status(up, name)


def test_restore_full_and_incremental_backups_with_the_clis(up: Up) -> None:
    openstack(up, "volume", "create", "--size", "1", "rv", "-f", "json")
    wait_for(lambda: volume_status(up, "rv") == "available")
    source = volume_file(up, "rv")
    write(source, 0, b"first point in time\n" * 100_000)
    write(source, 512 * MiB, os.urandom(4 * MiB))
    first = checksum(source)
    full_id = backup(up, "full", "rv")

    write(source, 100 * MiB, os.urandom(MiB))
    second = checksum(source)
    assert second != first
    backup(up, "inc", "--incremental", "rv")
    shown = openstack(up, "volume", "backup", "show", "inc", "-f", "json")
    assert shown["is_incremental"] is True
    assert openstack(up, "volume", "backup", "show", "full", "-f", "json")["has_dependent_backups"]

    # openstack: the full backup into a new volume named "from-full".
    openstack(up, "volume", "backup", "restore", "full", "from-full", "-f", "json")
    assert settled(up, "from-full") == "available"
    assert checksum(volume_file(up, "from-full")) == first
    # cinder: the incremental one into a new volume named "from-inc".
    answer = cinder(up, "backup-restore", "--name", "from-inc", "inc")
    assert answer["volume_name"] == "from-inc"
    assert settled(up, "from-inc") == "available"
    assert checksum(volume_file(up, "from-inc")) == second
    assert backup_status(up, "full") == backup_status(up, "inc") == "available"

    # A volume created from a backup (3.47).
    openstack(
        up,
        "--os-volume-api-version",
        "3.47",
        "volume",
        "create",
        "--backup",
        "inc",
        "--size",
        "1",
        "from-create",
        "-f",
        "json",
    )
    assert settled(up, "from-create") == "available"
    assert checksum(volume_file(up, "from-create")) == second

    # One stored object corrupted: the restore fails, saying which, and nothing is left
    # half done: the volume is in error, the backup available.
    folder = up.data_dir / "backups" / "volumebackups" / full_id
    chunk = sorted(p for p in folder.iterdir() if p.name.startswith("chunk-"))[0]
    write(chunk, 16, b"corrupted")
    openstack(up, "volume", "backup", "restore", "full", "broken", "-f", "json")
    assert settled(up, "broken") == "error"
    assert backup_status(up, "full") == "available"
    broken_id = openstack(up, "volume", "show", "broken", "-f", "json")["id"]
    messages = openstack(
        up, "--os-volume-api-version", "3.3", "volume", "message", "list", "-f", "json"
    )
    [text] = [m["User Message"] for m in messages if broken_id in m.values()]
    assert "restore backup" in text and f"object {chunk.name} is corrupt" in text
