"""Copying volume data between files: a reflink clone where the filesystem shares
extents, else a sparse copy that writes only the non-zero chunks (so a thin volume stays
thin) and checksums every byte it read, for callers that verify the copy."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from app.drivers.reflink import ReflinkUnsupported, clone_file

CHUNK_BYTES = 1024 * 1024
_ZEROS = bytes(CHUNK_BYTES)


@dataclass(frozen=True)
class Copied:
    size_bytes: int
    # sha256 of the source's bytes, holes read as zeros; None for a reflink clone, whose
    # extents are the source's own.
    sha256: str | None
    reflinked: bool


def sparse_copy(source: Path, target: Path) -> Copied:
    """Copy `source` into `target` (created or truncated), skipping zero chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
            if chunk == _ZEROS[: len(chunk)]:
                dst.seek(len(chunk), os.SEEK_CUR)
            else:
                dst.write(chunk)
            size += len(chunk)
        # A trailing hole is only a seek: truncate sets the length it stands for.
        dst.truncate(size)
        dst.flush()
        os.fsync(dst.fileno())
    return Copied(size, digest.hexdigest(), reflinked=False)


def copy_into(source: Path, target: Path) -> Copied:
    """Write `source`'s non-zero chunks into `target` in place. `target` must be freshly
    created (all zeros) and at least as large: its own allocation (sparse or not) stays
    as its driver made it."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, open(target, "r+b") as dst:
        if os.fstat(dst.fileno()).st_size < os.fstat(src.fileno()).st_size:
            raise ValueError(f"{target} is smaller than {source}")
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
            if chunk != _ZEROS[: len(chunk)]:
                dst.seek(size)
                dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return Copied(size, digest.hexdigest(), reflinked=False)


def checksum(path: Path, length: int | None = None) -> str:
    """sha256 of the file's bytes (its first `length` bytes, when given)."""
    digest = hashlib.sha256()
    left = length
    with open(path, "rb") as src:
        while left is None or left > 0:
            chunk = src.read(CHUNK_BYTES if left is None else min(CHUNK_BYTES, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest.hexdigest()


def copy_file(source: Path, target: Path, *, reflink: bool) -> Copied:
    """A reflink clone when `reflink` (the folder supports it), else a sparse copy.
    `target` must not exist."""
    if reflink:
        try:
            clone_file(source, target)
            return Copied(source.stat().st_size, None, reflinked=True)
        except ReflinkUnsupported:
            pass
    return sparse_copy(source, target)
