"""The LVM driver's commands and report reading, independent of the machine: argv lists
as built, and pool reports from recorded `vgs`/`lvs` JSON (tests/drivers/data/lvm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.drivers import DriverConfigError, DriverError, available_drivers, create_driver
from app.drivers.lvm.commands import Lvm, dd_argv, dm_name
from app.drivers.lvm.driver import LvmDriver
from app.drivers.lvm.reports import LvReport, parse_lvs, parse_vgs
from app.drivers.sizes import GiB
from app.scheduler.capacity import capacity

DATA = Path(__file__).parent / "data" / "lvm"
VG = "cinder-volumes"
POOL = "cinder-volumes-pool"
THICK_VOLUME = "volume-6f1c2b8e-0d4a-4e55-9a57-2a8f3c1d9e01"
COW_SNAPSHOT = "_snapshot-3e9a7c5d-1b2f-4d8e-a6c0-7f5e4d3c2b1a"
THIN_VOLUME = "volume-2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5e7a"
NO_ACTIVATION = ("--config", "global/activation=0")


def lvs(name: str) -> list[LvReport]:
    return parse_lvs((DATA / name).read_text())


def lv(name: str, report: str) -> LvReport:
    return next(row for row in lvs(report) if row.lv_name == name)


def driver(**options: Any) -> LvmDriver:
    made = create_driver("lvm1", "lvm", {"volume_group": VG, **options})
    assert isinstance(made, LvmDriver)
    return made


def pool_report(report: str, **options: Any) -> dict[str, Any]:
    [vg] = parse_vgs((DATA / "vgs.json").read_text())
    return driver(**options).pool_stats(vg, lvs(report))


# -- reports ------------------------------------------------------------------------------


def test_report_strings_become_numbers_and_blank_percentages_none() -> None:
    [vg] = parse_vgs((DATA / "vgs.json").read_text())
    assert (vg.vg_name, vg.vg_size, vg.vg_extent_size) == (VG, 107369988096, 4 * 1024**2)
    pool = lv(POOL, "lvs_thin.json")
    assert pool.is_thin_pool and not pool.is_thin_volume
    assert (pool.lv_size, pool.data_percent, pool.metadata_percent) == (95 * GiB, 12.5, 3.05)
    volume = lv(THIN_VOLUME, "lvs_thin.json")
    assert volume.is_thin_volume and volume.pool_lv == POOL
    assert volume.metadata_percent is None
    snapshot = lv(COW_SNAPSHOT, "lvs_thick.json")
    assert snapshot.is_cow_snapshot and snapshot.origin == THICK_VOLUME
    home = lv("home", "lvs_thick.json")
    assert (home.data_percent, home.origin, home.is_cow_snapshot) == (None, "", False)


@pytest.mark.parametrize(
    "text",
    ['{"report": [{"lv": [{"lv_name": "a"}]}]}', "not json", '{"report": [{"lv": [{"lv_name": '
     '"a", "vg_name": "v", "lv_size": "12x", "lv_attr": "-wi-a-----"}]}]}'],
)  # fmt: skip
def test_an_unreadable_report_is_a_driver_error(text: str) -> None:
    with pytest.raises(DriverError, match="cannot read the lvs report"):
        parse_lvs(text)


# -- commands -----------------------------------------------------------------------------


def test_thick_and_thin_creates() -> None:
    lvm = Lvm(VG)
    assert lvm.create_argv("volume-1", 10) == (
        "lvcreate", "--yes", "-L", "10g", "-n", "volume-1", VG,
    )  # fmt: skip
    assert lvm.create_thin_argv("volume-1", 10, POOL) == (
        "lvcreate", "--yes", "-T", "-V", "10g", "-n", "volume-1", f"{VG}/{POOL}",
    )  # fmt: skip
    assert lvm.create_thin_pool_argv(POOL, 95) == (
        "lvcreate", "--yes", "-T", "-l", "95%FREE", f"{VG}/{POOL}",
    )  # fmt: skip


def test_without_activation_every_command_says_so_and_makes_inactive_lvs() -> None:
    lvm = Lvm(VG, activation=False)
    assert lvm.create_argv("volume-1", 1) == (
        "lvcreate", *NO_ACTIVATION, "--yes", "-an", "-Zn", "-L", "1g", "-n", "volume-1", VG,
    )  # fmt: skip
    # Thin volumes and snapshots refuse -Z (a thin pool must keep zeroing its blocks).
    assert "-Zn" not in lvm.create_thin_argv("volume-1", 1, POOL)
    assert "-Zn" not in lvm.cow_snapshot_argv("_snapshot-1", "volume-1", 1)
    for argv in (
        lvm.vgs_argv(),
        lvm.lvs_argv(),
        lvm.extend_argv("volume-1", 2),
        lvm.remove_argv("volume-1"),
        lvm.rename_argv("a", "b"),
        lvm.thin_snapshot_argv("volume-2", "volume-1"),
    ):
        assert argv[1:3] == NO_ACTIVATION, argv


def test_snapshots_extend_remove_and_reports() -> None:
    lvm = Lvm(VG)
    assert lvm.thin_snapshot_argv("volume-2", "volume-1") == (
        "lvcreate", "--yes", "-s", "--setactivationskip", "n", "-n", "volume-2",
        f"{VG}/volume-1",
    )  # fmt: skip
    assert lvm.cow_snapshot_argv("_snapshot-1", "volume-1", 10) == (
        "lvcreate", "--yes", "-s", "-L", "10g", "-n", "_snapshot-1", f"{VG}/volume-1",
    )  # fmt: skip
    assert lvm.activate_argv("volume-2") == ("lvchange", "-a", "y", "-K", f"{VG}/volume-2")
    assert lvm.extend_argv("volume-1", 20) == ("lvextend", "-L", "20g", f"{VG}/volume-1")
    assert lvm.remove_argv("volume-1") == ("lvremove", "-y", f"{VG}/volume-1")
    assert lvm.rename_argv("a", "b") == ("lvrename", VG, "a", "b")
    assert lvm.lvs_argv() == (
        "lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
        "lv_name,vg_name,lv_size,lv_attr,pool_lv,origin,data_percent,metadata_percent", VG,
    )  # fmt: skip
    assert lvm.vgs_argv()[-3:] == ("-o", "vg_name,vg_size,vg_free,vg_extent_size", VG)


def test_device_paths_escape_dashes_for_device_mapper() -> None:
    assert dm_name("cinder-volumes", "volume-1") == "cinder--volumes-volume--1"
    lvm = Lvm(VG)
    assert lvm.device_path("volume-1") == f"/dev/{VG}/volume-1"
    assert lvm.cow_device_path("_snapshot-1") == "/dev/mapper/cinder--volumes-_snapshot--1-cow"


def test_dd_reads_directly_only_from_a_device() -> None:
    assert dd_argv("/dev/a", "/dev/b", 1024, direct_input=True) == (
        "dd", "if=/dev/a", "of=/dev/b", "bs=1M", "count=1024", "iflag=direct",
        "oflag=direct", "conv=fdatasync", "status=none",
    )  # fmt: skip
    assert "iflag=direct" not in dd_argv("/dev/zero", "/dev/b", 1, direct_input=False)


# -- wiping -------------------------------------------------------------------------------


def test_thick_volumes_are_wiped_whole_by_default() -> None:
    argv = driver().wipe_argv(lv(THICK_VOLUME, "lvs_thick.json"))
    assert argv == dd_argv("/dev/zero", f"/dev/{VG}/{THICK_VOLUME}", 10240, direct_input=False)


def test_a_cow_snapshot_is_wiped_through_its_own_store() -> None:
    argv = driver(volume_clear_size=100).wipe_argv(lv(COW_SNAPSHOT, "lvs_thick.json"))
    store = f"/dev/mapper/cinder--volumes-{COW_SNAPSHOT.replace('-', '--')}-cow"
    assert argv == dd_argv("/dev/zero", store, 100, direct_input=False)


def test_thin_volumes_and_volume_clear_none_are_not_wiped() -> None:
    assert driver().wipe_argv(lv(THIN_VOLUME, "lvs_thin.json")) is None
    assert driver(volume_clear="none").wipe_argv(lv(THICK_VOLUME, "lvs_thick.json")) is None


# -- options ------------------------------------------------------------------------------


def test_the_lvm_driver_is_registered_with_cinder_defaults() -> None:
    assert "lvm" in available_drivers()
    made = driver(lvm_type="thin")
    assert (made.storage_protocol, made.thin_pool, made.pool_name) == ("iSCSI", POOL, POOL)
    assert made.lvm_options.volume_clear == "zero"
    assert driver().pool_name == VG


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"volume_clear": "shred"}, "volume_clear: Input should be 'zero' or 'none'"),
        ({"lvm_type": "thick"}, "lvm_type: Input should be 'default' or 'thin'"),
        ({"volume_clear_size": -1}, "volume_clear_size"),
        ({"volume_group": "-bad"}, "volume_group"),
        ({"volume_group": "a/b"}, "volume_group"),
        ({"thin_pool_full_percent": 0}, "thin_pool_full_percent"),
    ],
)
def test_invalid_options_refuse_to_start(options: dict[str, Any], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        driver(**options)


def test_the_volume_group_is_required() -> None:
    with pytest.raises(DriverConfigError, match="volume_group: Field required"):
        create_driver("lvm1", "lvm", {})


# -- pool reports -------------------------------------------------------------------------


def test_a_thick_pool_is_the_volume_group() -> None:
    pool = pool_report("lvs_thick.json", reserved_percentage=5)
    assert pool["pool_name"] == VG
    assert pool["total_capacity_gb"] == 100.0  # 100 GiB less one extent of metadata
    assert pool["free_capacity_gb"] == 78.49  # floor(84284538880 / GiB, 2)
    # Every LV takes VG space, ours and the host's "home"; allocated is ours only.
    assert pool["provisioned_capacity_gb"] == 21.5
    assert pool["allocated_capacity_gb"] == 21.0
    assert pool["total_volumes"] == 2
    assert (pool["thin_provisioning_support"], pool["thick_provisioning_support"]) == (False, True)
    assert (pool["reserved_percentage"], pool["multiattach"]) == (5, True)
    assert "thin_pool_full" not in pool


def test_a_thin_pool_reports_its_own_data_use() -> None:
    pool = pool_report("lvs_thin.json", lvm_type="thin", max_over_subscription_ratio=3)
    assert pool["pool_name"] == POOL
    assert pool["total_capacity_gb"] == 95.0
    assert pool["free_capacity_gb"] == 83.12  # 95 GiB less 12.5 %
    # Virtual sizes of every thin LV in the pool; the thick "home" is not in it.
    assert pool["provisioned_capacity_gb"] == 95.0
    assert pool["allocated_capacity_gb"] == 90.0
    assert pool["total_volumes"] == 2
    assert (pool["thin_provisioning_support"], pool["thick_provisioning_support"]) == (True, False)
    assert pool["max_over_subscription_ratio"] == "3.0"
    assert (pool["thin_pool_data_percent"], pool["thin_pool_metadata_percent"]) == (12.5, 3.05)
    assert (pool["thin_pool_full"], pool["reserved_percentage"]) == (False, 0)
    assert capacity(pool, 10, thin_request=True)


@pytest.mark.parametrize("report", ["lvs_thin_data_full.json", "lvs_thin_metadata_full.json"])
def test_a_near_full_thin_pool_takes_no_new_volumes(report: str) -> None:
    pool = pool_report(report, lvm_type="thin", max_over_subscription_ratio=20)
    assert pool["thin_pool_full"] is True
    assert (pool["free_capacity_gb"], pool["reserved_percentage"]) == (0.0, 100)
    assert pool["max_over_subscription_ratio"] == "1.0"
    assert pool["total_capacity_gb"] == 95.0  # still the truth
    # The scheduler's own CapacityFilter arithmetic turns it away, thin or thick.
    assert not capacity(pool, 1, thin_request=True)
    assert not capacity(pool, 1, thin_request=False)


def test_the_full_threshold_is_an_option() -> None:
    pool = pool_report("lvs_thin_metadata_full.json", lvm_type="thin", thin_pool_full_percent=98)
    assert pool["thin_pool_full"] is False
    assert capacity(pool, 1, thin_request=True)


def test_a_missing_thin_pool_is_an_error_not_an_empty_pool() -> None:
    with pytest.raises(DriverError, match=f"thin pool {VG}/other does not exist"):
        pool_report("lvs_thin.json", lvm_type="thin", thin_pool_name="other")


def test_an_inactive_thin_pool_reports_no_use_and_no_guess() -> None:
    [vg] = parse_vgs((DATA / "vgs.json").read_text())
    rows = [
        row.model_copy(update={"data_percent": None, "metadata_percent": None})
        if row.is_thin_pool
        else row
        for row in lvs("lvs_thin.json")
    ]
    with pytest.raises(DriverError, match=f"thin pool {VG}/{POOL} reports no data use"):
        driver(lvm_type="thin").pool_stats(vg, rows)


@pytest.mark.parametrize("pool_bytes", [64 * 1024**2, 95 * GiB + GiB // 2, 3 * GiB // 2])
def test_a_full_pool_of_any_size_takes_not_even_the_smallest_volume(pool_bytes: int) -> None:
    # Cinder floors the reserved GB: a fraction of a GB stays usable even at 100 %.
    [vg] = parse_vgs((DATA / "vgs.json").read_text())
    rows = [
        row.model_copy(update={"lv_size": pool_bytes}) if row.is_thin_pool else row
        for row in lvs("lvs_thin_data_full.json")
    ]
    for provisioned in (rows, [row for row in rows if not row.is_thin_volume]):
        pool = driver(lvm_type="thin").pool_stats(vg, provisioned)
        assert pool["thin_pool_full"] is True
        assert not capacity(pool, 1, thin_request=True)
        assert not capacity(pool, 1, thin_request=False)
