"""Copying a volume between two file backends of one agent: byte-identical, verified,
holes kept, safe to retry, and never destructive when two backends share a folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.drivers import DriverError, VolumeSpec, create_driver
from app.drivers.copy import checksum
from app.drivers.file import FileDriver
from app.drivers.migration import delete_copy, migrate_volume
from app.drivers.sizes import GiB

VOLUME_ID = "0b5d9b3e-2a47-4c1e-9a0b-5d4f1f2f7c10"


def make(folder: Path, name: str, **options: Any) -> FileDriver:
    driver = create_driver(name, "file", {"path": str(folder), **options})
    assert isinstance(driver, FileDriver)
    driver.do_setup()
    return driver


def spec(host: str) -> VolumeSpec:
    return VolumeSpec(id=VOLUME_ID, size_gb=1, host=f"{host}#pool", pool="pool")


def fill(path: Path) -> str:
    """Random data at the start and in the middle of a 1 GiB volume; the rest holes."""
    with open(path, "r+b") as f:
        f.write(os.urandom(3 * 1024 * 1024))
        f.seek(GiB // 2 + 4097)
        f.write(os.urandom(100_000))
    return checksum(path)


def test_migrate_copies_verifies_and_keeps_the_source(tmp_path: Path) -> None:
    a, b = make(tmp_path / "a", "a"), make(tmp_path / "b", "b")
    source, target = spec("n1@a"), spec("n1@b")
    a.create_volume(source)
    digest = fill(a.local_path(source))

    result = migrate_volume(a, source, b, target)
    assert result["sha256"] == digest and result["bytes"] == GiB
    assert result["provider_location"] == str(b.local_path(target))
    copy = b.local_path(target)
    assert checksum(copy) == digest
    assert copy.stat().st_blocks * 512 < 16 * 1024 * 1024  # still thin
    assert a.local_path(source).exists()  # the source goes only when the API says so

    # A retry after a partial copy (garbage where the source has holes) starts over.
    with open(copy, "r+b") as f:
        f.seek(GiB - 10)
        f.write(b"leftover!!")
    assert migrate_volume(a, source, b, target)["sha256"] == digest
    assert checksum(copy) == digest

    delete_copy(a, source, b, target)
    assert not a.local_path(source).exists() and copy.exists()
    delete_copy(a, source, b, target)  # already gone: fine


def test_a_missing_source_fails_without_touching_the_target(tmp_path: Path) -> None:
    a, b = make(tmp_path / "a", "a"), make(tmp_path / "b", "b")
    with pytest.raises(DriverError, match="missing"):
        migrate_volume(a, spec("n1@a"), b, spec("n1@b"))
    assert not b.local_path(spec("n1@b")).exists()


def test_backends_sharing_a_folder_never_delete_the_source(tmp_path: Path) -> None:
    a, b = make(tmp_path / "same", "a"), make(tmp_path / "same", "b")
    source, target = spec("n1@a"), spec("n1@b")
    a.create_volume(source)
    digest = fill(a.local_path(source))
    with pytest.raises(DriverError, match="same place"):
        migrate_volume(a, source, b, target)
    with pytest.raises(DriverError, match="same place"):
        delete_copy(b, target, a, source)
    assert checksum(a.local_path(source)) == digest


def test_the_agent_removes_a_failed_placements_leftover(tmp_path: Path) -> None:
    from app.agent.jobs import JOB_KINDS

    a = make(tmp_path / "a", "a")
    leftover = spec("n1@a")
    a.create_volume(leftover)
    removal = JOB_KINDS[("delete_volume_copy", 1)]
    volume = {"id": VOLUME_ID, "size_gb": 1, "host": "n1@a#pool", "pool": "pool"}
    assert removal.run(a, {"volume": volume, "keep": None}, {"n1@a": a}) == {}
    assert not a.local_path(leftover).exists()
    assert removal.run(a, {"volume": volume, "keep": None}, {"n1@a": a}) == {}  # idempotent
