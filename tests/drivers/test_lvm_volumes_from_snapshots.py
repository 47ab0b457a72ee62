"""The LVM driver's volumes from snapshots and reverts: thin ones against LVM's metadata
as the command runner sees it (LvmMetadata: device-mapper is missing here, so thin LVs
cannot be made for real), with activation on and off; thick ones against a real volume
group without activation, where they must refuse (no device to copy) and leave nothing."""

from __future__ import annotations

from typing import Any

import pytest

from app.drivers import DriverError, SnapshotSpec, VolumeSpec, create_driver
from app.drivers.lvm.commands import Lvm
from app.drivers.lvm.driver import LvmDriver
from app.drivers.sizes import GiB
from tests.drivers.helpers import LvmMetadata

VG = "cinder-volumes"
POOL = "cinder-volumes-pool"
VOL = VolumeSpec(id="11111111-1111-4111-8111-111111111111", size_gb=1)
SNAP = SnapshotSpec(id="33333333-3333-4333-8333-333333333333", size_gb=1, volume_id=VOL.id)
NEW = VolumeSpec(id="22222222-2222-4222-8222-222222222222", size_gb=2)
VOL_LV, SNAP_LV, NEW_LV = f"volume-{VOL.id}", f"_snapshot-{SNAP.id}", f"volume-{NEW.id}"
PARTIAL_LV = f"_partial-{VOL_LV}"
NO_ACTIVATION = ("--config", "global/activation=0")


def thin_driver(activation: bool = True) -> tuple[LvmDriver, LvmMetadata]:
    """A thin LVM driver over LvmMetadata holding VOL and its thin snapshot SNAP."""
    meta = LvmMetadata(VG, POOL)
    meta.thin_volume(VOL_LV, GiB)
    meta.thin_volume(SNAP_LV, GiB, origin=VOL_LV)
    options: dict[str, Any] = {"volume_group": VG, "lvm_type": "thin"}
    driver = create_driver("lvm1", "lvm", {**options, "lvm_activation": activation})
    assert isinstance(driver, LvmDriver)
    driver.lvm = Lvm(VG, activation=activation, runner=meta)  # type: ignore[arg-type]
    return driver, meta


def test_a_thin_volume_from_a_snapshot_is_a_thin_snapshot_of_it_grown() -> None:
    driver, meta = thin_driver()
    assert driver.create_volume_from_snapshot(NEW, SNAP) == {
        "provider_location": f"/dev/{VG}/{NEW_LV}"
    }
    assert meta.commands == [
        ("lvcreate", "--yes", "-s", "--setactivationskip", "n", "-n", NEW_LV, f"{VG}/{SNAP_LV}"),
        ("lvchange", "-a", "y", "-K", f"{VG}/{NEW_LV}"),
        ("lvextend", "-L", "2g", f"{VG}/{NEW_LV}"),
    ]
    assert meta.lvs[NEW_LV]["origin"] == SNAP_LV and meta.lvs[NEW_LV]["lv_size"] == str(2 * GiB)
    # A retried job finds the finished volume and changes nothing.
    meta.commands.clear()
    driver.create_volume_from_snapshot(NEW, SNAP)
    assert meta.commands == []


def test_a_retry_grows_a_thin_volume_left_at_the_snapshots_size() -> None:
    driver, meta = thin_driver()
    meta.thin_volume(NEW_LV, GiB, origin=SNAP_LV)  # made, not grown: the agent stopped
    driver.create_volume_from_snapshot(NEW, SNAP)
    assert meta.commands == [("lvextend", "-L", "2g", f"{VG}/{NEW_LV}")]


def test_a_missing_or_larger_snapshot_is_refused() -> None:
    driver, meta = thin_driver()
    gone = SnapshotSpec(id="44444444-4444-4444-8444-444444444444", size_gb=1, volume_id=VOL.id)
    with pytest.raises(DriverError, match=f"snapshot {gone.id} {VG}/_snapshot-.* does not exist"):
        driver.create_volume_from_snapshot(NEW, gone)
    meta.lvs[SNAP_LV]["lv_size"] = str(3 * GiB)
    with pytest.raises(DriverError, match="larger than the 2 GiB volume"):
        driver.create_volume_from_snapshot(NEW, SNAP)
    assert meta.commands == [] and NEW_LV not in meta.lvs


def test_a_thin_revert_swaps_in_a_thin_snapshot_of_the_snapshot() -> None:
    driver, meta = thin_driver()
    driver.revert_to_snapshot(VOL, SNAP)
    assert meta.commands == [
        ("lvcreate", "--yes", "-s", "--setactivationskip", "n", "-n", PARTIAL_LV,
         f"{VG}/{SNAP_LV}"),
        ("lvchange", "-a", "y", "-K", f"{VG}/{PARTIAL_LV}"),
        ("lvremove", "-y", f"{VG}/{VOL_LV}"),
        ("lvrename", VG, PARTIAL_LV, VOL_LV),
    ]  # fmt: skip
    assert meta.names() == {VOL_LV, SNAP_LV}
    assert meta.lvs[VOL_LV]["origin"] == SNAP_LV
    # The snapshot outlives the volume it was taken of: a later revert works the same.
    meta.commands.clear()
    driver.revert_to_snapshot(VOL, SNAP)
    assert [c[0] for c in meta.commands] == ["lvcreate", "lvchange", "lvremove", "lvrename"]


def test_a_thin_revert_retried_finishes_what_the_last_try_began() -> None:
    # Stopped after the partial LV was made: it is made again from the snapshot.
    driver, meta = thin_driver()
    meta.thin_volume(PARTIAL_LV, GiB, origin=SNAP_LV)
    driver.revert_to_snapshot(VOL, SNAP)
    assert meta.commands[0] == ("lvremove", "-y", f"{VG}/{PARTIAL_LV}")
    assert meta.names() == {VOL_LV, SNAP_LV}
    # Stopped after the old volume was removed: only the rename is left.
    driver, meta = thin_driver()
    del meta.lvs[VOL_LV]
    meta.thin_volume(PARTIAL_LV, GiB, origin=SNAP_LV)
    driver.revert_to_snapshot(VOL, SNAP)
    assert meta.commands == [("lvrename", VG, PARTIAL_LV, VOL_LV)]
    # Neither there: nothing to revert.
    driver, meta = thin_driver()
    del meta.lvs[VOL_LV]
    with pytest.raises(DriverError, match=f"volume {VG}/{VOL_LV} does not exist"):
        driver.revert_to_snapshot(VOL, SNAP)


def test_a_revert_to_a_snapshot_of_another_size_is_refused() -> None:
    driver, meta = thin_driver()
    with pytest.raises(DriverError, match="only a snapshot of the volume's size"):
        driver.revert_to_snapshot(VolumeSpec(id=VOL.id, size_gb=2), SNAP)
    assert meta.commands == []


def test_without_activation_the_same_commands_say_so_and_activate_nothing() -> None:
    driver, meta = thin_driver(activation=False)
    recorded: list[tuple[str, ...]] = []
    run = meta.run

    def record(*argv: str, **options: Any) -> Any:
        recorded.append(argv)
        return run(*argv, **options)

    meta.run = record  # type: ignore[method-assign]
    driver.create_volume_from_snapshot(NEW, SNAP)
    driver.revert_to_snapshot(VOL, SNAP)
    assert all(argv[1:3] == NO_ACTIVATION for argv in recorded), recorded
    assert not any(argv[0] == "lvchange" for argv in recorded)
    assert [c[0] for c in meta.commands] == [
        "lvcreate", "lvextend", "lvcreate", "lvremove", "lvrename",
    ]  # fmt: skip


# -- thick: COW snapshots, copied with dd ----------------------------------------------------


def thick_driver(activation: bool = True) -> tuple[LvmDriver, LvmMetadata]:
    """A thick LVM driver over LvmMetadata holding VOL and its COW snapshot SNAP."""
    meta = LvmMetadata(VG, POOL)
    del meta.lvs[POOL]
    meta.plain_volume(VOL_LV, GiB)
    meta.plain_volume(SNAP_LV, GiB, attr="swi-a-s---", origin=VOL_LV)
    driver = create_driver("lvm1", "lvm", {"volume_group": VG, "lvm_activation": activation})
    assert isinstance(driver, LvmDriver)
    driver.lvm = Lvm(VG, activation=activation, runner=meta)  # type: ignore[arg-type]
    return driver, meta


def dd(source: str, target: str, mib: int) -> tuple[str, ...]:
    return (
        "dd", f"if=/dev/{VG}/{source}", f"of=/dev/{VG}/{target}", "bs=1M", f"count={mib}",
        "iflag=direct", "oflag=direct", "conv=fdatasync", "status=none",
    )  # fmt: skip


def test_a_thick_volume_from_a_snapshot_is_copied_under_a_partial_name() -> None:
    driver, meta = thick_driver()
    driver.create_volume_from_snapshot(NEW, SNAP)
    partial = f"_partial-{NEW_LV}"
    assert meta.commands == [
        ("lvcreate", "--yes", "-L", "2g", "-n", partial, VG),
        dd(SNAP_LV, partial, 1024),
        ("lvrename", VG, partial, NEW_LV),
    ]
    assert meta.lvs[NEW_LV]["lv_size"] == str(2 * GiB)


def test_a_thick_revert_copies_the_snapshot_over_the_volume() -> None:
    driver, meta = thick_driver()
    driver.revert_to_snapshot(VOL, SNAP)
    assert meta.commands == [dd(SNAP_LV, VOL_LV, 1024)]


def test_thick_copies_need_a_device() -> None:
    driver, meta = thick_driver(activation=False)
    with pytest.raises(DriverError, match="lvm_activation = false: there is no device"):
        driver.create_volume_from_snapshot(NEW, SNAP)
    with pytest.raises(DriverError, match="lvm_activation = false: there is no device"):
        driver.revert_to_snapshot(VOL, SNAP)
    assert meta.commands == [] and meta.names() == {VOL_LV, SNAP_LV}
