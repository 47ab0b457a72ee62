"""Copies into and out of block devices (an LVM volume is one): the size comes from the
device, not fstat (0 for a device), and a device target gets every byte written, zeros
included, since it may hold an older volume's data. Loop devices stand in for LVs
(needs root and losetup; required in CI)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.drivers.copy import CHUNK_BYTES, checksum, copy_into
from tests.conftest import need

SIZE = 8 * CHUNK_BYTES


def _source_bytes() -> bytes:
    # Data, a zero chunk, data at an unaligned offset, zeros to the end.
    data = bytearray(SIZE)
    data[:CHUNK_BYTES] = os.urandom(CHUNK_BYTES)
    data[3 * CHUNK_BYTES + 123 : 3 * CHUNK_BYTES + 6123] = b"pumice" * 1000
    return bytes(data)


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[Callable[[bytes], Path]]:
    """Make a loop device holding the given bytes."""
    need(os.geteuid() == 0 and bool(shutil.which("losetup")), "root with losetup")
    devices: list[str] = []

    def make(content: bytes) -> Path:
        image = tmp_path / f"image{len(devices)}"
        image.write_bytes(content)
        device = subprocess.run(
            ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
        ).stdout.strip()
        devices.append(device)
        return Path(device)

    yield make
    for device in devices:
        subprocess.run(["losetup", "-d", device], capture_output=True)


def _read(device: Path) -> bytes:
    with open(device, "rb") as f:
        return f.read()


def test_a_device_to_a_device_that_held_other_data_is_byte_identical(
    loop_device: Callable[[bytes], Path],
) -> None:
    data = _source_bytes()
    source = loop_device(data)
    # A thick LV reused from a deleted volume: old data everywhere, and a larger device.
    target = loop_device(os.urandom(SIZE + 2 * CHUNK_BYTES))
    copied = copy_into(source, target)
    assert copied.size_bytes == SIZE
    assert copied.sha256 == hashlib.sha256(data).hexdigest() == checksum(target, SIZE)
    assert _read(target) == data + bytes(2 * CHUNK_BYTES)


def test_a_file_with_holes_to_a_device_writes_the_holes_as_zeros(
    tmp_path: Path, loop_device: Callable[[bytes], Path]
) -> None:
    source = tmp_path / "volume"
    with open(source, "wb") as f:
        f.write(os.urandom(CHUNK_BYTES))
        f.truncate(SIZE)  # the rest is a hole
    target = loop_device(os.urandom(SIZE))
    copied = copy_into(source, target)
    assert _read(target) == source.read_bytes()
    assert copied.sha256 == checksum(source)


def test_a_device_to_a_fresh_file_copies_its_data(
    tmp_path: Path, loop_device: Callable[[bytes], Path]
) -> None:
    data = _source_bytes()
    source = loop_device(data)
    target = tmp_path / "copy"
    with open(target, "wb") as f:
        f.truncate(SIZE)
    copied = copy_into(source, target)
    assert copied.size_bytes == SIZE
    assert target.read_bytes() == data
    assert copied.sha256 == hashlib.sha256(data).hexdigest()


def test_a_device_smaller_than_the_source_is_refused(
    tmp_path: Path, loop_device: Callable[[bytes], Path]
) -> None:
    source = tmp_path / "volume"
    source.write_bytes(os.urandom(2 * CHUNK_BYTES))
    target = loop_device(bytes(CHUNK_BYTES))
    with pytest.raises(ValueError, match="smaller"):
        copy_into(source, target)
