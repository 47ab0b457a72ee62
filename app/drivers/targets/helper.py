"""The target helper interface: a name plus the hooks that make, remove and list the
targets of volumes. Drivers use it through `VolumeDriver.export_volume`; the helper is
chosen by the backend's `target_helper` option (registry.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from app.drivers.base import BackendOptions, ExportSpec
from app.drivers.runner import CommandRunner


class TargetHelper(ABC):
    """One host's iSCSI target, as the volumes of one backend use it."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_options(cls, options: BackendOptions, runner: CommandRunner) -> TargetHelper:
        """The helper for a backend's options (its control port and the like)."""

    @abstractmethod
    def ensure(self, iqn: str, backing: Path, export: ExportSpec) -> int:
        """Make target `iqn` serve `backing` exactly as `export` says, creating it or
        bringing it in line; return the LUN number. Idempotent."""

    @abstractmethod
    def refresh(self, iqn: str) -> None:
        """Make target `iqn`'s data LUN show its backing store's size now (it grew);
        a target that does not exist is not an error."""

    @abstractmethod
    def remove(self, iqn: str) -> None:
        """Delete target `iqn` and its CHAP account, logged-in sessions or not; a target
        that does not exist is not an error."""

    @abstractmethod
    def exports(self) -> dict[str, Path | None]:
        """Every target this helper sees: IQN -> the backing store of its data LUN
        (None when it has none)."""
