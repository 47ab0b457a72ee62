"""Volumes from snapshots and reverts to snapshots on the file driver, with real files:
a sparse copy on the plain temp folder, a reflink clone on a loop-mounted XFS; both
idempotent, through the agent's handlers too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import jobkinds
from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError, SnapshotSpec, VolumeSpec
from app.drivers.copy import checksum
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB
from tests.drivers.helpers import PlainDriver, make_driver

SOURCE = VolumeSpec(id="11111111-1111-4111-8111-111111111111", size_gb=1, pool="file1")
SNAP = SnapshotSpec(id="33333333-3333-4333-8333-333333333333", size_gb=1, volume_id=SOURCE.id)
NEW = VolumeSpec(id="22222222-2222-4222-8222-222222222222", size_gb=1, pool="file1")


def write(driver: FileDriver, volume: VolumeSpec, data: bytes, offset: int = 0) -> None:
    with open(driver.volume_path(volume), "r+b") as f:
        f.seek(offset)
        f.write(data)


def snapshotted(driver: FileDriver) -> str:
    """SOURCE with data, snapshotted, then changed: the snapshot's sha256."""
    driver.create_volume(SOURCE)
    write(driver, SOURCE, b"\x5a" * 4096)
    write(driver, SOURCE, b"middle", GiB // 2)
    driver.create_snapshot(SNAP, SOURCE)
    write(driver, SOURCE, b"changed after the snapshot")
    return checksum(driver.snapshot_path(SNAP))


def partials(driver: FileDriver) -> list[str]:
    return [p.name for p in driver.folder.iterdir() if p.name.startswith(".partial-")]


def test_a_volume_from_a_snapshot_holds_the_snapshots_data_and_stays_sparse(
    tmp_path: Path,
) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    assert driver.reflink is False
    want = snapshotted(driver)
    result = driver.create_volume_from_snapshot(NEW, SNAP)
    path = driver.volume_path(NEW)
    assert result == {"provider_location": str(path)}
    assert checksum(path) == want != checksum(driver.volume_path(SOURCE))
    # Only the chunks holding data were written.
    assert path.stat().st_blocks * 512 <= 2 * 1024 * 1024
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # A retried job finds the finished volume; nothing partial is left.
    write(driver, NEW, b"written by its user")
    assert driver.create_volume_from_snapshot(NEW, SNAP) == result
    assert checksum(path) != want  # the retry did not copy again over the user's data
    assert partials(driver) == []


def test_a_larger_volume_from_a_snapshot_reads_zeros_past_it(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    snapshotted(driver)
    bigger = VolumeSpec(id=NEW.id, size_gb=2, pool="file1")
    driver.create_volume_from_snapshot(bigger, SNAP)
    path = driver.volume_path(bigger)
    assert path.stat().st_size == 2 * GiB
    assert checksum(path, GiB) == checksum(driver.snapshot_path(SNAP))
    with open(path, "rb") as f:
        f.seek(GiB + 10)
        assert f.read(16) == bytes(16)


def test_volume_from_snapshot_refusals(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    with pytest.raises(DriverError, match=f"snapshot {SNAP.id} file snapshot-.* does not exist"):
        driver.create_volume_from_snapshot(NEW, SNAP)
    snapshotted(driver)
    # Another size already there is an error, not silently accepted.
    driver.create_volume(VolumeSpec(id=NEW.id, size_gb=2))
    with pytest.raises(DriverError, match="already exists with size 2 GiB, not 1 GiB"):
        driver.create_volume_from_snapshot(NEW, SNAP)
    big = SnapshotSpec(id=SNAP.id, size_gb=2, volume_id=SOURCE.id)
    os.truncate(driver.snapshot_path(big), 2 * GiB)
    other = VolumeSpec(id="44444444-4444-4444-8444-444444444444", size_gb=1)
    with pytest.raises(DriverError, match="is larger than the 1 GiB volume"):
        driver.create_volume_from_snapshot(other, big)
    assert partials(driver) == []


def test_a_driver_without_local_paths_refuses_both(tmp_path: Path) -> None:
    driver = PlainDriver("plain", PlainDriver.options_model())
    with pytest.raises(DriverError, match="no local path for snapshots"):
        driver.create_volume_from_snapshot(NEW, SNAP)
    with pytest.raises(DriverError, match="no local path for snapshots"):
        driver.revert_to_snapshot(SOURCE, SNAP)


def test_the_job_kind_runs_the_driver(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    want = snapshotted(driver)
    kind = JOB_KINDS[jobkinds.CREATE_VOLUME_FROM_SNAPSHOT.key]
    assert kind.changes_capacity
    payload = {
        "volume": {"id": NEW.id, "size_gb": 1, "pool": "file1"},
        "snapshot": {"id": SNAP.id, "size_gb": 1, "volume_id": SOURCE.id},
        "qos_specs": None,
    }
    result = kind.bind(driver, payload, {})()
    assert result == {"provider_location": str(driver.volume_path(NEW))}
    assert checksum(driver.volume_path(NEW)) == want
    with pytest.raises(DriverError, match="invalid job payload: no snapshot"):
        kind.bind(driver, {"volume": payload["volume"]}, {})()


def test_reflinked_volume_from_a_snapshot_on_xfs(xfs_folder: Path) -> None:
    driver = make_driver(xfs_folder / "file1", capacity_gb=100)
    assert driver.reflink is True
    want = snapshotted(driver)
    free_before = os.statvfs(xfs_folder).f_bavail
    driver.create_volume_from_snapshot(NEW, SNAP)
    assert checksum(driver.volume_path(NEW)) == want
    # Shared extents: the new volume took (next to) no space of its own.
    assert free_before - os.statvfs(xfs_folder).f_bavail < 16
    # Writes diverge: the snapshot keeps its data.
    write(driver, NEW, b"only in the new volume")
    assert checksum(driver.snapshot_path(SNAP)) == want


# --- revert to a snapshot -------------------------------------------------------------------


def test_a_revert_puts_the_snapshots_data_back_in_one_rename(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    want = snapshotted(driver)
    path = driver.volume_path(SOURCE)
    before = path.stat().st_ino
    assert checksum(path) != want
    driver.revert_to_snapshot(SOURCE, SNAP)
    assert checksum(path) == want
    assert path.stat().st_ino != before  # a new file took the name: never a mix of both
    assert path.stat().st_size == GiB and oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.stat().st_blocks * 512 <= 2 * 1024 * 1024  # still sparse
    # The snapshot keeps its data; done again, the same volume.
    write(driver, SOURCE, b"changed again")
    driver.revert_to_snapshot(SOURCE, SNAP)
    assert checksum(path) == want == checksum(driver.snapshot_path(SNAP))
    assert partials(driver) == []


def test_revert_refusals(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    with pytest.raises(DriverError, match=r"volume file volume-.* does not exist"):
        driver.revert_to_snapshot(SOURCE, SNAP)
    driver.create_volume(SOURCE)
    with pytest.raises(DriverError, match=f"snapshot {SNAP.id} file .* does not exist"):
        driver.revert_to_snapshot(SOURCE, SNAP)
    assert driver.volume_path(SOURCE).stat().st_size == GiB  # untouched
    assert partials(driver) == []


def test_the_revert_job_kind_runs_the_driver(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    want = snapshotted(driver)
    kind = JOB_KINDS[jobkinds.REVERT_VOLUME_TO_SNAPSHOT.key]
    payload = {
        "volume": {"id": SOURCE.id, "size_gb": 1, "pool": "file1"},
        "snapshot": {"id": SNAP.id, "size_gb": 1, "volume_id": SOURCE.id},
    }
    assert kind.bind(driver, payload, {})() == {}
    assert checksum(driver.volume_path(SOURCE)) == want


def test_reflinked_revert_on_xfs(xfs_folder: Path) -> None:
    driver = make_driver(xfs_folder / "file1", capacity_gb=100)
    want = snapshotted(driver)
    free_before = os.statvfs(xfs_folder).f_bavail
    driver.revert_to_snapshot(SOURCE, SNAP)
    assert checksum(driver.volume_path(SOURCE)) == want
    # Shared extents: the reverted volume took no space of its own (the old data went).
    assert os.statvfs(xfs_folder).f_bavail >= free_before - 16
