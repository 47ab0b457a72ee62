"""Copying volume data between files and block devices: a reflink clone where the
filesystem shares extents, else a sparse copy that writes only the non-zero chunks (so a
thin volume stays thin) and, for callers that verify the copy, checksums every byte
(holes as zeros). Sizes are read with lseek(SEEK_END): fstat gives 0 for a block device
(an LVM volume)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app.drivers.reflink import ReflinkUnsupported, clone_file

CHUNK_BYTES = 1024 * 1024
# A file being made is written under this hidden name beside its final one and linked
# (or renamed) into place when complete, so a crash never leaves a half-made file that a
# retry would take for a finished one. A driver removes leftovers at its setup.
PARTIAL_PREFIX = ".partial-"
_ZEROS = bytes(CHUNK_BYTES)


@dataclass(frozen=True)
class Copied:
    size_bytes: int
    # sha256 of the source's bytes, holes read as zeros; None for a reflink clone, whose
    # extents are the source's own.
    sha256: str | None
    reflinked: bool


def sparse_copy(source: Path, target: Path, *, digest: bool = True) -> Copied:
    """Copy `source` into `target` (created or truncated), skipping holes and zero
    chunks. `digest`: also hash every byte (holes as zeros), for a caller that verifies."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = _size(src)
        # Holes are never written: truncate gives the target its full length first.
        dst.truncate(size)
        sha = _copy_data(src, dst, size, hashlib.sha256() if digest else None)
        dst.flush()
        os.fsync(dst.fileno())
    return Copied(size, sha, reflinked=False)


def copy_into(source: Path, target: Path) -> Copied:
    """Write `source`'s data into `target` in place, hashing every byte. `target` must be
    at least as large. A file target must be freshly created (all zeros): zero chunks are
    skipped, so its allocation (sparse or not) stays as its driver made it. A block
    device target (a thick LV may hold an older volume's data) gets every byte written,
    zeros included, and is zeroed past the source's end."""
    with open(source, "rb") as src, open(target, "r+b") as dst:
        size, room = _size(src), _size(dst)
        if room < size:
            raise ValueError(f"{target} is smaller than {source}")
        dense = stat.S_ISBLK(os.fstat(dst.fileno()).st_mode)
        sha = _copy_data(src, dst, size, hashlib.sha256(), dense=dense)
        if dense:
            _write_zeros(dst, size, room - size)
        dst.flush()
        os.fsync(dst.fileno())
    return Copied(size, sha, reflinked=False)


def _size(f: BinaryIO) -> int:
    """The length of a file or a block device."""
    size = os.lseek(f.fileno(), 0, os.SEEK_END)
    f.seek(0)
    return size


def _write_zeros(dst: BinaryIO, offset: int, count: int) -> None:
    dst.seek(offset)
    while count > 0:
        step = min(CHUNK_BYTES, count)
        dst.write(_ZEROS[:step])
        count -= step


def _copy_data(
    src: BinaryIO, dst: BinaryIO, size: int, digest: Any | None, *, dense: bool = False
) -> str | None:
    """Copy the non-zero chunks of the data regions (`dense`: every byte, holes and
    zero chunks written as zeros); feed the digest every byte."""
    done = 0
    for offset, length in _data_regions(src.fileno(), size):
        gap = offset - done
        if digest is not None:
            _hash_zeros(digest, gap)
        if dense:
            _write_zeros(dst, done, gap)
        src.seek(offset)
        left = length
        while left > 0 and (chunk := src.read(min(CHUNK_BYTES, left))):
            if digest is not None:
                digest.update(chunk)
            if dense or chunk != _ZEROS[: len(chunk)]:
                dst.seek(offset + length - left)
                dst.write(chunk)
            left -= len(chunk)
        done = offset + length
    if dense:
        _write_zeros(dst, done, size - done)
    if digest is None:
        return None
    _hash_zeros(digest, size - done)
    return str(digest.hexdigest())


def _data_regions(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of the parts of the file that may hold data, holes left out
    (SEEK_DATA/SEEK_HOLE); the whole file where the filesystem cannot tell."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole from here on
                return
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield offset, size - offset
                return
            raise
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        if end <= start:
            return
        yield start, end - start
        offset = end


def _hash_zeros(digest: Any, count: int) -> None:
    while count > 0:
        step = min(CHUNK_BYTES, count)
        digest.update(_ZEROS[:step])
        count -= step


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
    return sparse_copy(source, target, digest=False)


def _partial_of(path: Path) -> Path:
    return path.with_name(f"{PARTIAL_PREFIX}{path.name}-{uuid.uuid4().hex}")


def _copy_as_partial(
    source: Path, partial: Path, size_bytes: int, *, reflink: bool, mode: int
) -> Copied:
    copied = copy_file(source, partial, reflink=reflink)
    # A larger target reads zeros past the source's end; a smaller one is cut to it.
    os.truncate(partial, size_bytes)
    os.chmod(partial, mode)
    return copied


def copy_into_place(
    source: Path, path: Path, size_bytes: int, *, reflink: bool, mode: int = 0o600
) -> Copied | None:
    """Make `path` a copy of `source` (a reflink clone when `reflink`, else sparse) of
    exactly `size_bytes`, under a partial name linked into place: link() never replaces
    a file, so None when `path` exists already (a retry, or a concurrent run: the caller
    checks what is there). OSError when the copy cannot be made."""
    partial = _partial_of(path)
    try:
        copied = _copy_as_partial(source, partial, size_bytes, reflink=reflink, mode=mode)
        os.link(partial, path)
    except FileExistsError:
        return None
    finally:
        partial.unlink(missing_ok=True)
    return copied


def replace_with_copy(
    source: Path, path: Path, size_bytes: int, *, reflink: bool, mode: int = 0o600
) -> Copied:
    """Replace `path` with a copy of `source` of `size_bytes` in one rename, so `path`
    holds either its old data or all of the new, never a mix (a revert to a snapshot);
    done again after a crash, it gives the same result."""
    partial = _partial_of(path)
    try:
        copied = _copy_as_partial(source, partial, size_bytes, reflink=reflink, mode=mode)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return copied
