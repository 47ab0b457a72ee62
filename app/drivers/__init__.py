"""Storage drivers run by the agent: the interface, the drivers and their command runner."""

from app.drivers.base import (
    BackendOptions,
    DriverConfigError,
    DriverError,
    ExportSpec,
    SnapshotSpec,
    VolumeDriver,
    VolumeSpec,
)
from app.drivers.registry import (
    available_drivers,
    create_driver,
    driver_class,
    parse_options,
    register_driver,
)

__all__ = [
    "BackendOptions",
    "DriverConfigError",
    "DriverError",
    "ExportSpec",
    "SnapshotSpec",
    "VolumeDriver",
    "VolumeSpec",
    "available_drivers",
    "create_driver",
    "driver_class",
    "parse_options",
    "register_driver",
]
