"""Reflink detection on the plain temp folder (no reflinks) and on a loop-mounted XFS
filesystem made with reflink=1 (needs root, losetup and mkfs.xfs; skipped otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.drivers import VolumeSpec, create_driver
from app.drivers.file import FileDriver
from app.drivers.reflink import ReflinkUnsupported, clone_file, detect_reflink


def test_no_reflink_on_the_temp_folder(tmp_path: Path) -> None:
    assert detect_reflink(tmp_path) is False
    assert list(tmp_path.iterdir()) == []  # the probe cleans up


def test_clone_fails_cleanly_without_reflink(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"data")
    with pytest.raises(ReflinkUnsupported):
        clone_file(source, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_reflink_on_xfs(xfs_folder: Path) -> None:
    assert detect_reflink(xfs_folder) is True
    source = xfs_folder / "src"
    source.write_bytes(b"\x5a" * 1024 * 1024)
    clone_file(source, xfs_folder / "dst")
    assert (xfs_folder / "dst").read_bytes() == source.read_bytes()
    # Writes diverge: the clone is a copy, not a link.
    with open(xfs_folder / "dst", "r+b") as f:
        f.write(b"\x00")
    assert source.read_bytes()[:1] == b"\x5a"


def test_file_driver_reports_reflink_on_xfs(xfs_folder: Path) -> None:
    driver = create_driver("xfs1", "file", {"path": str(xfs_folder / "pool")})
    assert isinstance(driver, FileDriver)
    driver.do_setup()
    assert driver.reflink is True
    driver.create_volume(VolumeSpec(id="v1", size_gb=100))
    [pool] = driver.get_volume_stats()["pools"]
    assert pool["reflink"] is True
    assert pool["allocated_capacity_gb"] == 100.0
    # Thin on a 512 MiB filesystem: free is its real free space, below the total.
    assert 0 < pool["free_capacity_gb"] <= pool["total_capacity_gb"] < 0.5
