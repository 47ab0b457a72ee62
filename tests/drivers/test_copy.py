"""Sparse copies keep holes and checksum every byte; a reflink request on a filesystem
without reflinks falls back to the sparse copy."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from app.drivers.copy import CHUNK_BYTES, checksum, copy_file, sparse_copy


def _volume(path: Path) -> bytes:
    # 8 chunks: data, hole, data at an unaligned offset, trailing hole.
    with open(path, "wb") as f:
        f.write(os.urandom(CHUNK_BYTES))
        f.seek(3 * CHUNK_BYTES + 123)
        f.write(b"pumice" * 1000)
        f.truncate(8 * CHUNK_BYTES)
    return path.read_bytes()


def test_sparse_copy_is_byte_identical_keeps_holes_and_checksums(tmp_path: Path) -> None:
    data = _volume(tmp_path / "src")
    copied = sparse_copy(tmp_path / "src", tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == data
    assert copied.size_bytes == len(data)
    assert copied.sha256 == hashlib.sha256(data).hexdigest() == checksum(tmp_path / "dst")
    # Only the two data chunks take blocks (filesystems allocate in their own units).
    assert os.stat(tmp_path / "dst").st_blocks * 512 <= 3 * CHUNK_BYTES


def test_copy_file_without_reflink_support_falls_back(tmp_path: Path) -> None:
    data = _volume(tmp_path / "src")
    copied = copy_file(tmp_path / "src", tmp_path / "dst", reflink=False)
    assert not copied.reflinked
    assert (tmp_path / "dst").read_bytes() == data


def test_copies_without_a_digest_skip_holes_and_match(tmp_path: Path) -> None:
    data = _volume(tmp_path / "src")
    copied = sparse_copy(tmp_path / "src", tmp_path / "dst", digest=False)
    assert copied.sha256 is None and copied.size_bytes == len(data)
    assert (tmp_path / "dst").read_bytes() == data


def test_an_empty_or_all_hole_file_copies(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert sparse_copy(tmp_path / "empty", tmp_path / "e2").sha256 == hashlib.sha256().hexdigest()
    with open(tmp_path / "holes", "wb") as f:
        f.truncate(5 * CHUNK_BYTES + 7)
    copied = sparse_copy(tmp_path / "holes", tmp_path / "h2")
    assert copied.sha256 == hashlib.sha256(bytes(5 * CHUNK_BYTES + 7)).hexdigest()
    assert (tmp_path / "h2").stat().st_size == 5 * CHUNK_BYTES + 7
    assert (tmp_path / "h2").stat().st_blocks == 0
