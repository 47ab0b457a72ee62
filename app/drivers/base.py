"""The volume driver interface the agent runs (docs/CONTRACTS.md, "Driver interface").

Drivers know nothing of the database or HTTP: the agent hands them a `VolumeSpec` built
from a job payload and posts whatever they return. Methods are synchronous because
storage tooling is (files, subprocesses); the agent calls them in a worker thread.
Every operation is idempotent so that a job retried after a lost lease is safe.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.drivers.sizes import GiB, format_gib
from app.drivers.targets.address import portal, primary_address

if TYPE_CHECKING:
    from app.drivers.targets.helper import TargetHelper

VENDOR_NAME = "Pumice"
# Cinder's default `target_prefix`: a volume's target is `<prefix>volume-<id>`.
DEFAULT_TARGET_PREFIX = "iqn.2010-10.org.openstack:"
TARGET_NAME_PREFIX = "volume-"
# Targets of exports for a copy to another agent (`export_for_copy`).
COPY_TARGET_NAME_PREFIX = "copy-"
# An IQN (RFC 3720): "iqn." date "." reversed domain, then anything after a colon.
_IQN_PREFIX = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[A-Za-z0-9.:_-]*)?$")
# CHAP user names go into tgtadm's argv and its account list, one name a line.
_CHAP_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")

# Volume ids become file names and LV names, so only what a UUID (or a Cinder-style
# name) can contain is allowed: never a path separator or "..".
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class DriverError(Exception):
    """An operation failed; `message` is short and readable, it becomes the user message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DriverConfigError(DriverError):
    """A backend's options are invalid or its storage cannot be set up."""


@dataclass(frozen=True)
class VolumeSpec:
    """What a driver needs to know about a volume (the contract's VOL object)."""

    id: str
    # 0 while the size is not known: a volume being managed, or whose manage failed.
    size_gb: int
    name: str | None = None
    pool: str | None = None
    host: str | None = None
    provider_location: str | None = None

    def __post_init__(self) -> None:
        if not _SAFE_ID.match(self.id):
            raise DriverError(f"invalid volume id {self.id!r}")
        if isinstance(self.size_gb, bool) or not isinstance(self.size_gb, int):
            raise DriverError(f"invalid volume size {self.size_gb!r}: an integer is required")
        if self.size_gb < 0:
            raise DriverError(f"invalid volume size {self.size_gb} GB: must not be negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, sized: bool = True) -> VolumeSpec:
        """The VOL of a job payload. `sized`: the operation needs the size, so it must
        be at least 1 (delete and manage take a volume whose size is not known, 0)."""
        try:
            spec = cls(
                id=str(data["id"]),
                size_gb=data["size_gb"],
                name=data.get("name"),
                pool=data.get("pool"),
                host=data.get("host"),
                provider_location=data.get("provider_location"),
            )
        except KeyError as exc:
            raise DriverError(f"volume is missing {exc.args[0]!r}") from None
        if sized and spec.size_gb < 1:
            raise DriverError(f"invalid volume size {spec.size_gb} GB: must be at least 1")
        return spec


@dataclass(frozen=True)
class SnapshotSpec:
    """What a driver needs to know about a snapshot (the contract's SNAP object)."""

    id: str
    # 0 while the size is not known: a snapshot being managed, or whose manage failed.
    size_gb: int
    volume_id: str
    name: str | None = None
    provider_location: str | None = None

    def __post_init__(self) -> None:
        if not _SAFE_ID.match(self.id):
            raise DriverError(f"invalid snapshot id {self.id!r}")
        if isinstance(self.size_gb, bool) or not isinstance(self.size_gb, int):
            raise DriverError(f"invalid snapshot size {self.size_gb!r}: an integer is required")
        if self.size_gb < 0:
            raise DriverError(f"invalid snapshot size {self.size_gb} GB: must not be negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, sized: bool = True) -> SnapshotSpec:
        """The SNAP of a job payload; `sized` as for VolumeSpec.from_dict."""
        try:
            spec = cls(
                id=str(data["id"]),
                size_gb=data["size_gb"],
                volume_id=str(data["volume_id"]),
                name=data.get("name"),
                provider_location=data.get("provider_location"),
            )
        except KeyError as exc:
            raise DriverError(f"snapshot is missing {exc.args[0]!r}") from None
        if sized and spec.size_gb < 1:
            raise DriverError(f"invalid snapshot size {spec.size_gb} GB: must be at least 1")
        return spec


@dataclass(frozen=True)
class ExportSpec:
    """How a volume is exported: who may log in, with which CHAP credentials."""

    chap_user: str
    chap_secret: str = field(repr=False)  # never logged
    # Connector addresses allowed to connect; () = any address.
    initiators: tuple[str, ...] = ()
    read_only: bool = False

    def __post_init__(self) -> None:
        if not _CHAP_USER.match(self.chap_user):
            raise DriverError(f"invalid CHAP user {self.chap_user!r}")
        if not self.chap_secret or any(c.isspace() for c in self.chap_secret):
            raise DriverError("invalid CHAP secret: empty or with white space")
        for address in self.initiators:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise DriverError(f"invalid initiator address {address!r}") from None


class BackendOptions(BaseModel):
    """Options every backend understands (Cinder's generic driver options).

    A driver subclasses this with its own options; unknown keys are an error so a typo in
    the agent config is caught at start, not silently ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_over_subscription_ratio: str = "20.0"
    reserved_percentage: int = Field(default=0, ge=0, le=100)
    # Evaluated by the scheduler's filter/goodness weighers, reported verbatim.
    filter_function: str | None = None
    goodness_function: str | None = None
    # Exports (Cinder's target options): which target helper makes the iSCSI targets,
    # how they are named and where initiators reach them.
    target_helper: str = "tgtadm"
    target_prefix: str = DEFAULT_TARGET_PREFIX
    # The portal address handed to initiators: by default this host's primary address
    # (Cinder's my_ip), never 127.0.0.1 unless the host has no route at all.
    target_ip_address: str = Field(default_factory=primary_address)
    target_port: int = Field(default=3260, ge=1, le=65535)
    # tgtadm -C N: the control port of a private tgtd (tests, the all-in-one service).
    tgt_control_port: int | None = Field(default=None, ge=0)

    @field_validator("target_helper")
    @classmethod
    def _implemented_helper(cls, value: str) -> str:
        # Imported here: the helpers import this module.
        from app.drivers.targets.registry import check_helper_name

        return check_helper_name(value)

    @field_validator("target_prefix")
    @classmethod
    def _iqn_prefix(cls, value: str) -> str:
        if not _IQN_PREFIX.match(value):
            raise ValueError("must be an IQN prefix such as 'iqn.2010-10.org.openstack:'")
        return value

    @field_validator("target_ip_address")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("must be an IP address") from None

    @field_validator("max_over_subscription_ratio", mode="before")
    @classmethod
    def _ratio_as_string(cls, value: object) -> str:
        # Cinder reports the ratio as a string ("auto" or a float >= 1); accept a TOML
        # number too. "auto" is not supported: it needs history this driver lacks.
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("must be a number >= 1.0")
        try:
            ratio = float(value)
        except ValueError:
            raise ValueError("must be a number >= 1.0") from None
        if ratio < 1.0:
            raise ValueError("must be a number >= 1.0")
        return str(ratio)


class VolumeDriver(ABC):
    """One backend: a named storage location with one or more pools."""

    driver_name: ClassVar[str]
    driver_version: ClassVar[str] = "1.0.0"
    storage_protocol: ClassVar[str]
    options_model: ClassVar[type[BackendOptions]] = BackendOptions
    # Whether copies of this backend's files may share extents with their source
    # (reflinks): set by do_setup of a driver whose storage is files on a filesystem
    # that clones them. The generic copies below read it.
    reflink: bool = False

    def __init__(self, backend_name: str, options: BackendOptions) -> None:
        self.backend_name = backend_name
        self.options = options
        # Made on first export: a backend that never exports never needs tgtadm.
        self._target_helper: TargetHelper | None = None

    @abstractmethod
    def do_setup(self) -> None:
        """Prepare and check the storage (folders, volume groups, features) before any
        job runs; raise DriverConfigError when the backend cannot work."""

    @abstractmethod
    def get_volume_stats(self) -> dict[str, Any]:
        """The backend report: Cinder's get_volume_stats shape, pools included."""

    @abstractmethod
    def create_volume(self, volume: VolumeSpec) -> dict[str, Any]:
        """Create the volume (idempotent); return model updates such as provider_location."""

    @abstractmethod
    def delete_volume(self, volume: VolumeSpec) -> None:
        """Delete the volume; a volume that is already gone is not an error."""

    @abstractmethod
    def extend_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        """Grow the volume to new_size_gb; already that size is not an error."""

    def local_path(self, volume: VolumeSpec) -> Path:
        """Where the agent reads and writes the volume's bytes on this host (a file or a
        block device): what migration, backup and restore copy from and to. A driver
        whose volumes are not reachable locally keeps this refusal."""
        raise DriverError(f"the {self.driver_name} driver has no local path for volumes")

    def snapshot_local_path(self, snapshot: SnapshotSpec) -> Path:
        """Where the agent reads a snapshot's bytes on this host (a backup of the
        snapshot reads them). A driver whose snapshots are not reachable locally keeps
        this refusal."""
        raise DriverError(f"the {self.driver_name} driver has no local path for snapshots")

    def create_cloned_volume(self, volume: VolumeSpec, source: VolumeSpec) -> dict[str, Any]:
        """Create `volume` as a copy of `source`'s data, on the same pool (Cinder's
        create_cloned_volume); return model updates such as provider_location.
        Idempotent: a finished clone of the same size is not an error. A driver that
        cannot clone keeps this refusal."""
        raise DriverError(f"the {self.driver_name} driver cannot clone volumes")

    def create_volume_from_snapshot(
        self, volume: VolumeSpec, snapshot: SnapshotSpec
    ) -> dict[str, Any]:
        """Create `volume` holding `snapshot`'s data, on the pool of the snapshot's
        volume, grown to the volume's size when it is larger (Cinder's
        create_volume_from_snapshot); return model updates such as provider_location.
        Idempotent: a finished volume of the same size is not an error.

        Generic, for a driver whose volumes and snapshots are files (local paths): the
        snapshot's file copied (a reflink where `reflink`, else sparse) under a partial
        name, grown to the volume's size and linked into place, so a retry finds a
        finished volume or makes one. A driver without local paths refuses."""
        from app.drivers.copy import copy_into_place  # imported here: copy imports this

        source = self.snapshot_local_path(snapshot)
        target = self.local_path(volume)
        if not os.path.lexists(target):
            _check_source_file(source, f"snapshot {snapshot.id}", volume.size_gb)
            try:
                copied = copy_into_place(source, target, volume.size_gb * GiB, reflink=self.reflink)
            except OSError as exc:
                raise DriverError(
                    f"cannot create volume file {target.name} from snapshot {snapshot.id}: "
                    f"{exc.strerror}"
                ) from None
            if copied is not None:
                return {"provider_location": str(target)}
        check_file_size(target, volume.size_gb)  # made by an earlier (or concurrent) run
        return {"provider_location": str(target)}

    def revert_to_snapshot(self, volume: VolumeSpec, snapshot: SnapshotSpec) -> None:
        """Put `snapshot`'s data back into `volume`, of the same size (Cinder's
        revert_to_snapshot; the API allows only the volume's latest snapshot). Done
        again, it gives the same volume.

        Generic, for a driver whose volumes and snapshots are files: the volume's file
        replaced, in one rename, by a copy of the snapshot's (a reflink where `reflink`,
        else sparse), so it holds all of its old data or all of the snapshot's. A driver
        without local paths refuses."""
        from app.drivers.copy import replace_with_copy  # imported here: copy imports this

        source = self.snapshot_local_path(snapshot)
        target = self.local_path(volume)
        try:
            mode = target.lstat().st_mode
        except FileNotFoundError:
            raise DriverError(f"volume file {target.name} does not exist") from None
        if not stat.S_ISREG(mode):
            raise DriverError(f"volume {volume.id} is not a file: it cannot be replaced")
        _check_source_file(source, f"snapshot {snapshot.id}", volume.size_gb)
        try:
            replace_with_copy(source, target, volume.size_gb * GiB, reflink=self.reflink)
        except OSError as exc:
            raise DriverError(
                f"cannot revert volume file {target.name} to snapshot {snapshot.id}: {exc.strerror}"
            ) from None

    def manage_existing(
        self, volume: VolumeSpec, ref: Mapping[str, Any], *, adopt: bool = False
    ) -> dict[str, Any]:
        """Take over the storage `ref` names (Cinder's manage_existing with
        manage_existing_get_size): give it the volume's name and return
        {"size_gb": int, "provider_location": str}, the size in whole GiB rounded up.
        Idempotent: storage already taken over for this volume is not an error.
        `adopt`: the storage may carry the name this driver gives volumes (an unmanaged
        one's); the API checked that no volume has that id. Otherwise such names are
        refused, as another volume's storage.
        A driver that cannot manage existing storage keeps this refusal."""
        raise DriverError(f"the {self.driver_name} driver cannot manage existing volumes")

    def create_snapshot(self, snapshot: SnapshotSpec, volume: VolumeSpec) -> dict[str, Any]:
        """A point-in-time copy of `volume` (Cinder's create_snapshot); return model
        updates such as provider_location. Idempotent: a finished snapshot of the same
        size is not an error. A driver without snapshots keeps this refusal."""
        raise DriverError(f"the {self.driver_name} driver cannot create snapshots")

    def delete_snapshot(self, snapshot: SnapshotSpec) -> None:
        """Delete the snapshot; one that is already gone is not an error."""
        raise DriverError(f"the {self.driver_name} driver cannot delete snapshots")

    def manage_existing_snapshot(
        self,
        snapshot: SnapshotSpec,
        volume: VolumeSpec,
        ref: Mapping[str, Any],
        *,
        adopt: bool = False,
    ) -> dict[str, Any]:
        """Take over the storage `ref` names as a snapshot of `volume` (Cinder's
        manage_existing_snapshot with its get_size): return {"size_gb": int,
        "provider_location": str}, the size in whole GiB rounded up. Idempotent.
        `adopt`: as manage_existing's, for the name this driver gives snapshots."""
        raise DriverError(f"the {self.driver_name} driver cannot manage existing snapshots")

    # -- unmanage and manageable listings (app/drivers/manageable.py) --------------------

    def unmanage(self, volume: VolumeSpec) -> None:
        """Let go of the volume (Cinder's unmanage): its storage stays, under its name,
        for a later manage; only its export, if any, is removed. Idempotent."""
        if not self._has_local_path():
            return
        try:
            exported = volume.id in self.exported_volumes()
        except DriverError:
            exported = False  # the target cannot be listed (no tgtd): it holds nothing
        if exported:
            self.unexport_volume(volume)

    def unmanage_snapshot(self, snapshot: SnapshotSpec) -> None:
        """Let go of the snapshot (Cinder's unmanage_snapshot): its storage stays, and
        nothing else of it is held (snapshots are not exported)."""
        return None

    def get_manageable_volumes(self, known_ids: Collection[str]) -> list[dict[str, Any]]:
        """What the backend holds that could be managed as volumes (Cinder's
        get_manageable_volumes): one item per piece of storage, `known_ids` being the
        volumes the API knows here (app/drivers/manageable.py says the item's shape).
        A driver that cannot list its storage keeps this refusal."""
        raise DriverError(f"the {self.driver_name} driver cannot list manageable volumes")

    def get_manageable_snapshots(self, known_ids: Collection[str]) -> list[dict[str, Any]]:
        """Cinder's get_manageable_snapshots, as get_manageable_volumes."""
        raise DriverError(f"the {self.driver_name} driver cannot list manageable snapshots")

    def export_volume(self, volume: VolumeSpec, export: ExportSpec) -> dict[str, Any]:
        """Make the volume reachable exactly as `export` says (its target, LUN, CHAP
        account and initiator bindings, created or brought in line: idempotent, also the
        re-export after a restart). Returns the connection properties os-brick names:
        target_iqn, target_iqns, target_portal, target_portals, target_lun, target_luns.
        Any driver with a local path exports it through the backend's target helper; a
        driver without one refuses."""
        return self._export(self.target_iqn(volume), volume, export)

    def export_for_copy(self, volume: VolumeSpec, export: ExportSpec) -> dict[str, Any]:
        """Export the volume (read-only, as `export` says) for another agent that copies
        it: a target of its own (`copy_iqn`), never the one attachments use, so neither
        removal touches the other. Idempotent; returns what `export_volume` returns."""
        return self._export(self.copy_iqn(volume), volume, export)

    def unexport_for_copy(self, volume: VolumeSpec) -> None:
        """Remove the export `export_for_copy` made; not exported is not an error."""
        self._check_exports()
        self.target_helper().remove(self.copy_iqn(volume))

    def _export(self, iqn: str, volume: VolumeSpec, export: ExportSpec) -> dict[str, Any]:
        self._check_exports()
        lun = self.target_helper().ensure(iqn, self.local_path(volume), export)
        address = portal(self.options.target_ip_address, self.options.target_port)
        return {
            "target_iqn": iqn,
            "target_iqns": [iqn],
            "target_portal": address,
            "target_portals": [address],
            "target_lun": lun,
            "target_luns": [lun],
        }

    def extend_export(self, volume: VolumeSpec) -> None:
        """Make the volume's export serve its new size after an extend (Cinder's
        extend_target): initiators then read the new capacity. Not exported is not an
        error."""
        self._check_exports()
        self.target_helper().refresh(self.target_iqn(volume))

    def unexport_volume(self, volume: VolumeSpec) -> None:
        """Remove the volume's export (target and CHAP account), sessions or not: the API
        asks only when no attachment uses it. Not exported is not an error."""
        self._check_exports()
        self.target_helper().remove(self.target_iqn(volume))

    def exported_volumes(self) -> list[str]:
        """The ids of the volumes this backend exports now, as its target sees them:
        targets named for a volume whose LUN is this backend's path for that volume."""
        if not self._has_local_path():
            return []
        prefix = self.options.target_prefix + TARGET_NAME_PREFIX
        found = []
        for iqn, backing in self.target_helper().exports().items():
            if not iqn.startswith(prefix) or backing is None:
                continue
            try:
                volume = VolumeSpec(id=iqn.removeprefix(prefix), size_gb=0)
            except DriverError:
                continue  # not a name this service gives
            if backing == self.local_path(volume):
                found.append(volume.id)
        return sorted(found)

    def target_iqn(self, volume: VolumeSpec) -> str:
        return f"{self.options.target_prefix}{TARGET_NAME_PREFIX}{volume.id}"

    def copy_iqn(self, volume: VolumeSpec) -> str:
        """The target of a copy to another agent: named for the backend too, so two
        backends sharing a tgtd never share it (a volume is on one backend, but its
        old copy and a partial new one may both exist)."""
        backend = re.sub(r"[^a-z0-9.-]", "-", self.backend_name.lower())
        return f"{self.options.target_prefix}{COPY_TARGET_NAME_PREFIX}{backend}-{volume.id}"

    def target_helper(self) -> TargetHelper:
        if self._target_helper is None:
            # Imported here: the helpers import this module.
            from app.drivers.runner import CommandRunner
            from app.drivers.targets.registry import create_target_helper

            self._target_helper = create_target_helper(self.options, CommandRunner())
        return self._target_helper

    def _has_local_path(self) -> bool:
        return type(self).local_path is not VolumeDriver.local_path

    def _check_exports(self) -> None:
        if not self._has_local_path():
            raise DriverError(f"the {self.driver_name} driver cannot export volumes")

    def backend_stats(self, pools: list[dict[str, Any]]) -> dict[str, Any]:
        """The backend-level part of a report, shared by every driver."""
        return {
            "volume_backend_name": self.backend_name,
            "vendor_name": VENDOR_NAME,
            "driver_version": self.driver_version,
            "storage_protocol": self.storage_protocol,
            "filter_function": self.options.filter_function,
            "goodness_function": self.options.goodness_function,
            "pools": pools,
        }


def check_file_size(path: Path, size_gb: int, what: str = "volume") -> None:
    """A file made by an earlier run of a job must have the size this run would give it."""
    existing = path.stat().st_size
    if existing != size_gb * GiB:
        raise DriverError(
            f"{what} file {path.name} already exists with size "
            f"{format_gib(existing)} GiB, not {size_gb} GiB"
        )


def _check_source_file(source: Path, what: str, size_gb: int) -> None:
    """The file a copy reads exists and fits in `size_gb` GiB."""
    try:
        size = source.stat().st_size
    except FileNotFoundError:
        raise DriverError(f"{what} file {source.name} does not exist") from None
    if size > size_gb * GiB:
        raise DriverError(f"{what} is larger than the {size_gb} GiB volume")
