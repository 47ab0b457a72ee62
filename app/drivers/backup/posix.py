"""A chunked backup repository on a POSIX folder (an NFS mount in production).

A backup is a folder `<repository>/<container>/<backup_id>/` holding one object per
stored chunk of the volume and a `manifest.json` that lists every chunk (docs/CONTRACTS.md,
"Backups", is the layout for someone restoring by hand):
- the volume is read in chunks of `chunk_bytes`; a chunk of zeros is not stored (a hole);
- every stored chunk is compressed (zstd, or not at all) into `chunk-<index>[.zst]`, and
  the manifest keeps the sha256 of the chunk's bytes and of the object as written;
- the manifest is written last (temp file, fsync, rename, fsync of the folder), so a
  backup that was interrupted has no manifest and is known to be incomplete.

Creating is idempotent: a retry removes whatever an earlier attempt left and starts over.
Restoring verifies every checksum before it trusts a byte.

The repository is its owner's: folders 0700 and files 0600 whatever the umask. Below the
configured root nothing is reached through a symbolic link: every folder and file is
opened relative to its parent's descriptor with O_NOFOLLOW, so a container, backup
folder or object that is a link (to somewhere outside) is refused, never written,
read or deleted through; deleting removes a link inside a backup, not its target.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog
import zstandard

from app.drivers.base import DriverConfigError, DriverError

log = structlog.get_logger(__name__)

FORMAT = "pumice-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DEFAULT_CONTAINER = "volumebackups"
MiB = 1024 * 1024
# zstd level 3 is zstd's own default: fast enough to keep up with a disk.
ZSTD_LEVEL = 3
# Containers and backup ids become folder names: never a separator or "..".
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW

Compression = Literal["zstd", "none"]
Progress = Callable[[int], None]


class BackupCorrupt(DriverError):
    """A backup's manifest or objects do not match their checksums (or are missing)."""


def safe_name(value: str, what: str) -> str:
    if not _SAFE_NAME.match(value) or ".." in value:
        raise DriverError(
            f"invalid {what} {value!r}: letters, digits, '.', '_' and '-' only "
            "(starting with a letter or digit)"
        )
    return value


@dataclass(frozen=True)
class PosixBackupRepository:
    root: Path
    compression: Compression = "zstd"
    chunk_bytes: int = 32 * MiB

    @property
    def location(self) -> str:
        """How the API names this repository ("posix:<absolute path>")."""
        return f"posix:{self.root}"

    def do_setup(self) -> None:
        """Create the repository folder (0700; an existing one of ours is tightened) and
        prove it is writable."""
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.root, PRIVATE_DIR)
            with _opened(os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)) as root:
                if _tighten(root):
                    log.warning("backup repository made private (0700)", repository=str(self.root))
                probe = f".probe-{os.getpid()}"
                os.close(_create_file(root, probe))
                os.unlink(probe, dir_fd=root)
        except OSError as exc:
            raise DriverConfigError(
                f"backup repository {self.root} is not usable: {exc.strerror or exc}"
            ) from None

    def backup_dir(self, backup_id: str, container: str | None) -> Path:
        return (
            self.root
            / safe_name(container or DEFAULT_CONTAINER, "container")
            / safe_name(backup_id, "backup id")
        )

    @contextlib.contextmanager
    def _container(self, container: str | None, *, create: bool) -> Iterator[int | None]:
        """The container folder's descriptor (None: it does not exist and `create` is
        false). The root may be a link (the operator's choice); the container may not."""
        name = safe_name(container or DEFAULT_CONTAINER, "container")
        with _opened(os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)) as root:
            fd = (
                _make_dir(root, name, what="container")
                if create
                else _open_dir(root, name, what="container")
            )
        if fd is None:
            yield None
            return
        with _opened(fd):
            _tighten(fd)  # a container made by an older version
            yield fd

    def create_backup(
        self,
        backup_id: str,
        source: Path,
        *,
        container: str | None = None,
        volume_id: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Back up `source` (a volume file or block device) as `backup_id`."""
        name = self.backup_dir(backup_id, container).name
        try:
            with self._container(container, create=True) as parent:
                assert parent is not None
                # A retry starts from nothing: objects of an earlier attempt may be partial.
                _remove(parent, name)
                try:
                    with _opened(_make_dir(parent, name, what="backup folder")) as fd:
                        manifest = self._write_objects(fd, backup_id, source, volume_id, progress)
                        _write_manifest(fd, manifest)
                except (DriverError, OSError):
                    _remove(parent, name)
                    raise
        except OSError as exc:
            raise DriverError(f"backup of {source.name} failed: {exc.strerror or exc}") from None
        return {
            "object_count": manifest["object_count"],
            "size_bytes": manifest["size_bytes"],
            "stored_bytes": sum(c.get("object_bytes", 0) for c in manifest["chunks"]),
            "sha256": manifest["sha256"],
        }

    def delete_backup(self, backup_id: str, container: str | None = None) -> None:
        """Remove the backup's folder; a backup that is already gone is not an error."""
        name = self.backup_dir(backup_id, container).name
        try:
            with self._container(container, create=False) as parent:
                if parent is not None:
                    _remove(parent, name)
        except OSError as exc:
            raise DriverError(f"cannot delete backup {backup_id}: {exc.strerror or exc}") from None

    def restore(
        self,
        backup_id: str,
        target: Path,
        *,
        container: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        folder = self.backup_dir(backup_id, container)
        with self._container(container, create=False) as parent:
            fd = None if parent is None else _open_dir(parent, folder.name, what="backup folder")
        if fd is None:
            raise _no_manifest(folder.name)
        with _opened(fd):
            return _restore(fd, folder.name, target, progress)

    def _write_objects(
        self,
        folder: int,
        backup_id: str,
        source: Path,
        volume_id: str | None,
        progress: Progress | None,
    ) -> dict[str, Any]:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
        whole = hashlib.sha256()
        chunks: list[dict[str, Any]] = []
        try:
            fd = os.open(source, os.O_RDONLY)
        except FileNotFoundError:
            raise DriverError(f"volume data {source} does not exist") from None
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            for index, offset in enumerate(range(0, size, self.chunk_bytes)):
                length = min(self.chunk_bytes, size - offset)
                data = None if _hole_at(fd, offset, length) else os.pread(fd, length, offset)
                if data is not None and len(data) != length:
                    raise DriverError(f"short read of {source} at offset {offset}")
                if data is None or _is_zero(data):
                    whole.update(bytes(length))
                    chunks.append({"index": index, "offset": offset, "length": length})
                    chunks[-1]["hole"] = True
                else:
                    whole.update(data)
                    chunks.append(self._store(folder, index, offset, data, compressor))
                if progress is not None:
                    progress(int(100 * (offset + length) / size))
        finally:
            os.close(fd)
        os.fsync(folder)
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "backup_id": backup_id,
            "volume_id": volume_id,
            "created_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "size_bytes": size,
            "chunk_bytes": self.chunk_bytes,
            "compression": self.compression,
            "sha256": whole.hexdigest(),
            "object_count": sum(1 for c in chunks if not c.get("hole")),
            "chunks": chunks,
        }

    def _store(
        self,
        folder: int,
        index: int,
        offset: int,
        data: bytes,
        compressor: zstandard.ZstdCompressor,
    ) -> dict[str, Any]:
        body = compressor.compress(data) if self.compression == "zstd" else data
        name = f"chunk-{index:08d}" + (".zst" if self.compression == "zstd" else "")
        with os.fdopen(_create_file(folder, name), "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        return {
            "index": index,
            "offset": offset,
            "length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "object": name,
            "object_bytes": len(body),
            "object_sha256": hashlib.sha256(body).hexdigest(),
        }


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise _no_manifest(folder.name) from None
    with _opened(fd):
        return _read_manifest(fd, folder.name)


def restore(folder: Path, target: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write the backup in `folder` into `target` (a file, created or overwritten and left
    sparse, or a block device of at least the volume's size), verifying every checksum:
    each object's, each chunk's and the whole volume's. Raises BackupCorrupt on any
    mismatch, and on a manifest or object that is a symbolic link."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise _no_manifest(folder.name) from None
    with _opened(fd):
        return _restore(fd, folder.name, target, progress)


def _restore(folder: int, label: str, target: Path, progress: Progress | None) -> dict[str, Any]:
    manifest = _read_manifest(folder, label)
    size = int(manifest["size_bytes"])
    decompressor = zstandard.ZstdDecompressor()
    whole = hashlib.sha256()
    regular = not target.exists() or target.is_file()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if regular:
            # Every byte becomes a hole; only stored chunks are written back.
            os.ftruncate(fd, 0)
            os.ftruncate(fd, size)
        elif os.lseek(fd, 0, os.SEEK_END) < size:
            raise DriverError(f"{target} is smaller than the backup ({size} bytes)")
        for chunk in manifest["chunks"]:
            offset, length = int(chunk["offset"]), int(chunk["length"])
            if chunk.get("hole"):
                zeros = bytes(length)
                whole.update(zeros)
                if not regular:
                    os.pwrite(fd, zeros, offset)
            else:
                data = _read_chunk(folder, label, chunk, manifest["compression"], decompressor)
                whole.update(data)
                os.pwrite(fd, data, offset)
            if progress is not None and size:
                progress(int(100 * (offset + length) / size))
        if whole.hexdigest() != manifest["sha256"]:
            raise BackupCorrupt(f"backup {label}: the restored volume's sha256 differs")
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"size_bytes": size, "sha256": manifest["sha256"]}


def _read_manifest(folder: int, label: str) -> dict[str, Any]:
    try:
        text = _read_file(folder, MANIFEST_NAME).decode()
    except FileNotFoundError:
        raise _no_manifest(label) from None
    except BackupCorrupt:
        raise
    except (OSError, ValueError) as exc:
        raise BackupCorrupt(f"backup {label}: unreadable manifest: {exc}") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise BackupCorrupt(f"backup {label}: unreadable manifest: {exc}") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("version") != FORMAT_VERSION
    ):
        raise BackupCorrupt(f"backup {label}: not a {FORMAT} v{FORMAT_VERSION} manifest")
    return manifest


def _no_manifest(label: str) -> BackupCorrupt:
    return BackupCorrupt(f"backup {label} has no manifest: it does not exist or never completed")


def _read_chunk(
    folder: int,
    label: str,
    chunk: dict[str, Any],
    compression: str,
    decompressor: zstandard.ZstdDecompressor,
) -> bytes:
    name = safe_name(str(chunk["object"]), "object name")
    try:
        body = _read_file(folder, name)
    except FileNotFoundError:
        raise BackupCorrupt(f"backup {label}: object {name} is missing") from None
    if hashlib.sha256(body).hexdigest() != chunk["object_sha256"]:
        raise BackupCorrupt(f"backup {label}: object {name} is corrupt (sha256 differs)")
    if compression == "zstd":
        try:
            data = decompressor.decompress(body, max_output_size=int(chunk["length"]))
        except zstandard.ZstdError as exc:
            raise BackupCorrupt(f"backup {label}: object {name}: {exc}") from None
    else:
        data = body
    if len(data) != int(chunk["length"]) or hashlib.sha256(data).hexdigest() != chunk["sha256"]:
        raise BackupCorrupt(f"backup {label}: chunk {chunk['index']} checksum differs")
    return data


def _write_manifest(folder: int, manifest: dict[str, Any]) -> None:
    temp = f".{MANIFEST_NAME}.tmp"
    with os.fdopen(_create_file(folder, temp), "w") as out:
        json.dump(manifest, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.rename(temp, MANIFEST_NAME, src_dir_fd=folder, dst_dir_fd=folder)
    os.fsync(folder)


# --- descriptors: nothing below the root is reached through a link ---------------------


@contextlib.contextmanager
def _opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _make_dir(parent: int, name: str, *, what: str) -> int:
    """The folder `name` in `parent`, made 0700 unless it exists; DriverError when it is
    a link or not a folder."""
    try:
        os.mkdir(name, PRIVATE_DIR, dir_fd=parent)
    except FileExistsError:
        made = False
    else:
        made = True
    fd = _open_dir(parent, name, what=what)
    if fd is None:
        raise FileNotFoundError(errno.ENOENT, f"{what} {name} vanished")
    if made:
        os.fchmod(fd, PRIVATE_DIR)  # the umask may have taken bits we asked for
    return fd


def _open_dir(parent: int, name: str, *, what: str) -> int | None:
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


def _create_file(folder: int, name: str) -> int:
    fd = os.open(
        name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE, dir_fd=folder
    )
    os.fchmod(fd, PRIVATE_FILE)
    return fd


def _read_file(folder: int, name: str) -> bytes:
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


def _remove(parent: int, name: str) -> None:
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


def _tighten(fd: int) -> bool:
    """Take group and other permissions off a folder of ours; True when it had some."""
    info = os.fstat(fd)
    if not info.st_mode & 0o077 or info.st_uid != os.geteuid():
        return False
    os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077)
    return True


def _hole_at(fd: int, offset: int, length: int) -> bool:
    """Whether the file has no data in [offset, offset+length): skips reading the holes
    of a sparse volume. False when the filesystem cannot tell (then the bytes decide)."""
    try:
        return os.lseek(fd, offset, os.SEEK_DATA) >= offset + length
    except OSError as exc:
        # ENXIO: no data after offset at all; EINVAL: SEEK_DATA not supported here.
        return exc.errno == errno.ENXIO


_ZEROS = bytes(MiB)


def _is_zero(data: bytes) -> bool:
    view = memoryview(data)
    for start in range(0, len(view), MiB):
        part = view[start : start + MiB]
        if part != _ZEROS[: len(part)]:
            return False
    return True
