"""Backups with the real OpenStack CLI against a real `pumice up`: its agent is the
backup service, and the objects land in <data>/backups."""

from __future__ import annotations

import pytest

from app.drivers.backup import MANIFEST_NAME, restore
from app.drivers.copy import checksum
from tests.e2e.helpers import Up, openstack, volume_status, wait_for

pytestmark = pytest.mark.e2e


def backup_status(up: Up, name: str) -> str:
    status: str = openstack(up, "volume", "backup", "show", name, "-f", "json")["status"]
    return status


def test_openstack_volume_backup_create_list_show_delete(up: Up) -> None:
    services = openstack(up, "volume", "service", "list", "-f", "json")
    backup_service = next(s for s in services if s["Binary"] == "cinder-backup")
    assert (backup_service["Host"], backup_service["State"]) == ("local@backup", "up")

    volume_id = openstack(up, "volume", "create", "--size", "1", "bv", "-f", "json")["id"]
    wait_for(lambda: volume_status(up, "bv") == "available")
    volume_file = up.data_dir / "volumes" / f"volume-{volume_id}"
    with open(volume_file, "r+b") as out:
        out.write(b"backed up by the openstack CLI\n" * 50_000)

    created = openstack(
        up,
        "volume",
        "backup",
        "create",
        "--name",
        "bk1",
        "--description",
        "e2e",
        "bv",
        "-f",
        "json",
    )
    backup_id = created["id"]
    wait_for(lambda: backup_status(up, "bk1") == "available", timeout=60)
    shown = openstack(up, "volume", "backup", "show", "bk1", "-f", "json")
    assert shown["volume_id"] == volume_id and shown["size"] == 1
    assert shown["container"] == "volumebackups" and shown["object_count"] >= 1
    assert volume_status(up, "bv") == "available"

    listed = openstack(up, "volume", "backup", "list", "-f", "json")
    assert [(b["ID"], b["Name"], b["Status"]) for b in listed] == [(backup_id, "bk1", "available")]
    folder = up.data_dir / "backups" / "volumebackups" / backup_id
    assert (folder / MANIFEST_NAME).exists()
    objects = [p for p in folder.iterdir() if p.name != MANIFEST_NAME]
    assert len(objects) == shown["object_count"]
    # The repository holds the volume: a verified restore gives back its exact bytes.
    assert restore(folder, up.data_dir.parent / "restored")["sha256"] == checksum(volume_file)

    openstack(up, "volume", "backup", "delete", "bk1")
    wait_for(lambda: openstack(up, "volume", "backup", "list", "-f", "json") == [], timeout=60)
    assert not folder.exists()
