"""The file driver against real files in a temp folder (ext4 or tmpfs: no reflinks)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.drivers import DriverConfigError, DriverError, VolumeSpec
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB
from tests.drivers.helpers import make_driver

VOLUME_ID = "6f1c1f0e-8d4b-4b8e-9a57-0c4cbe1f3a11"


def pool_of(driver: FileDriver) -> dict[str, Any]:
    stats = driver.get_volume_stats()
    [pool] = stats["pools"]
    return pool


@pytest.fixture
def driver(tmp_path: Path) -> FileDriver:
    return make_driver(tmp_path / "file1", capacity_gb=100)


def test_setup_creates_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "file1"
    make_driver(folder)
    assert folder.is_dir()


def test_setup_rejects_a_file_as_folder(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(DriverConfigError, match=r"not a folder|cannot create"):
        make_driver(tmp_path / "plain")


def test_setup_removes_leftover_partial_files(tmp_path: Path) -> None:
    folder = tmp_path / "file1"
    folder.mkdir()
    leftover = folder / ".partial-volume-x-123"
    leftover.write_bytes(b"")
    make_driver(folder)
    assert not leftover.exists()


def test_create_makes_a_sparse_file_of_the_size(driver: FileDriver) -> None:
    result = driver.create_volume(VolumeSpec(id=VOLUME_ID, size_gb=10))
    path = driver.folder / f"volume-{VOLUME_ID}"
    assert result == {"provider_location": str(path)}
    st = path.stat()
    assert st.st_size == 10 * GiB
    # Sparse: no data blocks at all (a few metadata blocks at most).
    assert st.st_blocks * 512 < 1024 * 1024
    assert st.st_mode & 0o777 == 0o600
    assert sorted(p.name for p in driver.folder.iterdir()) == [path.name]


def test_create_is_idempotent_for_the_same_size(driver: FileDriver) -> None:
    volume = VolumeSpec(id=VOLUME_ID, size_gb=2)
    first = driver.create_volume(volume)
    assert driver.create_volume(volume) == first
    assert (driver.folder / f"volume-{VOLUME_ID}").stat().st_size == 2 * GiB


def test_create_refuses_an_existing_file_of_another_size(driver: FileDriver) -> None:
    driver.create_volume(VolumeSpec(id=VOLUME_ID, size_gb=2))
    with pytest.raises(DriverError, match="already exists with size 2 GiB, not 3 GiB"):
        driver.create_volume(VolumeSpec(id=VOLUME_ID, size_gb=3))
    assert (driver.folder / f"volume-{VOLUME_ID}").stat().st_size == 2 * GiB
    # The failed attempt left nothing behind.
    assert len(list(driver.folder.iterdir())) == 1


def test_delete_removes_the_file_and_is_idempotent(driver: FileDriver) -> None:
    volume = VolumeSpec(id=VOLUME_ID, size_gb=1)
    driver.create_volume(volume)
    driver.delete_volume(volume)
    assert not (driver.folder / f"volume-{VOLUME_ID}").exists()
    driver.delete_volume(volume)


def test_extend_grows_and_is_idempotent(driver: FileDriver) -> None:
    volume = VolumeSpec(id=VOLUME_ID, size_gb=1)
    driver.create_volume(volume)
    driver.extend_volume(volume, 5)
    path = driver.folder / f"volume-{VOLUME_ID}"
    assert path.stat().st_size == 5 * GiB
    assert path.stat().st_blocks * 512 < 1024 * 1024
    driver.extend_volume(volume, 5)
    assert path.stat().st_size == 5 * GiB


def test_extend_never_shrinks(driver: FileDriver) -> None:
    volume = VolumeSpec(id=VOLUME_ID, size_gb=4)
    driver.create_volume(volume)
    with pytest.raises(DriverError, match="cannot shrink"):
        driver.extend_volume(volume, 2)
    assert (driver.folder / f"volume-{VOLUME_ID}").stat().st_size == 4 * GiB


def test_extend_of_a_missing_volume_fails(driver: FileDriver) -> None:
    with pytest.raises(DriverError, match="does not exist"):
        driver.extend_volume(VolumeSpec(id=VOLUME_ID, size_gb=1), 2)


def test_data_written_into_a_volume_survives_extend(driver: FileDriver) -> None:
    volume = VolumeSpec(id=VOLUME_ID, size_gb=1)
    driver.create_volume(volume)
    path = driver.folder / f"volume-{VOLUME_ID}"
    with open(path, "r+b") as f:
        f.write(b"pumice")
    driver.extend_volume(volume, 2)
    with open(path, "rb") as f:
        assert f.read(6) == b"pumice"


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "a/b", "", ".hidden", "x" * 200])
def test_volume_ids_cannot_escape_the_folder(bad_id: str) -> None:
    with pytest.raises(DriverError, match="invalid volume id"):
        VolumeSpec(id=bad_id, size_gb=1)


def test_volume_spec_from_a_job_payload() -> None:
    spec = VolumeSpec.from_dict(
        {
            "id": VOLUME_ID,
            "size_gb": 3,
            "name": None,
            "pool": "file1",
            "host": "node1@file1#file1",
            "provider_location": None,
        }
    )
    assert spec == VolumeSpec(id=VOLUME_ID, size_gb=3, pool="file1", host="node1@file1#file1")
    with pytest.raises(DriverError, match="missing 'size_gb'"):
        VolumeSpec.from_dict({"id": VOLUME_ID})
    with pytest.raises(DriverError, match="at least 1"):
        VolumeSpec.from_dict({"id": VOLUME_ID, "size_gb": 0})
    with pytest.raises(DriverError, match="integer"):
        VolumeSpec.from_dict({"id": VOLUME_ID, "size_gb": "3"})


def test_stats_have_cinders_shape(driver: FileDriver) -> None:
    stats = driver.get_volume_stats()
    assert stats == {
        "volume_backend_name": "file1",
        "vendor_name": "Pumice",
        "driver_version": "1.0.0",
        "storage_protocol": "file",
        "filter_function": None,
        "goodness_function": None,
        "pools": [stats["pools"][0]],
    }
    pool = stats["pools"][0]
    assert pool["pool_name"] == "file1"
    assert pool["total_capacity_gb"] == 100.0
    assert pool["allocated_capacity_gb"] == 0.0
    assert pool["provisioned_capacity_gb"] == 0.0
    assert pool["thin_provisioning_support"] is True
    assert pool["thick_provisioning_support"] is False
    assert pool["max_over_subscription_ratio"] == "20.0"
    assert pool["reserved_percentage"] == 0
    assert pool["multiattach"] is True
    assert pool["QoS_support"] is False
    assert pool["reflink"] is False  # the temp folder is on ext4/tmpfs here
    assert pool["total_volumes"] == 0


def test_thin_stats_count_apparent_size_and_real_free_space(driver: FileDriver) -> None:
    driver.create_volume(VolumeSpec(id=VOLUME_ID, size_gb=3))
    driver.create_volume(VolumeSpec(id="second", size_gb=7))
    # A file that is not a volume does not count.
    (driver.folder / "notes.txt").write_text("hello")
    pool = pool_of(driver)
    assert pool["allocated_capacity_gb"] == 10.0
    assert pool["provisioned_capacity_gb"] == 10.0
    assert pool["total_volumes"] == 2
    fs = os.statvfs(driver.folder)
    fs_free_gb = fs.f_bavail * fs.f_frsize / GiB
    # Sparse volumes hold no blocks: free is what the filesystem has, capped at 100 GB.
    assert pool["free_capacity_gb"] == pytest.approx(min(fs_free_gb, 100.0), abs=0.05)


def test_thin_free_space_is_total_minus_written_blocks(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "small", capacity_gb=0.01)  # ~10 MiB
    driver.create_volume(VolumeSpec(id=VOLUME_ID, size_gb=1))
    path = driver.folder / f"volume-{VOLUME_ID}"
    with open(path, "r+b") as f:
        f.write(b"\1" * (4 * 1024 * 1024))
        f.flush()
        os.fsync(f.fileno())
    pool = pool_of(driver)
    used = path.stat().st_blocks * 512
    assert pool["free_capacity_gb"] == pytest.approx((0.01 * GiB - used) / GiB, abs=0.01)
    assert pool["allocated_capacity_gb"] == 1.0


def test_thin_free_space_is_never_negative(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "tiny", capacity_gb=0.001)  # ~1 MiB
    driver.create_volume(VolumeSpec(id=VOLUME_ID, size_gb=1))
    with open(driver.folder / f"volume-{VOLUME_ID}", "r+b") as f:
        f.write(b"\1" * (4 * 1024 * 1024))
        os.fsync(f.fileno())
    assert pool_of(driver)["free_capacity_gb"] == 0.0


def test_thick_stats_subtract_the_full_size(tmp_path: Path) -> None:
    driver = make_driver(
        tmp_path / "thick",
        capacity_gb=50,
        thin=False,
        max_over_subscription_ratio=1,
        reserved_percentage=5,
        pool_name="gold",
    )
    driver.create_volume(VolumeSpec(id=VOLUME_ID, size_gb=20))
    pool = pool_of(driver)
    assert pool["pool_name"] == "gold"
    assert pool["total_capacity_gb"] == 50.0
    assert pool["allocated_capacity_gb"] == 20.0
    assert pool["free_capacity_gb"] == 30.0
    assert pool["thin_provisioning_support"] is False
    assert pool["thick_provisioning_support"] is True
    assert pool["max_over_subscription_ratio"] == "1.0"
    assert pool["reserved_percentage"] == 5


def test_default_capacity_is_the_filesystem_size(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "fs")
    fs = os.statvfs(driver.folder)
    assert pool_of(driver)["total_capacity_gb"] == round(fs.f_blocks * fs.f_frsize / GiB, 2)


def test_extend_and_delete_change_the_stats(driver: FileDriver) -> None:
    volume = VolumeSpec(id=VOLUME_ID, size_gb=1)
    driver.create_volume(volume)
    driver.extend_volume(volume, 4)
    assert pool_of(driver)["allocated_capacity_gb"] == 4.0
    driver.delete_volume(volume)
    assert pool_of(driver)["allocated_capacity_gb"] == 0.0


def test_filter_and_goodness_functions_are_reported(tmp_path: Path) -> None:
    driver = make_driver(
        tmp_path / "f",
        filter_function="capabilities.total_volumes < 10",
        goodness_function="100 - capabilities.total_volumes",
    )
    stats = driver.get_volume_stats()
    assert stats["filter_function"] == "capabilities.total_volumes < 10"
    assert stats["goodness_function"] == "100 - capabilities.total_volumes"
