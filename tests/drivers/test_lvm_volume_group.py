"""The LVM driver on a real volume group: a loop device made from a sparse file, with
activation off (`lvm_activation = false`), so LVM changes its metadata for real on a
host without device-mapper. Needs root, lvm2 and losetup (required in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from app.drivers import DriverConfigError, DriverError, SnapshotSpec, VolumeSpec, create_driver
from app.drivers.lvm.driver import LvmDriver
from app.drivers.sizes import GiB
from tests.conftest import need

NO_ACTIVATION = ("--config", "global/activation=0")
ENV = {**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1", "LC_ALL": "C"}
VOLUME_ID = "6f1c1f0e-8d4b-4b8e-9a57-0c4cbe1f3a11"
OTHER_ID = "0b7d5e2a-91c3-4f60-8d2e-5c4b3a291f17"


def _run(*argv: str) -> str:
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60, env=ENV)
    return done.stdout


def _lvm(tool: str, *args: str) -> str:
    return _run(tool, *NO_ACTIVATION, *args)


@pytest.fixture
def volume_group(tmp_path: Path) -> Iterator[str]:
    """A 4 GiB VG of its own (a unique name: tests run in parallel workers)."""
    need(
        os.geteuid() == 0 and bool(shutil.which("lvm")) and bool(shutil.which("losetup")),
        "root with lvm2 and losetup",
    )
    image = tmp_path / "pv.img"
    with open(image, "wb") as f:
        f.truncate(4 * GiB)
    device = _run("losetup", "-f", "--show", str(image)).strip()
    name = f"pumice-test-{uuid.uuid4().hex[:12]}"
    try:
        _lvm("pvcreate", "-q", device)
        _lvm("vgcreate", "-q", name, device)
        yield name
    finally:
        subprocess.run(["vgremove", *NO_ACTIVATION, "-y", name], capture_output=True, env=ENV)
        subprocess.run(["pvremove", *NO_ACTIVATION, device], capture_output=True, env=ENV)
        subprocess.run(["losetup", "-d", device], capture_output=True)


def make_driver(vg: str, **options: Any) -> LvmDriver:
    driver = create_driver("lvm1", "lvm", {"volume_group": vg, "lvm_activation": False, **options})
    assert isinstance(driver, LvmDriver)
    driver.do_setup()
    return driver


@pytest.fixture
def driver(volume_group: str) -> LvmDriver:
    return make_driver(volume_group)


def lv_sizes(vg: str) -> dict[str, int]:
    """LV name -> size in bytes, read with lvs' plain output (not the driver's parser)."""
    out = _lvm("lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size", vg)
    return {name: int(size) for name, size in (line.split() for line in out.splitlines())}


def vg_bytes(vg: str) -> tuple[int, int]:
    out = _lvm("vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_size,vg_free", vg)
    size, free = out.split()
    return int(size), int(free)


def volume(size_gb: int = 1, volume_id: str = VOLUME_ID) -> VolumeSpec:
    return VolumeSpec(id=volume_id, size_gb=size_gb)


def test_create_makes_the_lv_and_is_idempotent(driver: LvmDriver, volume_group: str) -> None:
    update = driver.create_volume(volume(1))
    assert update == {"provider_location": f"/dev/{volume_group}/volume-{VOLUME_ID}"}
    assert lv_sizes(volume_group) == {f"volume-{VOLUME_ID}": GiB}
    assert driver.create_volume(volume(1)) == update
    assert lv_sizes(volume_group) == {f"volume-{VOLUME_ID}": GiB}
    assert driver.local_path(volume(1)) == Path(f"/dev/{volume_group}/volume-{VOLUME_ID}")


def test_create_of_an_existing_lv_at_another_size_fails(driver: LvmDriver) -> None:
    driver.create_volume(volume(1))
    with pytest.raises(DriverError, match="already exists with size 1 GiB, not 2 GiB"):
        driver.create_volume(volume(2))


def test_a_volume_larger_than_the_group_is_lvms_error(driver: LvmDriver) -> None:
    with pytest.raises(DriverError, match=r"lvcreate failed .*[Ii]nsufficient free space"):
        driver.create_volume(volume(5))


def test_extend_grows_and_the_same_size_is_a_no_op(driver: LvmDriver, volume_group: str) -> None:
    driver.create_volume(volume(1))
    driver.extend_volume(volume(1), 2)
    assert lv_sizes(volume_group) == {f"volume-{VOLUME_ID}": 2 * GiB}
    driver.extend_volume(volume(2), 2)
    assert lv_sizes(volume_group) == {f"volume-{VOLUME_ID}": 2 * GiB}
    with pytest.raises(DriverError, match="cannot shrink volume from 2 GiB to 1 GiB"):
        driver.extend_volume(volume(2), 1)
    with pytest.raises(DriverError, match=f"volume {volume_group}/volume-{OTHER_ID} does not"):
        driver.extend_volume(volume(1, OTHER_ID), 2)


def test_delete_removes_the_lv_and_a_missing_one_is_fine(
    driver: LvmDriver, volume_group: str
) -> None:
    driver.create_volume(volume(1))
    driver.create_volume(volume(1, OTHER_ID))
    with capture_logs() as logs:
        driver.delete_volume(volume(1))
    assert lv_sizes(volume_group) == {f"volume-{OTHER_ID}": GiB}
    # volume_clear = zero, but an inactive LV has no device to write zeros to.
    assert "wipe skipped: activation is off, the LV has no device" in [
        entry["event"] for entry in logs
    ]
    driver.delete_volume(volume(1))
    assert lv_sizes(volume_group) == {f"volume-{OTHER_ID}": GiB}


def test_stats_match_the_volume_group(driver: LvmDriver, volume_group: str) -> None:
    _lvm("lvcreate", "-q", "-an", "-Zn", "-L", "256m", "-n", "home", volume_group)
    driver.create_volume(volume(1))
    driver.create_volume(volume(2, OTHER_ID))
    stats = driver.get_volume_stats()
    assert (stats["volume_backend_name"], stats["storage_protocol"]) == ("lvm1", "iSCSI")
    [pool] = stats["pools"]
    size, free = vg_bytes(volume_group)
    assert pool["pool_name"] == volume_group
    assert pool["total_capacity_gb"] == round(size / GiB, 2)
    assert pool["free_capacity_gb"] == int(free / GiB * 100) / 100
    assert pool["provisioned_capacity_gb"] == 3.25
    assert pool["allocated_capacity_gb"] == 3.0
    assert pool["total_volumes"] == 2
    # What the VG lost is exactly what was provisioned.
    assert size - free == sum(lv_sizes(volume_group).values())


def test_cow_snapshots_need_device_mapper_and_say_so(driver: LvmDriver, volume_group: str) -> None:
    # The real lvcreate -s runs; without device-mapper LVM refuses it, and its own
    # reason reaches the user message. On a real storage host it makes the snapshot.
    driver.create_volume(volume(1))
    snapshot = SnapshotSpec(id=OTHER_ID, size_gb=1, volume_id=VOLUME_ID)
    with pytest.raises(DriverError, match=r"lvcreate failed .*device-mapper"):
        driver.create_snapshot(snapshot, volume(1))
    assert lv_sizes(volume_group) == {f"volume-{VOLUME_ID}": GiB}
    driver.delete_snapshot(snapshot)  # never made: already gone is fine


def test_a_snapshot_of_a_missing_volume_is_refused(driver: LvmDriver, volume_group: str) -> None:
    snapshot = SnapshotSpec(id=OTHER_ID, size_gb=1, volume_id=VOLUME_ID)
    with pytest.raises(DriverError, match=f"volume {volume_group}/volume-{VOLUME_ID} does not"):
        driver.create_snapshot(snapshot, volume(1))


def test_a_thick_clone_needs_a_device_and_leaves_nothing_behind(
    driver: LvmDriver, volume_group: str
) -> None:
    driver.create_volume(volume(1))
    with pytest.raises(DriverError, match="lvm_activation = false: there is no device"):
        driver.create_cloned_volume(volume(1, OTHER_ID), volume(1))
    assert lv_sizes(volume_group) == {f"volume-{VOLUME_ID}": GiB}


def test_a_missing_volume_group_refuses_to_start(volume_group: str) -> None:
    with pytest.raises(DriverConfigError, match="volume group 'pumice-no-such-vg' does not exist"):
        make_driver("pumice-no-such-vg")


def test_an_invalid_volume_clear_refuses_to_start(volume_group: str) -> None:
    with pytest.raises(DriverConfigError, match="volume_clear"):
        make_driver(volume_group, volume_clear="random")


def test_a_thin_pool_that_cannot_be_made_refuses_to_start(volume_group: str) -> None:
    # do_setup creates the missing pool for real; here device-mapper is missing.
    with pytest.raises(DriverConfigError, match=f"cannot create thin pool {volume_group}/"):
        make_driver(volume_group, lvm_type="thin")


def test_a_thin_pool_name_taken_by_a_plain_lv_refuses_to_start(volume_group: str) -> None:
    _lvm("lvcreate", "-q", "-an", "-Zn", "-L", "8m", "-n", "pool", volume_group)
    with pytest.raises(DriverConfigError, match=f"{volume_group}/pool is not a thin pool"):
        make_driver(volume_group, lvm_type="thin", thin_pool_name="pool")


def test_manageable_listings_tell_managed_from_manageable(
    driver: LvmDriver, volume_group: str
) -> None:
    _lvm("lvcreate", "-q", "-an", "-Zn", "-L", "256m", "-n", "home", volume_group)
    driver.create_volume(volume(1))
    driver.create_volume(volume(2, OTHER_ID))
    # A COW snapshot needs device-mapper (see above): an LV of a snapshot's name stands in.
    _lvm("lvcreate", "-q", "-an", "-Zn", "-L", "512m", "-n", "_snapshot-s1", volume_group)
    listing = {
        item["reference"]["source-name"]: item
        for item in driver.get_manageable_volumes(frozenset({VOLUME_ID}))
    }
    assert set(listing) == {"home", f"volume-{VOLUME_ID}", f"volume-{OTHER_ID}"}
    managed = listing[f"volume-{VOLUME_ID}"]
    assert managed["cinder_id"] == VOLUME_ID and managed["safe_to_manage"] is False
    assert managed["reason_not_safe"] == "already managed"
    assert listing[f"volume-{OTHER_ID}"]["safe_to_manage"] is True
    assert listing[f"volume-{OTHER_ID}"]["size"] == 2
    assert listing["home"]["size"] == 1  # 256 MiB, rounded up
    [snapshot] = driver.get_manageable_snapshots(frozenset())
    assert snapshot["reference"] == {"source-name": "_snapshot-s1"}
    assert snapshot["source_reference"] == {"source-name": None}
    assert snapshot["safe_to_manage"] is True
    [snapshot] = driver.get_manageable_snapshots(frozenset({"s1"}))
    assert snapshot["cinder_id"] == "s1" and snapshot["reason_not_safe"] == "already managed"
