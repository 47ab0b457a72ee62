"""The volume driver interface the agent runs (docs/CONTRACTS.md, "Driver interface").

Drivers know nothing of the database or HTTP: the agent hands them a `VolumeSpec` built
from a job payload and posts whatever they return. Methods are synchronous because
storage tooling is (files, subprocesses); the agent calls them in a worker thread.
Every operation is idempotent so that a job retried after a lost lease is safe.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

VENDOR_NAME = "Pumice"

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

    def __init__(self, backend_name: str, options: BackendOptions) -> None:
        self.backend_name = backend_name
        self.options = options

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

    def manage_existing(self, volume: VolumeSpec, ref: Mapping[str, Any]) -> dict[str, Any]:
        """Take over the storage `ref` names (Cinder's manage_existing with
        manage_existing_get_size): give it the volume's name and return
        {"size_gb": int, "provider_location": str}, the size in whole GiB rounded up.
        Idempotent: storage already taken over for this volume is not an error.
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
        self, snapshot: SnapshotSpec, volume: VolumeSpec, ref: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Take over the storage `ref` names as a snapshot of `volume` (Cinder's
        manage_existing_snapshot with its get_size): return {"size_gb": int,
        "provider_location": str}, the size in whole GiB rounded up. Idempotent."""
        raise DriverError(f"the {self.driver_name} driver cannot manage existing snapshots")

    def export_volume(self, volume: VolumeSpec, export: ExportSpec) -> dict[str, Any]:
        """Make the volume reachable exactly as `export` says (its target, LUN, CHAP
        account and initiator bindings, created or brought in line: idempotent, also the
        re-export after a restart). Returns the connection properties os-brick names:
        target_iqn, target_iqns, target_portal, target_portals, target_lun, target_luns.
        A driver that cannot export keeps this refusal."""
        raise DriverError(f"the {self.driver_name} driver cannot export volumes")

    def unexport_volume(self, volume: VolumeSpec) -> None:
        """Remove the volume's export (target and CHAP account), sessions or not: the API
        asks only when no attachment uses it. Not exported is not an error."""
        raise DriverError(f"the {self.driver_name} driver cannot export volumes")

    def exported_volumes(self) -> list[str]:
        """The ids of the volumes this backend exports now, as its target sees them."""
        return []

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
