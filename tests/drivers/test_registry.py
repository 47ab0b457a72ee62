from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.drivers import (
    DriverConfigError,
    VolumeSpec,
    available_drivers,
    create_driver,
    driver_class,
    parse_options,
    register_driver,
)
from app.drivers.file import FileDriver, FileDriverOptions


def test_the_file_driver_is_registered() -> None:
    assert "file" in available_drivers()
    assert driver_class("file") is FileDriver


def test_unknown_driver_names_the_known_ones() -> None:
    with pytest.raises(DriverConfigError, match=r"unknown driver 'nfs' \(known: .*file"):
        driver_class("nfs")


def test_options_are_validated_with_readable_errors() -> None:
    with pytest.raises(DriverConfigError) as info:
        parse_options("file", {"capacity_gb": -1, "pth": "/x"})
    message = info.value.message
    assert "path: Field required" in message
    assert "capacity_gb: Input should be greater than 0" in message
    assert "pth: unknown option" in message


def test_ratio_is_a_string_at_least_one() -> None:
    options = parse_options("file", {"path": "/x", "max_over_subscription_ratio": 2})
    assert isinstance(options, FileDriverOptions)
    assert options.max_over_subscription_ratio == "2.0"
    with pytest.raises(DriverConfigError, match="max_over_subscription_ratio"):
        parse_options("file", {"path": "/x", "max_over_subscription_ratio": "0.5"})
    with pytest.raises(DriverConfigError, match="max_over_subscription_ratio"):
        parse_options("file", {"path": "/x", "max_over_subscription_ratio": "auto"})


def test_register_a_driver_class_or_import_path(tmp_path: Path) -> None:
    class QuietFileDriver(FileDriver):
        driver_name = "quiet"

    register_driver("quiet", QuietFileDriver)
    register_driver("file-by-path", "app.drivers.file:FileDriver")
    try:
        driver = create_driver("b1", "quiet", {"path": str(tmp_path)})
        assert isinstance(driver, QuietFileDriver)
        assert driver_class("file-by-path") is FileDriver
        driver.do_setup()
        result: dict[str, Any] = driver.create_volume(VolumeSpec(id="v1", size_gb=1))
        assert result["provider_location"].endswith("volume-v1")
    finally:
        from app.drivers import registry

        registry._DRIVERS.pop("quiet")
        registry._DRIVERS.pop("file-by-path")


def test_an_import_path_must_name_a_driver() -> None:
    register_driver("bogus", "app.drivers.base:VolumeSpec")
    try:
        with pytest.raises(DriverConfigError, match="not a VolumeDriver"):
            driver_class("bogus")
    finally:
        from app.drivers import registry

        registry._DRIVERS.pop("bogus")
