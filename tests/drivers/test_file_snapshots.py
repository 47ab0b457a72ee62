"""File driver snapshots on real files: the sparse copy on the plain temp folder (no
reflinks) and the reflink clone on a loop-mounted XFS (needs root and xfsprogs; required
in CI). Idempotent create and delete, point-in-time content, capacity counted, manage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError, SnapshotSpec, VolumeSpec, create_driver
from app.drivers.copy import checksum
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB

VOL = VolumeSpec(id="v1", size_gb=1)
SNAP = SnapshotSpec(id="s1", size_gb=1, volume_id="v1")


def make(folder: Path) -> FileDriver:
    driver = create_driver("file1", "file", {"path": str(folder)})
    assert isinstance(driver, FileDriver)
    driver.do_setup()
    return driver


def write(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def read(path: Path, offset: int, length: int = 4096) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


HALF = 512 * 1024 * 1024


def check_snapshot_lifecycle(driver: FileDriver) -> None:
    driver.create_volume(VOL)
    volume = driver.volume_path(VOL)
    write(volume, 0, b"\x5a" * 4096)
    write(volume, HALF, b"\xa5" * 4096)
    before = checksum(volume)
    result = driver.create_snapshot(SNAP, VOL)
    path = driver.snapshot_path(SNAP)
    assert result == {"provider_location": str(path)}
    assert path.name == "snapshot-s1" and path.stat().st_size == GiB
    assert checksum(path) == before
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # Point in time: later writes to the volume do not reach the snapshot.
    write(volume, 0, b"\x00" * 4096)
    assert read(path, 0) == b"\x5a" * 4096 and read(path, HALF) == b"\xa5" * 4096
    # Thin: the copy holds only the written blocks, not the whole GiB.
    assert path.stat().st_blocks * 512 < 16 * 1024 * 1024
    # A retried create finds it finished; no partial file is left behind.
    assert driver.create_snapshot(SNAP, VOL) == result
    assert read(path, 0) == b"\x5a" * 4096
    assert sorted(p.name for p in driver.folder.iterdir()) == ["snapshot-s1", "volume-v1"]
    # Deleting the volume leaves the snapshot whole: the files are independent.
    driver.delete_volume(VOL)
    assert read(path, 0) == b"\x5a" * 4096 and read(path, HALF) == b"\xa5" * 4096
    driver.delete_snapshot(SNAP)
    assert not path.exists()
    driver.delete_snapshot(SNAP)  # already gone: fine


def test_sparse_copy_on_a_folder_without_reflinks(tmp_path: Path) -> None:
    driver = make(tmp_path / "pool")
    assert driver.reflink is False
    check_snapshot_lifecycle(driver)


def test_reflink_clone_on_xfs(xfs_folder: Path) -> None:
    driver = make(xfs_folder / "pool")
    assert driver.reflink is True
    check_snapshot_lifecycle(driver)


def test_refusals(tmp_path: Path) -> None:
    driver = make(tmp_path / "pool")
    with pytest.raises(DriverError, match="does not exist"):
        driver.create_snapshot(SNAP, VOL)
    driver.create_volume(VOL)
    with pytest.raises(DriverError, match="smaller"):
        driver.create_snapshot(SnapshotSpec(id="s2", size_gb=2, volume_id="v1"), VOL)
    driver.create_snapshot(SNAP, VOL)
    with pytest.raises(DriverError, match="already exists"):
        driver.create_snapshot(SnapshotSpec(id="s1", size_gb=3, volume_id="v1"), VOL)
    with pytest.raises(DriverError, match="invalid snapshot id"):
        SnapshotSpec(id="../x", size_gb=1, volume_id="v1")
    with pytest.raises(DriverError, match="missing"):
        SnapshotSpec.from_dict({"id": "s", "size_gb": 1})
    with pytest.raises(DriverError, match="at least 1"):
        SnapshotSpec.from_dict({"id": "s", "size_gb": 0, "volume_id": "v1"})


def test_capacity_counts_snapshot_files(tmp_path: Path) -> None:
    driver = make(tmp_path / "pool")
    driver.create_volume(VOL)
    write(driver.volume_path(VOL), 0, b"\x11" * 4096)
    driver.extend_volume(VOL, 2)
    [pool] = driver.get_volume_stats()["pools"]
    assert pool["allocated_capacity_gb"] == 2.0
    # Taken of the 1 GiB volume, run after an extend: cut back to the snapshot's size.
    driver.create_snapshot(SnapshotSpec(id="s1", size_gb=1, volume_id="v1"), VolumeSpec("v1", 2))
    assert driver.snapshot_path(SNAP).stat().st_size == GiB
    assert read(driver.snapshot_path(SNAP), 0) == b"\x11" * 4096
    [pool] = driver.get_volume_stats()["pools"]
    assert pool["allocated_capacity_gb"] == 3.0
    assert pool["provisioned_capacity_gb"] == 3.0
    assert pool["total_volumes"] == 1


def test_manage_existing_snapshot_renames_and_rounds_up(tmp_path: Path) -> None:
    driver = make(tmp_path / "pool")
    driver.create_volume(VOL)
    legacy = driver.folder / "old.snap"
    legacy.write_bytes(b"\x42" * 1000)
    ref = {"source-name": "old.snap"}
    result = driver.manage_existing_snapshot(SnapshotSpec("s9", 0, "v1"), VOL, ref)
    path = driver.folder / "snapshot-s9"
    assert result == {"size_gb": 1, "provider_location": str(path)}
    assert not legacy.exists() and path.stat().st_size == GiB
    # A retry after the rename reports it again.
    assert driver.manage_existing_snapshot(SnapshotSpec("s9", 0, "v1"), VOL, ref) == result
    for name in ("snapshot-s9", "volume-v1", "../x", ""):
        with pytest.raises(DriverError):
            driver.manage_existing_snapshot(SnapshotSpec("s8", 0, "v1"), VOL, {"source-name": name})
    # A volume cannot take over a snapshot's file either.
    with pytest.raises(DriverError, match="already a snapshot"):
        driver.manage_existing(VolumeSpec("v7", 0), {"source-name": "snapshot-s9"})


def test_agent_job_kinds_run_the_driver(tmp_path: Path) -> None:
    driver = make(tmp_path / "pool")
    driver.create_volume(VOL)
    vol = {"id": "v1", "size_gb": 1, "name": None, "pool": "file1", "host": "n@file1#file1"}
    snap = {"id": "s1", "size_gb": 1, "volume_id": "v1", "name": "x", "provider_location": None}
    create = JOB_KINDS[("create_snapshot", 1)]
    result = create.run(driver, {"snapshot": snap, "volume": vol})
    assert result == {"provider_location": str(driver.snapshot_path(SNAP))}
    (driver.folder / "legacy").write_bytes(b"x")
    manage = JOB_KINDS[("manage_snapshot", 1)]
    payload = {
        "snapshot": {**snap, "id": "s2", "size_gb": 0},
        "volume": vol,
        "ref": {"source-name": "legacy"},
    }
    assert manage.run(driver, payload)["size_gb"] == 1
    delete = JOB_KINDS[("delete_snapshot", 1)]
    for sid in ("s1", "s2"):
        payload = {"snapshot": {**snap, "id": sid, "size_gb": 0}}
        assert delete.run(driver, payload) == {}
    assert sorted(os.listdir(driver.folder)) == ["volume-v1"]
    with pytest.raises(DriverError, match="no snapshot"):
        create.run(driver, {"volume": vol})
