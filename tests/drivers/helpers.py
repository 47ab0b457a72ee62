"""Builders shared by the driver tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.drivers import create_driver
from app.drivers.file import FileDriver


def make_driver(folder: Path, **options: Any) -> FileDriver:
    driver = create_driver("file1", "file", {"path": str(folder), **options})
    assert isinstance(driver, FileDriver)
    driver.do_setup()
    return driver
