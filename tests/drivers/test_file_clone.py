"""create_cloned_volume on the file driver with real files: a sparse copy on the plain
temp folder, a reflink clone on a loop-mounted XFS; idempotent, through the agent's
clone_volume job kind too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError, VolumeSpec
from app.drivers.copy import checksum
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB
from tests.drivers.helpers import make_driver

SOURCE = VolumeSpec(id="11111111-1111-4111-8111-111111111111", size_gb=1, pool="file1")
CLONE = VolumeSpec(id="22222222-2222-4222-8222-222222222222", size_gb=1, pool="file1")


def write_pattern(driver: FileDriver, volume: VolumeSpec) -> None:
    with open(driver.volume_path(volume), "r+b") as f:
        f.write(b"\x5a" * 4096)
        f.seek(GiB // 2)
        f.write(b"middle")


def test_sparse_clone_copies_the_data_and_stays_sparse(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    assert driver.reflink is False
    driver.create_volume(SOURCE)
    write_pattern(driver, SOURCE)
    result = driver.create_cloned_volume(CLONE, SOURCE)
    clone = driver.volume_path(CLONE)
    assert result == {"provider_location": str(clone)}
    assert clone.stat().st_size == GiB
    assert checksum(clone) == checksum(driver.volume_path(SOURCE))
    # Only the two 1 MiB chunks that hold data were written: the holes stayed holes.
    assert clone.stat().st_blocks * 512 <= 2 * 1024 * 1024
    assert oct(clone.stat().st_mode & 0o777) == "0o600"
    # Writes to the clone do not reach the source.
    with open(clone, "r+b") as f:
        f.write(b"changed")
    assert checksum(clone) != checksum(driver.volume_path(SOURCE))
    # A retried job finds the finished clone; no partial file is left behind.
    assert driver.create_cloned_volume(CLONE, SOURCE) == result
    assert sorted(p.name for p in driver.folder.iterdir()) == sorted(
        [f"volume-{SOURCE.id}", f"volume-{CLONE.id}"]
    )


def test_a_larger_clone_reads_zeros_past_the_source(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    driver.create_volume(SOURCE)
    write_pattern(driver, SOURCE)
    bigger = VolumeSpec(id=CLONE.id, size_gb=2, pool="file1")
    driver.create_cloned_volume(bigger, SOURCE)
    path = driver.volume_path(bigger)
    assert path.stat().st_size == 2 * GiB
    with open(path, "rb") as f:
        assert f.read(4096) == b"\x5a" * 4096
        f.seek(GiB + 10)
        assert f.read(16) == bytes(16)


def test_clone_refusals(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    with pytest.raises(DriverError, match="does not exist"):
        driver.create_cloned_volume(CLONE, SOURCE)
    big_source = VolumeSpec(id=SOURCE.id, size_gb=2, pool="file1")
    driver.create_volume(big_source)
    with pytest.raises(DriverError, match="larger than"):
        driver.create_cloned_volume(CLONE, big_source)
    # A clone of another size already there is an error, not silently accepted.
    other = VolumeSpec(id=CLONE.id, size_gb=2, pool="file1")
    driver.create_volume(other)
    with pytest.raises(DriverError, match="already exists"):
        driver.create_cloned_volume(CLONE, big_source)
    assert not any(p.name.startswith(".partial-") for p in driver.folder.iterdir())


def test_clone_volume_job_kind(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    driver.create_volume(SOURCE)
    write_pattern(driver, SOURCE)
    kind = JOB_KINDS[("clone_volume", 1)]
    assert kind.changes_capacity
    payload = {
        "volume": {"id": CLONE.id, "size_gb": 1, "pool": "file1"},
        "source": {"id": SOURCE.id, "size_gb": 1, "pool": "file1"},
    }
    result = kind.bind(driver, payload, {})()
    assert result == {"provider_location": str(driver.volume_path(CLONE))}
    assert checksum(driver.volume_path(CLONE)) == checksum(driver.volume_path(SOURCE))
    with pytest.raises(DriverError, match="invalid job payload: no source"):
        kind.bind(driver, {"volume": payload["volume"]}, {})()


def test_reflink_clone_on_xfs(xfs_folder: Path) -> None:
    driver = make_driver(xfs_folder / "file1", capacity_gb=100)
    assert driver.reflink is True
    driver.create_volume(SOURCE)
    write_pattern(driver, SOURCE)
    free_before = os.statvfs(xfs_folder).f_bavail
    driver.create_cloned_volume(CLONE, SOURCE)
    assert checksum(driver.volume_path(CLONE)) == checksum(driver.volume_path(SOURCE))
    # Shared extents: the clone took (next to) no space of its own.
    assert free_before - os.statvfs(xfs_folder).f_bavail < 16
