"""Group snapshots through the real cinder CLI against a real `pumice up`: a group of
two volumes with data is snapshotted, every member's snapshot holds its volume's data
(sha256 of the files) while the volumes change, a group made from the group snapshot
holds that data too, and the group snapshot's delete takes every snapshot file with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.drivers.copy import checksum
from tests.e2e.helpers import Up, cinder, openstack, wait_for

pytestmark = pytest.mark.e2e


def group_snapshot_ids(up: Up) -> list[str]:
    listed = openstack(
        up, "--os-volume-api-version", "3.14", "volume", "group", "snapshot", "list", "-f", "json"
    )
    return [g["ID"] for g in listed]


def snapshot_files(up: Up) -> list[Path]:
    return sorted((up.data_dir / "volumes").glob("snapshot-*"))


def test_group_snapshots_with_the_cinder_cli(up: Up) -> None:
    gtype = openstack(
        up, "--os-volume-api-version", "3.11", "volume", "group", "type", "create", "generic",
        "-f", "json",
    )["ID"]  # fmt: skip
    group = openstack(
        up, "--os-volume-api-version", "3.13", "volume", "group", "create",
        "--volume-group-type", "generic", "--volume-type", "__DEFAULT__", "--name", "g1",
        "-f", "json",
    )["ID"]  # fmt: skip
    volumes = [
        cinder(
            up, "--os-volume-api-version", "3.13", "create", "--group-id", group,
            "--volume-type", "__DEFAULT__", "--name", f"v{n}", "1",
        )["id"]
        for n in range(2)
    ]  # fmt: skip
    for volume in volumes:
        wait_for(lambda v=volume: cinder(up, "show", v)["status"] == "available", timeout=60)
    paths = [up.data_dir / "volumes" / f"volume-{v}" for v in volumes]
    for n, path in enumerate(paths):
        with open(path, "r+b") as f:
            f.write(f"member {n} of the group ".encode() * 4096)
    snapshotted = {checksum(p) for p in paths}
    assert len(snapshotted) == 2

    made = cinder(
        up, "--os-volume-api-version", "3.14", "group-snapshot-create", "--name", "gs1", group
    )
    gs = made["id"]
    assert made["name"] == "gs1" and made["group_type_id"] == gtype

    def available() -> bool:
        shown = cinder(up, "--os-volume-api-version", "3.14", "group-snapshot-show", gs)
        assert shown["status"] != "error", shown
        return shown["status"] == "available"

    wait_for(available, timeout=60)
    shown = cinder(up, "--os-volume-api-version", "3.14", "group-snapshot-show", gs)
    assert shown["group_id"] == group and shown["name"] == "gs1"
    assert group_snapshot_ids(up) == [gs]
    # Later writes reach the volumes, never their snapshots.
    for path in paths:
        with open(path, "r+b") as f:
            f.write(b"changed after the snapshot " * 4096)
    files = snapshot_files(up)
    assert len(files) == 2
    assert {checksum(p) for p in files} == snapshotted

    # A new group from the group snapshot: each member made from its snapshot's data.
    copy = cinder(
        up, "--os-volume-api-version", "3.14", "group-create-from-src",
        "--group-snapshot", gs, "--name", "g2",
    )["id"]  # fmt: skip

    def copy_made() -> bool:
        shown = openstack(
            up, "--os-volume-api-version", "3.14", "volume", "group", "show", copy, "-f", "json"
        )
        assert shown["Status"] != "error", shown
        return bool(shown["Status"] == "available")

    wait_for(copy_made, timeout=90)
    listed = openstack(up, "volume", "list", "-f", "json")
    new_ids = [v["ID"] for v in listed if v["ID"] not in volumes]
    assert len(new_ids) == 2
    copies = [up.data_dir / "volumes" / f"volume-{v}" for v in new_ids]
    assert {checksum(p) for p in copies} == snapshotted
    cinder(up, "--os-volume-api-version", "3.13", "group-delete", "--delete-volumes", copy)
    wait_for(lambda: not any(p.exists() for p in copies), timeout=60)

    cinder(up, "--os-volume-api-version", "3.14", "group-snapshot-delete", gs)
    wait_for(lambda: group_snapshot_ids(up) == [], timeout=60)
    assert snapshot_files(up) == []
    cinder(up, "--os-volume-api-version", "3.13", "group-delete", "--delete-volumes", group)
