"""The LVM driver: a backend is one volume group; its one pool is the VG itself (thick
volumes, `lvm_type = "default"`) or one thin pool in it (`lvm_type = "thin"`).

Volumes are LVs `volume-<id>`, snapshots `_snapshot-<id>` (LVM reserves names starting
with "snapshot", so Cinder's LVM driver prefixes them with "_" too). Thin volumes are
snapshotted and cloned with thin snapshots; thick ones get COW snapshots, and clones
are copied block by block. What an LV is (thin volume, COW snapshot, ...) is read from
`lvs`, never assumed from the options, so a pool holding both kinds is handled right.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import Field

from app.drivers import manageable
from app.drivers.base import (
    BackendOptions,
    DriverConfigError,
    DriverError,
    SnapshotSpec,
    VolumeDriver,
    VolumeSpec,
)
from app.drivers.lvm.commands import Lvm, MiB, dd_argv
from app.drivers.lvm.reports import LvReport, VgReport
from app.drivers.runner import DEFAULT_TIMEOUT, CommandError
from app.drivers.sizes import GiB, floor_gib, format_gib, gib

log = structlog.get_logger(__name__)

VOLUME_PREFIX = "volume-"
SNAPSHOT_PREFIX = "_snapshot-"
# A thick clone is copied under this prefix and renamed when complete, so a retry never
# takes a half-copied LV for a finished clone.
PARTIAL_PREFIX = "_partial-"
# The share of the VG's free space a thin pool made by do_setup takes (Cinder's too):
# the rest lets its metadata grow.
THIN_POOL_PERCENT_OF_FREE = 95
# A floor for how fast dd wipes or copies (MiB/s): its timeout scales with the size.
_SLOWEST_MIB_PER_S = 20
# LVM's own name rule: letters, digits and "+_.-", not starting with "-".
_LVM_NAME = r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$"


class LvmDriverOptions(BackendOptions):
    volume_group: str = Field(pattern=_LVM_NAME)
    # Cinder's names: "default" is thick.
    lvm_type: Literal["default", "thin"] = "default"
    # Default: "<volume_group>-pool", as Cinder names it.
    thin_pool_name: str | None = Field(default=None, pattern=_LVM_NAME)
    # Thick volumes and COW snapshots are overwritten with zeros before they are
    # removed, so the next LV on those extents cannot read a former tenant's data.
    volume_clear: Literal["zero", "none"] = "zero"
    # MiB to wipe from the start of the LV; 0 = all of it.
    volume_clear_size: int = Field(default=0, ge=0)
    # A lab and test switch, never for production: false runs every command with
    # `--config global/activation=0` and makes LVs inactive, for hosts without
    # device-mapper (metadata only: no device, no wipe, no thick clone).
    lvm_activation: bool = True
    # A thin pool whose data or metadata use reaches this percentage takes no new
    # volumes: it reports no free space and all of it reserved.
    thin_pool_full_percent: float = Field(default=95.0, gt=0, le=100)


class LvmDriver(VolumeDriver):
    driver_name = "lvm"
    driver_version = "1.0.0"
    storage_protocol = "iSCSI"
    options_model = LvmDriverOptions

    def __init__(self, backend_name: str, options: BackendOptions) -> None:
        if not isinstance(options, LvmDriverOptions):
            raise DriverConfigError("the lvm driver needs LvmDriverOptions")
        super().__init__(backend_name, options)
        self.lvm_options = options
        self.vg = options.volume_group
        self.thin = options.lvm_type == "thin"
        self.thin_pool = options.thin_pool_name or f"{self.vg}-pool"
        self.pool_name = self.thin_pool if self.thin else self.vg
        self.lvm = Lvm(self.vg, activation=options.lvm_activation)

    # -- setup ---------------------------------------------------------------------------

    def do_setup(self) -> None:
        if shutil.which("lvm") is None:
            raise DriverConfigError("the LVM tools are not installed (Debian: lvm2)")
        if self.lvm.read_vg() is None:
            raise DriverConfigError(f"volume group {self.vg!r} does not exist")
        if self.thin:
            self._ensure_thin_pool()
        log.info(
            "lvm backend ready",
            backend=self.backend_name,
            volume_group=self.vg,
            pool=self.pool_name,
            thin=self.thin,
            activation=self.lvm.activation,
        )

    def _ensure_thin_pool(self) -> None:
        pool = self.lvm.find(self.thin_pool)
        if pool is None:
            argv = self.lvm.create_thin_pool_argv(self.thin_pool, THIN_POOL_PERCENT_OF_FREE)
            try:
                self.lvm.run(argv)
            except CommandError as exc:
                raise DriverConfigError(
                    f"cannot create thin pool {self.vg}/{self.thin_pool}: {exc.message}"
                ) from None
            log.info("thin pool created", volume_group=self.vg, pool=self.thin_pool)
        elif not pool.is_thin_pool:
            raise DriverConfigError(f"{self.vg}/{self.thin_pool} is not a thin pool")

    # -- names ---------------------------------------------------------------------------

    def _volume_lv(self, volume: VolumeSpec) -> str:
        # From the validated id only, never from provider_location.
        return f"{VOLUME_PREFIX}{volume.id}"

    def _snapshot_lv(self, snapshot: SnapshotSpec) -> str:
        return f"{SNAPSHOT_PREFIX}{snapshot.id}"

    def local_path(self, volume: VolumeSpec) -> Path:
        return Path(self.lvm.device_path(self._volume_lv(volume)))

    def snapshot_local_path(self, snapshot: SnapshotSpec) -> Path:
        return Path(self.lvm.device_path(self._snapshot_lv(snapshot)))

    def _location(self, name: str) -> dict[str, Any]:
        return {"provider_location": self.lvm.device_path(name)}

    # -- volumes -------------------------------------------------------------------------

    def create_volume(self, volume: VolumeSpec) -> dict[str, Any]:
        name = self._volume_lv(volume)
        if self._exists_at_size(name, volume.size_gb, "volume"):
            log.info("volume already exists", volume_id=volume.id, lv=name)
            return self._location(name)
        if self.thin:
            argv = self.lvm.create_thin_argv(name, volume.size_gb, self.thin_pool)
        else:
            argv = self.lvm.create_argv(name, volume.size_gb)
        self._create(argv, name, volume.size_gb, "volume")
        log.info("volume created", volume_id=volume.id, size_gb=volume.size_gb, lv=name)
        return self._location(name)

    def _exists_at_size(self, name: str, size_gb: int, what: str) -> bool:
        """Whether the LV exists (a retried job); an error when at another size."""
        lv = self.lvm.find(name)
        if lv is None:
            return False
        if lv.lv_size != size_gb * GiB:
            raise DriverError(
                f"{what} {self.vg}/{name} already exists with size "
                f"{format_gib(lv.lv_size)} GiB, not {size_gb} GiB"
            )
        return True

    def _create(self, argv: tuple[str, ...], name: str, size_gb: int, what: str) -> None:
        try:
            self.lvm.run(argv)
        except CommandError:
            # A concurrent run of the same job may have made it first.
            if not self._exists_at_size(name, size_gb, what):
                raise

    def delete_volume(self, volume: VolumeSpec) -> None:
        self._remove(self._volume_lv(volume), "volume")

    def _remove(self, name: str, what: str) -> None:
        """Wipe (when it holds data of its own) and remove an LV; gone is not an error."""
        lvs = self.lvm.read_lvs()
        lv = next((lv for lv in lvs if lv.lv_name == name), None)
        if lv is None:
            log.info(f"{what} already gone", lv=name)
            return
        if any(other.is_cow_snapshot and other.origin == name for other in lvs):
            # lvremove would take them along: snapshots are deleted on their own.
            raise DriverError(f"{what} {self.vg}/{name} has snapshots")
        self._wipe(lv)
        self.lvm.run(self.lvm.remove_argv(name))
        log.info(f"{what} deleted", lv=name)

    def wipe_argv(self, lv: LvReport) -> tuple[str, ...] | None:
        """The dd that zeroes the LV's own data before removal, or None when there is
        nothing to wipe: volume_clear = none, or a thin volume (a thin pool zeroes
        every block it hands out, so the next LV never reads this one's data)."""
        if self.lvm_options.volume_clear == "none" or lv.is_thin_volume:
            return None
        if lv.is_cow_snapshot:
            # The snapshot's device reads through to the origin: wipe its own store.
            device = self.lvm.cow_device_path(lv.lv_name)
        else:
            device = self.lvm.device_path(lv.lv_name)
        size_mib = lv.lv_size // MiB
        if self.lvm_options.volume_clear_size:
            size_mib = min(size_mib, self.lvm_options.volume_clear_size)
        return dd_argv("/dev/zero", device, size_mib, direct_input=False)

    def _wipe(self, lv: LvReport) -> None:
        argv = self.wipe_argv(lv)
        if argv is None:
            return
        if not self.lvm.activation:
            log.info("wipe skipped: activation is off, the LV has no device", lv=lv.lv_name)
            return
        self.lvm.run(argv, timeout=_dd_timeout(lv.lv_size // MiB))
        log.info("lv wiped", lv=lv.lv_name, argv=argv)

    def extend_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        name = self._volume_lv(volume)
        lv = self.lvm.find(name)
        if lv is None:
            raise DriverError(f"volume {self.vg}/{name} does not exist")
        new_size = new_size_gb * GiB
        if lv.lv_size == new_size:
            return
        if lv.lv_size > new_size:
            raise DriverError(
                f"cannot shrink volume from {format_gib(lv.lv_size)} GiB to {new_size_gb} GiB"
            )
        self.lvm.run(self.lvm.extend_argv(name, new_size_gb))
        log.info("volume extended", volume_id=volume.id, new_size_gb=new_size_gb)

    def create_cloned_volume(self, volume: VolumeSpec, source: VolumeSpec) -> dict[str, Any]:
        """Thin: a thin snapshot of the source (instant, shares blocks), grown to the
        clone's size. Thick: a new LV under a partial name, the source's device copied
        into it with dd, then renamed into place."""
        self._copy_lv(volume, self._volume_lv(source), f"source volume {source.id}")
        log.info("volume cloned", volume_id=volume.id, source_id=source.id)
        return self._location(self._volume_lv(volume))

    def create_volume_from_snapshot(
        self, volume: VolumeSpec, snapshot: SnapshotSpec
    ) -> dict[str, Any]:
        """As a clone, from the snapshot's LV: a thin snapshot of a thin snapshot, grown
        to the volume's size; a thick volume copied from the COW snapshot's device."""
        self._copy_lv(volume, self._snapshot_lv(snapshot), f"snapshot {snapshot.id}")
        log.info("volume created from snapshot", volume_id=volume.id, snapshot_id=snapshot.id)
        return self._location(self._volume_lv(volume))

    def _copy_lv(self, volume: VolumeSpec, source_name: str, what: str) -> None:
        """`volume-<id>` holding the data of LV `source_name` (a volume or a snapshot),
        at the volume's size; a finished one (a retried job) is left as it is."""
        name = self._volume_lv(volume)
        size = volume.size_gb * GiB
        made = self.lvm.find(name)
        if made is not None and made.origin == source_name and made.lv_size < size:
            # A thin clone made by an earlier try that stopped before growing it.
            self.lvm.run(self.lvm.extend_argv(name, volume.size_gb))
        if self._exists_at_size(name, volume.size_gb, "volume"):
            log.info("volume already exists", volume_id=volume.id, lv=name)
            return
        origin = self._origin(source_name, what)
        if origin.lv_size > size:
            raise DriverError(f"{what} is larger than the {volume.size_gb} GiB volume")
        if origin.is_thin_volume:
            self._thin_snapshot(name, origin)
            if origin.lv_size < size:
                self.lvm.run(self.lvm.extend_argv(name, volume.size_gb))
        else:
            self._copy_thick(name, origin, volume.size_gb)

    def _origin(self, name: str, what: str) -> LvReport:
        lv = self.lvm.find(name)
        if lv is None:
            raise DriverError(f"{what} {self.vg}/{name} does not exist")
        return lv

    def _thin_snapshot(self, name: str, origin: LvReport) -> None:
        try:
            self.lvm.run(self.lvm.thin_snapshot_argv(name, origin.lv_name))
        except CommandError:
            # A concurrent run of the same job may have made it first.
            if self.lvm.find(name) is None:
                raise
        if self.lvm.activation:
            self.lvm.run(self.lvm.activate_argv(name))

    def _copy_thick(self, name: str, origin: LvReport, size_gb: int) -> None:
        self._need_devices("a thick clone copies the source's device")
        partial = f"{PARTIAL_PREFIX}{name}"
        if self.lvm.find(partial) is not None:
            # Left by a copy that did not finish: the job holding the lease is this one.
            self.lvm.run(self.lvm.remove_argv(partial))
        self.lvm.run(self.lvm.create_argv(partial, size_gb))
        self._dd(origin, partial)
        self.lvm.run(self.lvm.rename_argv(partial, name))

    def _dd(self, source: LvReport, target: str) -> None:
        """Copy all of LV `source`'s device into LV `target`'s, past the page cache."""
        size_mib = source.lv_size // MiB
        copy = dd_argv(
            self.lvm.device_path(source.lv_name),
            self.lvm.device_path(target),
            size_mib,
            direct_input=True,
        )
        self.lvm.run(copy, timeout=_dd_timeout(size_mib))

    def _need_devices(self, what: str) -> None:
        if not self.lvm.activation:
            raise DriverError(
                f"{what}, and this backend runs with lvm_activation = false: there is no device"
            )

    def revert_to_snapshot(self, volume: VolumeSpec, snapshot: SnapshotSpec) -> None:
        """Thin: a thin snapshot of the snapshot, made under a partial name, takes the
        volume's place (the old volume LV removed, the new one renamed in); a retry after
        the removal finds the partial LV and finishes the rename. Thick: the COW
        snapshot's device copied over the volume's with dd (the snapshot keeps its
        data: LVM copies what is overwritten into its store, as large as the volume)."""
        name = self._volume_lv(volume)
        snapshot_lv = self._origin(self._snapshot_lv(snapshot), f"snapshot {snapshot.id}")
        if snapshot_lv.lv_size != volume.size_gb * GiB:
            raise DriverError(
                f"snapshot {snapshot.id} is {format_gib(snapshot_lv.lv_size)} GiB and the "
                f"volume {volume.size_gb} GiB: only a snapshot of the volume's size is reverted to"
            )
        if snapshot_lv.is_thin_volume:
            self._revert_thin(name, snapshot_lv)
        else:
            self._revert_thick(name, snapshot_lv)
        log.info("volume reverted to snapshot", volume_id=volume.id, snapshot_id=snapshot.id)

    def _revert_thin(self, name: str, snapshot_lv: LvReport) -> None:
        partial = f"{PARTIAL_PREFIX}{name}"
        current = self.lvm.find(name)
        if current is not None:
            if self.lvm.find(partial) is not None:
                # Left by a try that stopped before the swap: made again from the snapshot.
                self.lvm.run(self.lvm.remove_argv(partial))
            self._thin_snapshot(partial, snapshot_lv)
            # A thin volume is never wiped (the pool zeroes what it hands out again).
            self.lvm.run(self.lvm.remove_argv(name))
        elif self.lvm.find(partial) is None:
            raise DriverError(f"volume {self.vg}/{name} does not exist")
        self.lvm.run(self.lvm.rename_argv(partial, name))

    def _revert_thick(self, name: str, snapshot_lv: LvReport) -> None:
        self._need_devices("a thick revert copies the snapshot's device")
        self._origin(name, "volume")
        self._dd(snapshot_lv, name)

    # -- snapshots -----------------------------------------------------------------------

    def create_snapshot(self, snapshot: SnapshotSpec, volume: VolumeSpec) -> dict[str, Any]:
        """Thin volume: a thin snapshot. Thick volume: a COW snapshot as large as the
        volume, so it can never overflow (and be dropped) however much is rewritten."""
        name = self._snapshot_lv(snapshot)
        if self._exists_at_size(name, snapshot.size_gb, "snapshot"):
            log.info("snapshot already exists", snapshot_id=snapshot.id, lv=name)
            return self._location(name)
        origin = self._origin(self._volume_lv(volume), "volume")
        if origin.is_thin_volume:
            self._thin_snapshot(name, origin)
        else:
            argv = self.lvm.cow_snapshot_argv(name, origin.lv_name, snapshot.size_gb)
            self._create(argv, name, snapshot.size_gb, "snapshot")
        log.info("snapshot created", snapshot_id=snapshot.id, volume_id=volume.id, lv=name)
        return self._location(name)

    def delete_snapshot(self, snapshot: SnapshotSpec) -> None:
        self._remove(self._snapshot_lv(snapshot), "snapshot")

    # -- manageable listings (app/drivers/manageable.py) -----------------------------------

    def _pool_members(self) -> list[LvReport]:
        """The LVs of this backend's pool: the thin pool's volumes, or the VG's plain
        LVs and COW snapshots."""
        lvs = self.lvm.read_lvs()
        if self.thin:
            return [lv for lv in lvs if lv.pool_lv == self.thin_pool]
        return [lv for lv in lvs if not lv.is_thin_pool and not lv.is_thin_volume]

    def get_manageable_volumes(self, known_ids: Collection[str]) -> list[dict[str, Any]]:
        """The pool's LVs but snapshots and partial copies (names starting with "_"):
        `volume-<id>` already managed when the API knows the id; an open LV (attached,
        exported) is not safe to manage."""
        return [
            manageable.item(
                lv.lv_name,
                lv.lv_size,
                VOLUME_PREFIX,
                known_ids,
                busy="volume in use" if lv.is_open else None,
            )
            for lv in self._pool_members()
            if not lv.lv_name.startswith("_") and not lv.is_cow_snapshot
        ]

    def get_manageable_snapshots(self, known_ids: Collection[str]) -> list[dict[str, Any]]:
        """The pool's `_snapshot-<id>` LVs, each with the LV it is a snapshot of."""
        return [
            manageable.item(
                lv.lv_name,
                lv.lv_size,
                SNAPSHOT_PREFIX,
                known_ids,
                source=lv.origin or None,
                snapshot=True,
            )
            for lv in self._pool_members()
            if lv.lv_name.startswith(SNAPSHOT_PREFIX)
        ]

    # -- capacity ------------------------------------------------------------------------

    def get_volume_stats(self) -> dict[str, Any]:
        vg = self.lvm.read_vg()
        if vg is None:
            raise DriverError(f"volume group {self.vg!r} does not exist")
        return self.backend_stats([self.pool_stats(vg, self.lvm.read_lvs())])

    def pool_stats(self, vg: VgReport, lvs: list[LvReport]) -> dict[str, Any]:
        """The pool's report from the `vgs` and `lvs` reports."""
        opts = self.lvm_options
        if self.thin:
            pool_lv = next((lv for lv in lvs if lv.lv_name == self.thin_pool), None)
            if pool_lv is None or not pool_lv.is_thin_pool:
                raise DriverError(f"thin pool {self.vg}/{self.thin_pool} does not exist")
            members = [lv for lv in lvs if lv.pool_lv == self.thin_pool]
            if pool_lv.data_percent is None or pool_lv.metadata_percent is None:
                # lvs prints no use for an inactive pool: unknown is not empty.
                raise DriverError(f"thin pool {self.vg}/{self.thin_pool} reports no data use")
            total = pool_lv.lv_size
            data, metadata = pool_lv.data_percent, pool_lv.metadata_percent
            free = total - math.ceil(total * data / 100)
            provisioned = sum(lv.lv_size for lv in members)
        else:
            members = lvs
            total, free = vg.vg_size, vg.vg_free
            # Thin volumes of a foreign thin pool take no VG space; the pool itself does.
            provisioned = sum(lv.lv_size for lv in lvs if not lv.is_thin_volume)
        ours = [lv for lv in members if lv.lv_name.startswith((VOLUME_PREFIX, SNAPSHOT_PREFIX))]
        pool: dict[str, Any] = {
            "pool_name": self.pool_name,
            "total_capacity_gb": gib(total),
            # Rounded down: reporting more free space than exists could oversubscribe.
            "free_capacity_gb": floor_gib(free),
            "allocated_capacity_gb": gib(sum(lv.lv_size for lv in ours)),
            "provisioned_capacity_gb": gib(provisioned),
            "thin_provisioning_support": self.thin,
            "thick_provisioning_support": not self.thin,
            "max_over_subscription_ratio": opts.max_over_subscription_ratio,
            "reserved_percentage": opts.reserved_percentage,
            "multiattach": True,
            "QoS_support": False,
            "total_volumes": sum(lv.lv_name.startswith(VOLUME_PREFIX) for lv in members),
        }
        if self.thin:
            full = max(data, metadata) >= opts.thin_pool_full_percent
            pool["thin_pool_data_percent"] = data
            pool["thin_pool_metadata_percent"] = metadata
            pool["thin_pool_full"] = full
            if full:
                # A full thin pool fails writes to every volume in it: new volumes must
                # go elsewhere. Free space alone would not stop them (the scheduler's
                # thin arithmetic is Cinder's: provisioned against total x ratio). All
                # of it reserved, without oversubscription, leaves less than the 1 GB
                # the smallest volume needs (Cinder floors the reserved GB, so a
                # fraction of one stays): thin and thick requests and claims all fail.
                pool["free_capacity_gb"] = 0.0
                pool["reserved_percentage"] = 100
                pool["max_over_subscription_ratio"] = "1.0"
        return pool


def _dd_timeout(size_mib: int) -> float:
    return max(DEFAULT_TIMEOUT, size_mib / _SLOWEST_MIB_PER_S + DEFAULT_TIMEOUT)
