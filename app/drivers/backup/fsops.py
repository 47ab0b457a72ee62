"""What the backup repository does with files: below the configured root nothing is
reached through a symbolic link (every folder and file is opened relative to its
parent's descriptor with O_NOFOLLOW), folders are 0700 and files 0600, and a volume's
bytes are read and written sparse (holes found with SEEK_DATA/SEEK_HOLE are never read,
runs of zeros are never written to a file)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import stat
from collections.abc import Iterator

from app.drivers.base import DriverError

MiB = 1024 * 1024
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
# Containers, backup ids and object names become file names: never a separator or "..".
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


class BackupCorrupt(DriverError):
    """A backup's manifest or objects do not match their checksums (or are missing)."""


def safe_name(value: str, what: str) -> str:
    if not _SAFE_NAME.match(value) or ".." in value:
        raise DriverError(
            f"invalid {what} {value!r}: letters, digits, '.', '_' and '-' only "
            "(starting with a letter or digit)"
        )
    return value


@contextlib.contextmanager
def opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def make_dir(parent: int, name: str, *, what: str) -> int:
    """The folder `name` in `parent`, made 0700 unless it exists; DriverError when it is
    a link or not a folder."""
    try:
        os.mkdir(name, PRIVATE_DIR, dir_fd=parent)
    except FileExistsError:
        made = False
    else:
        made = True
    fd = open_dir(parent, name, what=what)
    if fd is None:
        raise FileNotFoundError(errno.ENOENT, f"{what} {name} vanished")
    if made:
        os.fchmod(fd, PRIVATE_DIR)  # the umask may have taken bits we asked for
    return fd


def open_dir(parent: int, name: str, *, what: str) -> int | None:
    """The folder `name` in `parent`, None when it does not exist; DriverError when it
    is a link or not a folder."""
    try:
        fd = os.open(name, _DIR, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise DriverError(
                f"{what} {name!r} is a symbolic link or not a folder: refusing to use it "
                "(nothing is written, read or deleted outside the backup repository)"
            ) from None
        raise
    return fd


def open_up(fd: int) -> int:
    """The folder holding the folder `fd` (its real parent: ".." is never a link)."""
    return os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)


def create_file(folder: int, name: str) -> int:
    fd = os.open(
        name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE, dir_fd=folder
    )
    os.fchmod(fd, PRIVATE_FILE)
    return fd


def write_file(folder: int, name: str, body: bytes | bytearray | memoryview) -> None:
    """A new file `name` in `folder` holding `body`, on disk when this returns."""
    with opened(create_file(folder, name)) as fd:
        write_all(fd, body)
        os.fsync(fd)


def write_all(fd: int, body: bytes | bytearray | memoryview, offset: int | None = None) -> None:
    view = memoryview(body)
    done = 0
    while done < len(view):
        part = view[done:]
        done += os.write(fd, part) if offset is None else os.pwrite(fd, part, offset + done)


def read_file(folder: int, name: str) -> bytes:
    """The bytes of the regular file `name` in `folder`; a link is refused (BackupCorrupt)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BackupCorrupt(
                f"{name} is a symbolic link: refusing to read outside the backup"
            ) from None
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BackupCorrupt(f"{name} is not a regular file")
        return handle.read()


def regular_size(folder: int, name: str) -> int | None:
    """The size of the regular file `name` in `folder`; None when it is missing, a link
    or anything but a regular file."""
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def remove_tree(parent: int, name: str) -> None:
    """Remove the folder `name` in `parent` and everything in it; links inside are
    removed, never followed, and a link in its place is refused."""
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        raise DriverError(
            f"backup folder {name!r} is a symbolic link or not a folder: refusing to delete "
            "through it (nothing outside the backup repository is removed)"
        )
    try:
        # On Linux rmtree works on descriptors and never follows a link
        # (shutil.rmtree.avoids_symlink_attacks).
        shutil.rmtree(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def tighten(fd: int) -> bool:
    """Take group and other permissions off a folder of ours; True when it had some."""
    info = os.fstat(fd)
    if not info.st_mode & 0o077 or info.st_uid != os.geteuid():
        return False
    os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077)
    return True


# --- sparse reads and writes ------------------------------------------------------------


def read_data(fd: int, offset: int, buffer: bytearray) -> bool:
    """Fill `buffer` with the volume's bytes at `offset`, reading only its data extents
    (the holes between them are zeroed); False, and the buffer untouched, when the whole
    range is a hole. Where the filesystem cannot tell (a block device, an old NFS) every
    byte is read. The buffer is the caller's to reuse: allocating a fresh one per chunk
    would zero it with the GIL held."""
    end = offset + len(buffer)
    try:
        start = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no data after offset at all
            return False
        if exc.errno != errno.EINVAL:  # EINVAL: SEEK_DATA not supported here
            raise
        start, sparse = offset, False
    else:
        sparse = True
    if start >= end:
        return False
    view = memoryview(buffer)
    filled = offset  # every byte before it is in the buffer
    while start < end:
        _zero(view, filled - offset, start - offset)
        stop = min(os.lseek(fd, start, os.SEEK_HOLE), end) if sparse else end
        _read_into(fd, view[start - offset : stop - offset], start)
        filled = start = stop
        if stop >= end:
            break
        try:
            start = os.lseek(fd, stop, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            start = end
    _zero(view, filled - offset, end - offset)
    return True


def _zero(view: memoryview, start: int, stop: int) -> None:
    for at in range(start, stop, MiB):
        size = min(MiB, stop - at)
        view[at : at + size] = _ZEROS[:size]


def _read_into(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise DriverError(f"short read of the volume at offset {offset + done}")
        done += got


_ZEROS = bytes(MiB)
# Runs of zeros at least this long are left as holes when restoring into a file.
SPARSE_BLOCK = 128 * 1024


def is_zero(data: bytes | bytearray) -> bool:
    return all(_zero_at(data, start, MiB) for start in range(0, len(data), MiB))


def _zero_at(data: bytes | bytearray, start: int, block: int) -> bool:
    """Whether data[start:start + block] is all zeros (startswith compares in place,
    with memcmp: no copy, unlike a slice, and no per-item loop, unlike a memoryview)."""
    return data.startswith(_ZEROS[: min(block, len(data) - start)], start)


def write_sparse(fd: int, data: bytes | bytearray, offset: int, *, holes: bool = True) -> None:
    """Write `data` at `offset` without writing its runs of zeros: into a file whose
    range is a hole already (`holes`), they are skipped; into a block device, they are
    zeroed with `zero_range` (discarded where the device can)."""
    view = memoryview(data)
    run = None  # start of the pending run of non-zero blocks
    zeros = None  # start of the pending run of zero blocks (block devices)
    for start in range(0, len(data), SPARSE_BLOCK):
        if _zero_at(data, start, SPARSE_BLOCK):
            if run is not None:
                write_all(fd, view[run:start], offset + run)
                run = None
            if zeros is None:
                zeros = start
        else:
            if zeros is not None and not holes:
                zero_range(fd, offset + zeros, start - zeros)
            zeros = None
            if run is None:
                run = start
    if run is not None:
        write_all(fd, view[run:], offset + run)
    if zeros is not None and not holes:
        zero_range(fd, offset + zeros, len(data) - zeros)


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02


def zero_range(fd: int, offset: int, length: int) -> None:
    """Make [offset, offset + length) of a block device read as zeros: discarded when the
    device guarantees discarded blocks read as zeros (fallocate PUNCH_HOLE, as a loop
    device or a thin LV does), written with zeros otherwise."""
    if _libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0:
        return
    for at in range(offset, offset + length, MiB):
        write_all(fd, _ZEROS[: min(MiB, offset + length - at)], at)
