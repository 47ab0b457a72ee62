"""Drivers by name, as the agent config's `driver = "..."` names them.

Entries are import paths so a driver's module (and the tools it expects) is loaded only
when a backend uses it: an agent with only file backends never imports LVM code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from app.drivers.base import BackendOptions, DriverConfigError, VolumeDriver

_DRIVERS: dict[str, str | type[VolumeDriver]] = {
    "file": "app.drivers.file:FileDriver",
    "lvm": "app.drivers.lvm.driver:LvmDriver",
}


def register_driver(name: str, driver: str | type[VolumeDriver]) -> None:
    """Add (or replace) a driver: a class or a "module:Class" import path."""
    _DRIVERS[name] = driver


def available_drivers() -> list[str]:
    return sorted(_DRIVERS)


def driver_class(name: str) -> type[VolumeDriver]:
    try:
        entry = _DRIVERS[name]
    except KeyError:
        known = ", ".join(available_drivers())
        raise DriverConfigError(f"unknown driver {name!r} (known: {known})") from None
    if isinstance(entry, str):
        module_name, _, class_name = entry.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(cls, type) and issubclass(cls, VolumeDriver)):
            raise DriverConfigError(f"driver {name!r} ({entry}) is not a VolumeDriver")
        return cls
    return entry


def parse_options(driver: str, options: Mapping[str, Any]) -> BackendOptions:
    """Validate a backend's options for `driver`; errors name every bad option."""
    model = driver_class(driver).options_model
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        raise DriverConfigError(describe_validation_error(exc)) from None


def create_driver(backend_name: str, driver: str, options: Mapping[str, Any]) -> VolumeDriver:
    """A driver instance for one backend; call its do_setup() before use."""
    return driver_class(driver)(backend_name, parse_options(driver, options))


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's errors as one line an operator reads: "path: Field required; ..."."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "value"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown option"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
