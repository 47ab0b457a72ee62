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
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import zstandard

from app.drivers.base import DriverConfigError, DriverError

FORMAT = "pumice-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DEFAULT_CONTAINER = "volumebackups"
MiB = 1024 * 1024
# zstd level 3 is zstd's own default: fast enough to keep up with a disk.
ZSTD_LEVEL = 3
# Containers and backup ids become folder names: never a separator or "..".
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")

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
        """Create the repository folder and prove it is writable."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_bytes(b"pumice")
            probe.unlink()
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
        folder = self.backup_dir(backup_id, container)
        # A retry starts from nothing: objects of an earlier attempt may be partial.
        _remove(folder)
        try:
            folder.mkdir(parents=True)
            manifest = self._write_objects(folder, backup_id, source, volume_id, progress)
            _write_manifest(folder, manifest)
        except DriverError:
            _remove(folder)
            raise
        except OSError as exc:
            _remove(folder)
            raise DriverError(f"backup of {source.name} failed: {exc.strerror or exc}") from None
        return {
            "object_count": manifest["object_count"],
            "size_bytes": manifest["size_bytes"],
            "stored_bytes": sum(c.get("object_bytes", 0) for c in manifest["chunks"]),
            "sha256": manifest["sha256"],
        }

    def delete_backup(self, backup_id: str, container: str | None = None) -> None:
        """Remove the backup's folder; a backup that is already gone is not an error."""
        folder = self.backup_dir(backup_id, container)
        try:
            _remove(folder)
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
        return restore(self.backup_dir(backup_id, container), target, progress=progress)

    def _write_objects(
        self,
        folder: Path,
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
        _fsync_dir(folder)
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
        folder: Path,
        index: int,
        offset: int,
        data: bytes,
        compressor: zstandard.ZstdCompressor,
    ) -> dict[str, Any]:
        body = compressor.compress(data) if self.compression == "zstd" else data
        name = f"chunk-{index:08d}" + (".zst" if self.compression == "zstd" else "")
        with open(folder / name, "wb") as out:
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
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        raise BackupCorrupt(
            f"backup {folder.name} has no manifest: it does not exist or never completed"
        ) from None
    except (OSError, ValueError) as exc:
        raise BackupCorrupt(f"backup {folder.name}: unreadable manifest: {exc}") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("version") != FORMAT_VERSION
    ):
        raise BackupCorrupt(f"backup {folder.name}: not a {FORMAT} v{FORMAT_VERSION} manifest")
    return manifest


def restore(folder: Path, target: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write the backup in `folder` into `target` (a file, created or overwritten and left
    sparse, or a block device of at least the volume's size), verifying every checksum:
    each object's, each chunk's and the whole volume's. Raises BackupCorrupt on any
    mismatch."""
    manifest = read_manifest(folder)
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
                data = _read_chunk(folder, chunk, manifest["compression"], decompressor)
                whole.update(data)
                os.pwrite(fd, data, offset)
            if progress is not None and size:
                progress(int(100 * (offset + length) / size))
        if whole.hexdigest() != manifest["sha256"]:
            raise BackupCorrupt(f"backup {folder.name}: the restored volume's sha256 differs")
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"size_bytes": size, "sha256": manifest["sha256"]}


def _read_chunk(
    folder: Path,
    chunk: dict[str, Any],
    compression: str,
    decompressor: zstandard.ZstdDecompressor,
) -> bytes:
    name = safe_name(str(chunk["object"]), "object name")
    try:
        body = (folder / name).read_bytes()
    except FileNotFoundError:
        raise BackupCorrupt(f"backup {folder.name}: object {name} is missing") from None
    if hashlib.sha256(body).hexdigest() != chunk["object_sha256"]:
        raise BackupCorrupt(f"backup {folder.name}: object {name} is corrupt (sha256 differs)")
    if compression == "zstd":
        try:
            data = decompressor.decompress(body, max_output_size=int(chunk["length"]))
        except zstandard.ZstdError as exc:
            raise BackupCorrupt(f"backup {folder.name}: object {name}: {exc}") from None
    else:
        data = body
    if len(data) != int(chunk["length"]) or hashlib.sha256(data).hexdigest() != chunk["sha256"]:
        raise BackupCorrupt(f"backup {folder.name}: chunk {chunk['index']} checksum differs")
    return data


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    temp = folder / f".{MANIFEST_NAME}.tmp"
    with open(temp, "w") as out:
        json.dump(manifest, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.rename(temp, folder / MANIFEST_NAME)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass


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
