"""A chunked backup repository on a POSIX folder (an NFS mount in production).

A backup is a folder `<repository>/<container>/<backup_id>/` holding one object per
stored chunk of the volume and a `manifest.json` that lists every chunk (docs/CONTRACTS.md,
"Repository layout", is the layout for someone restoring by hand):
- the volume is read in chunks of `chunk_bytes`; a chunk of zeros is not stored (a hole);
- every stored chunk is compressed (zstd, or not at all) into `chunk-<index>[.zst]`, and
  the manifest keeps the sha256 of the chunk's bytes and of the object as written;
- an incremental backup (`parent=`) stores only the chunks whose sha256 differs from the
  parent's chunk at the same index; the others are referenced: the entry names the backup
  whose folder holds the object (manifest version 2, app/drivers/backup/manifest.py);
- the manifest is written last (temp file, fsync, rename, fsync of the folder), so a
  backup that was interrupted has no manifest and is known to be incomplete.

Creating is idempotent: a retry removes whatever an earlier attempt left and starts over.
Restoring verifies every checksum (objects, chunks, the whole volume, along the chain of
backups it reads) before it trusts a byte.

A backup whose objects others reference cannot be deleted: the referencing backup puts a
marker (`dependent-<digest>.json`, naming it) in the folder of every backup it references
before it writes its manifest, and a delete refuses while a marker names a backup that
still exists (BackupInUse). A delete takes the manifest away first and looks again, so a
delete and a create that references the backup never both succeed.

Hashing and compressing run on a thread pool (hashlib and zstandard release the GIL):
one thread reads the volume in order, the pool hashes/compresses/writes chunks, another
thread hashes the whole volume in order. A restore reads, checks and decompresses chunks
on the pool and writes them sparse.

The repository is its owner's: folders 0700 and files 0600 whatever the umask. Below the
configured root nothing is reached through a symbolic link (app/drivers/backup/fsops.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import structlog
import zstandard

from app.drivers.backup.fsops import (
    BackupCorrupt,
    create_file,
    is_zero,
    make_dir,
    open_dir,
    open_up,
    opened,
    read_data,
    read_file,
    regular_size,
    remove_tree,
    safe_name,
    tighten,
    write_file,
    write_sparse,
    zero_range,
)
from app.drivers.backup.manifest import (
    DEFAULT_CONTAINER,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    BackupRef,
    Chunk,
    Manifest,
    depends_on,
    has_manifest,
    load_manifest,
    no_manifest,
    owner,
    write_manifest,
)
from app.drivers.base import DriverConfigError, DriverError

log = structlog.get_logger(__name__)

__all__ = [
    "DEFAULT_CONTAINER",
    "MANIFEST_NAME",
    "BackupCorrupt",
    "BackupInUse",
    "PosixBackupRepository",
    "read_manifest",
    "restore",
]

MiB = 1024 * 1024
# zstd level 3 is zstd's own default: fast enough to keep up with a disk.
ZSTD_LEVEL = 3
# Chunks in flight per worker (read ahead of the slowest); each costs a chunk of
# memory, and all of them together at most IN_FLIGHT_BYTES (at least two chunks).
AHEAD = 2
IN_FLIGHT_BYTES = 256 * MiB
# A chunk that zstd shrinks by less than 2% is stored raw (no suffix).
INCOMPRESSIBLE = 0.98
ZSTD_SUFFIX = ".zst"
DEPENDENT_PREFIX = "dependent-"
# Where a delete puts the manifest while it makes sure nothing references the backup.
DELETING_NAME = ".manifest.deleting"
# Fields of a stored chunk's entry that a referencing entry copies.
_OBJECT_FIELDS = ("length", "sha256", "object", "object_bytes", "object_sha256")

Compression = Literal["zstd", "none"]
Progress = Callable[[int], None]


class BackupInUse(DriverError):
    """The backup holds objects that other backups reference: it cannot be deleted."""


def default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def in_flight(workers: int, chunk_bytes: int) -> int:
    """How many chunks may be read ahead of the oldest one not finished."""
    return max(2, min(workers * AHEAD, IN_FLIGHT_BYTES // max(chunk_bytes, 1)))


@dataclass(frozen=True)
class PosixBackupRepository:
    root: Path
    compression: Compression = "zstd"
    chunk_bytes: int = 32 * MiB
    # Threads that hash, compress and write chunks (0: one per CPU, at least 2).
    workers: int = 0

    @property
    def location(self) -> str:
        """How the API names this repository ("posix:<absolute path>")."""
        return f"posix:{self.root}"

    @property
    def threads(self) -> int:
        return self.workers or default_workers()

    def do_setup(self) -> None:
        """Create the repository folder (0700; an existing one of ours is tightened) and
        prove it is writable."""
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.root, 0o700)
            with self._root() as root:
                if tighten(root):
                    log.warning("backup repository made private (0700)", repository=str(self.root))
                probe = f".probe-{os.getpid()}"
                os.close(create_file(root, probe))
                os.unlink(probe, dir_fd=root)
        except OSError as exc:
            raise DriverConfigError(
                f"backup repository {self.root} is not usable: {exc.strerror or exc}"
            ) from None

    def backup_dir(self, backup_id: str, container: str | None) -> Path:
        ref = BackupRef.of(backup_id, container)
        return self.root / ref.container / ref.backup_id

    @contextlib.contextmanager
    def _root(self) -> Iterator[int]:
        """The repository's descriptor. The root may be a link (the operator's choice);
        nothing below it may."""
        with opened(os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)) as root:
            yield root

    # --- create -------------------------------------------------------------------------

    def create_backup(
        self,
        backup_id: str,
        source: Path,
        *,
        container: str | None = None,
        volume_id: str | None = None,
        progress: Progress | None = None,
        parent: str | None = None,
        parent_container: str | None = None,
    ) -> dict[str, Any]:
        """Back up `source` (a volume file or block device) as `backup_id`; with `parent`
        (a backup id, in `parent_container`, default this backup's container) only the
        chunks that differ from the parent's are stored: an incremental backup."""
        this = BackupRef.of(backup_id, container)
        base_ref = BackupRef.of(parent, parent_container or container) if parent else None
        try:
            with self._root() as root:
                with opened(make_dir(root, this.container, what="container")) as folders:
                    tighten(folders)  # a container made by an older version
                    # A retry starts from nothing: objects of an earlier attempt may be partial.
                    existing = open_dir(folders, this.backup_id, what="backup folder")
                    if existing is not None:
                        with opened(existing):
                            _refuse_if_referenced(root, existing, this)
                    remove_tree(folders, this.backup_id)
                    with (
                        opened(make_dir(folders, this.backup_id, what="backup folder")) as fd,
                        _Backups(root) as backups,
                    ):
                        try:
                            manifest = self._create(
                                fd, this, source, volume_id, base_ref, backups, progress
                            )
                        except Exception:
                            backups.drop_dependent_everywhere(this)
                            remove_tree(folders, this.backup_id)
                            raise
        except OSError as exc:
            raise DriverError(f"backup of {source.name} failed: {exc.strerror or exc}") from None
        own = [c for c in manifest["chunks"] if "object" in c and "backup_id" not in c]
        return {
            "object_count": manifest["object_count"],
            "size_bytes": manifest["size_bytes"],
            "stored_bytes": sum(int(c["object_bytes"]) for c in own),
            "sha256": manifest["sha256"],
        }

    def _create(
        self,
        folder: int,
        this: BackupRef,
        source: Path,
        volume_id: str | None,
        parent: BackupRef | None,
        backups: _Backups,
        progress: Progress | None,
    ) -> Manifest:
        base = self._base(backups, parent) if parent is not None else {}
        candidates = sorted({BackupRef.load(c, this.backup_id) for c in base.values()})
        # Before any manifest references them, the referenced backups know it.
        for ref in candidates:
            backups.add_dependent(ref, this)
        chunks, size, digest = self._write_objects(folder, source, base, progress)
        used = sorted({held for c in chunks if (held := owner(c)) is not None})
        for ref in used:
            fd = backups.folder(ref)
            if fd is None or not has_manifest(fd):
                raise DriverError(
                    f"backup {this.backup_id}: backup {ref}, which holds some of its chunks, "
                    "was deleted meanwhile"
                )
        manifest: Manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "backup_id": this.backup_id,
            "container": this.container,
            "volume_id": volume_id,
            "created_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "size_bytes": size,
            "chunk_bytes": self.chunk_bytes,
            "compression": self.compression,
            "sha256": digest,
            "object_count": sum(1 for c in chunks if "object" in c and "backup_id" not in c),
            "parent": parent.dump() if parent is not None else None,
            "depends_on": [ref.dump() for ref in used],
            "chunks": chunks,
        }
        write_manifest(folder, manifest)
        for ref in candidates:
            if ref not in used:
                backups.drop_dependent(ref, this)
        return manifest

    def _base(self, backups: _Backups, parent: BackupRef) -> dict[int, Chunk]:
        """The parent's stored chunks by index, each naming the backup that holds its
        object (objects that are missing or of another size are left out: stored again)."""
        if backups.folder(parent) is None:
            raise DriverError(f"parent backup {parent} does not exist")
        try:
            manifest = backups.manifest(parent)
        except BackupCorrupt as exc:
            raise BackupCorrupt(f"cannot back up incrementally: parent {exc}") from None
        if int(manifest["chunk_bytes"]) != self.chunk_bytes:
            log.warning(
                "parent backup has another chunk size: every chunk is stored",
                parent=str(parent),
                parent_chunk_bytes=manifest["chunk_bytes"],
            )
            return {}
        base: dict[int, Chunk] = {}
        for chunk in manifest["chunks"]:
            if chunk.get("hole"):
                continue
            ref = owner(chunk) or parent
            fd = backups.folder(ref)
            name = safe_name(str(chunk["object"]), "object name")
            if fd is None or regular_size(fd, name) != int(chunk["object_bytes"]):
                log.warning("parent's object missing: stored again", parent=str(ref), object=name)
                continue
            base[int(chunk["index"])] = {
                **{key: chunk[key] for key in _OBJECT_FIELDS},
                **ref.dump(),
            }
        return base

    def _write_objects(
        self,
        folder: int,
        source: Path,
        base: dict[int, Chunk],
        progress: Progress | None,
    ) -> tuple[list[Chunk], int, str]:
        """Read `source` once, in order; hash, compare with `base`, compress and store
        the chunks on the pool; hash the whole volume in order on its own thread."""
        try:
            fd = os.open(source, os.O_RDONLY)
        except FileNotFoundError:
            raise DriverError(f"volume data {source} does not exist") from None
        whole = hashlib.sha256()
        chunks: list[Chunk] = []
        workers = self.threads
        ahead = in_flight(workers, self.chunk_bytes)
        zeros = memoryview(bytes(0))
        # Chunk buffers, reused once their chunk is stored and hashed.
        free: list[bytearray] = []
        window: deque[tuple[int, bytearray, Future[Chunk], Future[None]]] = deque()
        with opened(fd), ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(1) as hasher:
            size = os.lseek(fd, 0, os.SEEK_END)

            def settle() -> None:
                end, buffer, entry, hashed = window.popleft()
                chunks.append(entry.result())
                hashed.result()
                free.append(buffer)
                if progress is not None:
                    progress(int(100 * end / size))

            try:
                for index, offset in enumerate(range(0, size, self.chunk_bytes)):
                    length = min(self.chunk_bytes, size - offset)
                    buffer = free.pop() if free and length == self.chunk_bytes else None
                    if buffer is None:
                        buffer = bytearray(length)
                    entry: Future[Chunk]
                    if read_data(fd, offset, buffer):
                        entry = pool.submit(
                            self._chunk, folder, index, offset, buffer, base.get(index)
                        )
                        hashed = hasher.submit(whole.update, buffer)
                    else:
                        if len(zeros) < length:
                            zeros = memoryview(bytes(self.chunk_bytes))
                        entry = Future()
                        entry.set_result(_hole(index, offset, length))
                        hashed = hasher.submit(whole.update, zeros[:length])
                    window.append((offset + length, buffer, entry, hashed))
                    while len(window) > ahead:
                        settle()
                while window:
                    settle()
            except BaseException:
                for _, _, entry, hashed in window:
                    entry.cancel()
                    hashed.cancel()
                raise
        os.fsync(folder)
        return chunks, size, whole.hexdigest()

    def _chunk(
        self, folder: int, index: int, offset: int, data: bytearray, base: Chunk | None
    ) -> Chunk:
        """One chunk's entry: a hole, a reference to the parent's equal chunk, or a new
        object (compressed, written and on disk)."""
        if is_zero(data):
            return _hole(index, offset, len(data))
        digest = hashlib.sha256(data).hexdigest()
        if base is not None and base["sha256"] == digest and int(base["length"]) == len(data):
            return {"index": index, "offset": offset, **base}
        body: bytes | bytearray = data
        name = f"chunk-{index:08d}"
        object_digest = digest
        if self.compression == "zstd":
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
            packed = compressor.compress(data)
            # What zstd cannot shrink is stored raw: restoring it costs no decompression
            # and one hash (the object is the chunk).
            if len(packed) < len(data) * INCOMPRESSIBLE:
                body, name = packed, f"{name}{ZSTD_SUFFIX}"
                object_digest = hashlib.sha256(body).hexdigest()
        write_file(folder, name, body)
        return {
            "index": index,
            "offset": offset,
            "length": len(data),
            "sha256": digest,
            "object": name,
            "object_bytes": len(body),
            "object_sha256": object_digest,
        }

    # --- delete -------------------------------------------------------------------------

    def delete_backup(self, backup_id: str, container: str | None = None) -> None:
        """Remove the backup's folder; a backup that is already gone is not an error.
        BackupInUse when other backups reference its objects."""
        this = BackupRef.of(backup_id, container)
        try:
            with self._root() as root:
                folders = open_dir(root, this.container, what="container")
                if folders is None:
                    return
                with opened(folders):
                    fd = open_dir(folders, this.backup_id, what="backup folder")
                    if fd is None:
                        return
                    with opened(fd):
                        uses = _unpublish(root, fd, this)
                    remove_tree(folders, this.backup_id)
                with _Backups(root) as backups:
                    for ref in uses:
                        backups.drop_dependent(ref, this)
        except OSError as exc:
            raise DriverError(f"cannot delete backup {backup_id}: {exc.strerror or exc}") from None

    # --- restore ------------------------------------------------------------------------

    def restore(
        self,
        backup_id: str,
        target: Path,
        *,
        container: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Write the backup into `target` (see `restore`)."""
        this = BackupRef.of(backup_id, container)
        with self._root() as root:
            folders = open_dir(root, this.container, what="container")
            fd = None
            if folders is not None:
                with opened(folders):
                    fd = open_dir(folders, this.backup_id, what="backup folder")
            if fd is None:
                raise no_manifest(this.backup_id)
            with opened(fd), _Backups(root) as backups:
                return _restore(fd, this.backup_id, backups, target, progress, self.threads)


def _hole(index: int, offset: int, length: int) -> Chunk:
    return {"index": index, "offset": offset, "length": length, "hole": True}


# --- the backups a backup references, and those that reference it ----------------------


class _Backups:
    """Other backups of the repository, each folder opened (by descriptor) and each
    manifest read once."""

    def __init__(self, root: int) -> None:
        self.root = root
        self._folders: dict[BackupRef, int | None] = {}
        self._manifests: dict[BackupRef, Manifest] = {}

    def __enter__(self) -> _Backups:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for fd in self._folders.values():
            if fd is not None:
                os.close(fd)
        self._folders.clear()

    def folder(self, ref: BackupRef) -> int | None:
        if ref not in self._folders:
            self._folders[ref] = _open_backup(self.root, ref)
        return self._folders[ref]

    def manifest(self, ref: BackupRef) -> Manifest:
        if ref not in self._manifests:
            fd = self.folder(ref)
            if fd is None:
                raise no_manifest(str(ref))
            self._manifests[ref] = load_manifest(fd, str(ref))
        return self._manifests[ref]

    def add_dependent(self, ref: BackupRef, dependent: BackupRef) -> None:
        fd = self.folder(ref)
        if fd is None:
            raise DriverError(f"backup {ref} vanished")
        with contextlib.suppress(FileExistsError):
            write_file(fd, _marker(dependent), json.dumps(dependent.dump()).encode())
        os.fsync(fd)

    def drop_dependent(self, ref: BackupRef, dependent: BackupRef) -> None:
        fd = self.folder(ref)
        if fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_marker(dependent), dir_fd=fd)

    def drop_dependent_everywhere(self, dependent: BackupRef) -> None:
        """Best effort, after a failed create: the markers it wrote (a stale marker is
        harmless: it names a backup that does not exist)."""
        for ref, fd in self._folders.items():
            if fd is not None:
                with contextlib.suppress(OSError):
                    self.drop_dependent(ref, dependent)


def _open_backup(root: int, ref: BackupRef) -> int | None:
    folders = open_dir(root, ref.container, what="container")
    if folders is None:
        return None
    with opened(folders):
        return open_dir(folders, ref.backup_id, what="backup folder")


def _marker(dependent: BackupRef) -> str:
    digest = hashlib.sha256(f"{dependent.container}/{dependent.backup_id}".encode()).hexdigest()
    return f"{DEPENDENT_PREFIX}{digest[:32]}.json"


def _dependents(root: int, folder: int) -> list[BackupRef]:
    """The backups that reference objects of the backup `folder` and still exist
    (complete or being created); stale markers are removed."""
    found = []
    for name in sorted(os.listdir(folder)):
        if not name.startswith(DEPENDENT_PREFIX):
            continue
        try:
            ref = BackupRef.load(json.loads(read_file(folder, name)), name)
        except (OSError, ValueError, DriverError) as exc:
            log.warning("unreadable dependent marker ignored", marker=name, error=str(exc))
            continue
        fd = _open_backup(root, ref)
        if fd is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
            continue
        os.close(fd)
        found.append(ref)
    return found


def _refuse_if_referenced(root: int, folder: int, this: BackupRef) -> None:
    dependents = _dependents(root, folder)
    if dependents:
        raise BackupInUse(
            f"backup {this.backup_id} holds chunks that backups "
            + ", ".join(str(ref) for ref in dependents)
            + " reference: delete them first"
        )


def _unpublish(root: int, folder: int, this: BackupRef) -> list[BackupRef]:
    """Take the manifest of a backup to delete away (refused while others reference
    it) and return the backups it referenced. The manifest is moved first and the
    markers read again after: a create that references this backup writes its marker
    before it checks that the manifest is still here, so one of the two always sees
    the other."""
    _refuse_if_referenced(root, folder, this)
    with contextlib.suppress(FileNotFoundError):
        os.rename(MANIFEST_NAME, DELETING_NAME, src_dir_fd=folder, dst_dir_fd=folder)
        os.fsync(folder)
    try:
        _refuse_if_referenced(root, folder, this)
    except BackupInUse:
        with contextlib.suppress(FileNotFoundError):
            os.rename(DELETING_NAME, MANIFEST_NAME, src_dir_fd=folder, dst_dir_fd=folder)
        raise
    try:
        return depends_on(load_manifest(folder, this.backup_id, DELETING_NAME), this.backup_id)
    except BackupCorrupt:
        return []  # incomplete or damaged: whatever it referenced keeps a stale marker


# --- restore ----------------------------------------------------------------------------


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the backup in `folder` (BackupCorrupt when it has none)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise no_manifest(folder.name) from None
    with opened(fd):
        return load_manifest(fd, folder.name)


def restore(
    folder: Path,
    target: Path,
    *,
    progress: Progress | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """Write the backup in `folder` into `target` (a file, created or overwritten and left
    sparse, or a block device of at least the volume's size), verifying every checksum:
    each object's, each chunk's and the whole volume's, in this backup and in the backups
    it references (found next to it: `folder/../../<container>/<backup id>`). Raises
    BackupCorrupt on any mismatch, on a missing object or manifest, and on a manifest or
    object that is a symbolic link."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise no_manifest(folder.name) from None
    with opened(fd), opened(open_up(fd)) as folders, opened(open_up(folders)) as root:
        with _Backups(root) as backups:
            return _restore(fd, folder.name, backups, target, progress, workers)


@dataclass(frozen=True)
class _Source:
    """Where a chunk's object is: the folder's descriptor and which backup that is (for
    messages). Whether it is compressed is in its name (".zst")."""

    folder: int
    backup: str


def _sources(folder: int, label: str, manifest: Manifest, backups: _Backups) -> dict[int, _Source]:
    """Each stored chunk's source, checked before a byte is written: every referenced
    backup exists, is complete, and its manifest holds the very object referenced."""
    own = _Source(folder, label)
    sources: dict[int, _Source] = {}
    theirs: dict[BackupRef, tuple[_Source, dict[int, Chunk]]] = {}
    size = int(manifest["size_bytes"])
    for chunk in manifest["chunks"]:
        index, offset, length = int(chunk["index"]), int(chunk["offset"]), int(chunk["length"])
        if offset < 0 or length < 0 or offset + length > size:
            raise BackupCorrupt(f"backup {label}: chunk {index} lies outside the volume")
        if chunk.get("hole"):
            continue
        ref = owner(chunk)
        if ref is None:
            sources[index] = own
            continue
        if ref not in theirs:
            if backups.folder(ref) is None:
                raise BackupCorrupt(
                    f"backup {label}: chunk {index} is in backup {ref}, which does not exist"
                )
            try:
                other = backups.manifest(ref)
            except BackupCorrupt as exc:
                raise BackupCorrupt(f"backup {label}: chunk {index}: {exc}") from None
            stored = {
                int(c["index"]): c
                for c in other["chunks"]
                if not c.get("hole") and "backup_id" not in c
            }
            fd = backups.folder(ref)
            assert fd is not None
            theirs[ref] = (_Source(fd, str(ref)), stored)
        source, stored = theirs[ref]
        held = stored.get(index)
        if held is None or any(held[key] != chunk[key] for key in _OBJECT_FIELDS):
            raise BackupCorrupt(
                f"backup {label}: chunk {index} refers to backup {ref}, whose manifest "
                "does not hold that object"
            )
        sources[index] = source
    return sources


def _restore(
    folder: int,
    label: str,
    backups: _Backups,
    target: Path,
    progress: Progress | None,
    workers: int,
) -> dict[str, Any]:
    manifest = load_manifest(folder, label)
    size = int(manifest["size_bytes"])
    sources = _sources(folder, label, manifest, backups)
    workers = workers or default_workers()
    ahead = in_flight(workers, int(manifest["chunk_bytes"]))
    whole = hashlib.sha256()
    zeros = memoryview(bytes(min(int(manifest["chunk_bytes"]), size)))
    regular = not target.exists() or target.is_file()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
    window: deque[tuple[Chunk, Future[bytes | None]]] = deque()

    def settle() -> None:
        chunk, loaded = window.popleft()
        data = loaded.result()
        offset, length = int(chunk["offset"]), int(chunk["length"])
        whole.update(zeros[:length] if data is None else data)
        if progress is not None and size:
            progress(int(100 * (offset + length) / size))

    def load(chunk: Chunk) -> bytes | None:
        offset, length = int(chunk["offset"]), int(chunk["length"])
        if chunk.get("hole"):
            if not regular:
                zero_range(fd, offset, length)
            return None
        data = _read_chunk(sources[int(chunk["index"])], label, chunk)
        write_sparse(fd, data, offset, holes=regular)
        return data

    try:
        if regular:
            # Every byte becomes a hole; only stored chunks are written back.
            os.ftruncate(fd, 0)
            os.ftruncate(fd, size)
        elif os.lseek(fd, 0, os.SEEK_END) < size:
            raise DriverError(f"{target} is smaller than the backup ({size} bytes)")
        with ThreadPoolExecutor(workers) as pool:
            try:
                for chunk in manifest["chunks"]:
                    window.append((chunk, pool.submit(load, chunk)))
                    while len(window) > ahead:
                        settle()
                while window:
                    settle()
            except BaseException:
                for _, loaded in window:
                    loaded.cancel()
                raise
        if whole.hexdigest() != manifest["sha256"]:
            raise BackupCorrupt(f"backup {label}: the restored volume's sha256 differs")
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"size_bytes": size, "sha256": manifest["sha256"]}


def _read_chunk(source: _Source, label: str, chunk: Chunk) -> bytes:
    index = chunk["index"]
    name = safe_name(str(chunk["object"]), "object name")
    where = f"object {name}" + ("" if source.backup == label else f" of backup {source.backup}")
    try:
        body = read_file(source.folder, name)
    except FileNotFoundError:
        raise BackupCorrupt(f"backup {label}: chunk {index}: {where} is missing") from None
    except BackupCorrupt as exc:
        raise BackupCorrupt(f"backup {label}: chunk {index}: {exc}") from None
    if hashlib.sha256(body).hexdigest() != chunk["object_sha256"]:
        raise BackupCorrupt(f"backup {label}: chunk {index}: {where} is corrupt (sha256 differs)")
    if name.endswith(ZSTD_SUFFIX):
        try:
            data = zstandard.ZstdDecompressor().decompress(
                body, max_output_size=int(chunk["length"])
            )
        except zstandard.ZstdError as exc:
            raise BackupCorrupt(f"backup {label}: chunk {index}: {where}: {exc}") from None
        intact = hashlib.sha256(data).hexdigest() == chunk["sha256"]
    else:
        # A raw object is the chunk: the object's sha256 just checked is the chunk's.
        data, intact = body, chunk["object_sha256"] == chunk["sha256"]
    if len(data) != int(chunk["length"]) or not intact:
        raise BackupCorrupt(f"backup {label}: chunk {index} checksum differs ({where})")
    return data
