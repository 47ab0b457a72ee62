"""The file driver: a backend is one folder, which is its one pool; a volume is a sparse
raw file `<folder>/volume-<id>` of exactly size_gb GiB.

Nothing here reads or writes volume data: creating and extending only set the file's
length (holes cost no space), so a 1 TiB volume is created instantly. Snapshots and
clones will be files beside the volumes, cloned with reflinks where the filesystem has
them (`reflink` capability) and sparse-copied otherwise.

The storage protocol is reported as "file": the data path is a local file (exported
later through tgt as an iSCSI LUN), not a share that clients mount as Cinder's NFS
drivers do, so "nfs" would mislead the scheduler and os-brick alike.
"""

from __future__ import annotations

import math
import os
import stat
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pydantic import Field

from app.drivers import manageable
from app.drivers.base import (
    BackendOptions,
    DriverConfigError,
    DriverError,
    SnapshotSpec,
    VolumeDriver,
    VolumeSpec,
    check_file_size,
)
from app.drivers.copy import PARTIAL_PREFIX, copy_into_place
from app.drivers.reflink import detect_reflink
from app.drivers.runner import CommandRunner
from app.drivers.sizes import GiB, floor_gib, format_gib, gib

log = structlog.get_logger(__name__)

VOLUME_PREFIX = "volume-"
SNAPSHOT_PREFIX = "snapshot-"
# Files being created are written under a hidden name and linked into place, so a
# crash never leaves a half-made `volume-*` that a retry would take for a finished one.
_PARTIAL_PREFIX = PARTIAL_PREFIX
_FILE_MODE = 0o600


class FileDriverOptions(BackendOptions):
    path: Path
    pool_name: str | None = None
    # The total to report; default: the size of the filesystem holding `path`.
    capacity_gb: float | None = Field(default=None, gt=0)
    # Thin: volumes take space as they are written and the pool may be oversubscribed
    # (max_over_subscription_ratio). Thick: each volume counts at full size up front.
    thin: bool = True


@dataclass(frozen=True)
class _Usage:
    """What the volume and snapshot files in the folder take: apparent size and real
    blocks (a reflinked snapshot's shared blocks count twice: free space is understated,
    never overstated). `count` is the volumes only."""

    count: int
    apparent_bytes: int
    used_bytes: int


@dataclass(frozen=True)
class _Copy:
    """A volume or snapshot file made as a copy: where, its size, what it is ("volume",
    "snapshot") and the start of the message when it cannot be made."""

    path: Path
    size_gb: int
    what: str
    failure: str


class FileDriver(VolumeDriver):
    driver_name = "file"
    driver_version = "1.0.0"
    storage_protocol = "file"
    options_model = FileDriverOptions

    def __init__(self, backend_name: str, options: BackendOptions) -> None:
        if not isinstance(options, FileDriverOptions):
            raise DriverConfigError("the file driver needs FileDriverOptions")
        super().__init__(backend_name, options)
        self.file_options = options
        self.folder = options.path.expanduser().absolute()
        self.pool_name = options.pool_name or backend_name
        self.runner = CommandRunner()
        # Set by do_setup; snapshots and clones choose reflink or sparse copy from it.
        self.reflink = False

    # -- setup -------------------------------------------------------------------------

    def do_setup(self) -> None:
        try:
            self.folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        except OSError as exc:
            raise DriverConfigError(f"cannot create {self.folder}: {exc.strerror}") from None
        if not self.folder.is_dir():
            raise DriverConfigError(f"{self.folder} is not a folder")
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise DriverConfigError(f"{self.folder} is not writable")
        self._remove_partial_files()
        self.reflink = detect_reflink(self.folder, self.runner)
        log.info(
            "file backend ready",
            backend=self.backend_name,
            folder=str(self.folder),
            thin=self.file_options.thin,
            reflink=self.reflink,
        )

    def _remove_partial_files(self) -> None:
        # Only called before any job runs, so every partial file is a crash leftover.
        for entry in os.scandir(self.folder):
            if entry.name.startswith(_PARTIAL_PREFIX):
                Path(entry.path).unlink(missing_ok=True)

    # -- volumes -----------------------------------------------------------------------

    def volume_path(self, volume: VolumeSpec) -> Path:
        # From the id only, never from provider_location: the id was validated as a
        # plain name, so the file cannot escape the folder.
        return self.folder / f"{VOLUME_PREFIX}{volume.id}"

    def local_path(self, volume: VolumeSpec) -> Path:
        return self.volume_path(volume)

    def create_volume(self, volume: VolumeSpec) -> dict[str, Any]:
        path = self.volume_path(volume)
        size = volume.size_gb * GiB
        partial = self.folder / f"{_PARTIAL_PREFIX}{path.name}-{uuid.uuid4().hex}"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
            # link() never replaces an existing file, unlike rename(): a concurrent or
            # earlier create of the same volume wins and is checked below.
            os.link(partial, path)
        except FileExistsError:
            # A retried job: the volume is there already, which is fine at the same size.
            self._check_existing_size(path, volume.size_gb)
            log.info("volume already exists", volume_id=volume.id, path=str(path))
            return {"provider_location": str(path)}
        except OSError as exc:
            raise DriverError(f"cannot create volume file {path.name}: {exc.strerror}") from None
        finally:
            partial.unlink(missing_ok=True)
        log.info("volume created", volume_id=volume.id, size_gb=volume.size_gb, path=str(path))
        return {"provider_location": str(path)}

    def create_cloned_volume(self, volume: VolumeSpec, source: VolumeSpec) -> dict[str, Any]:
        """A reflink clone of the source's file where the folder shares extents, else a
        sparse copy, made under a partial name and linked into place like a create: a
        retry finds the finished clone, never a half-copied one."""
        path = self.volume_path(volume)
        if _exists(path):
            self._check_existing_size(path, volume.size_gb)
            log.info("clone already exists", volume_id=volume.id, path=str(path))
            return {"provider_location": str(path)}
        source_path = self.volume_path(source)
        if not source_path.is_file():
            raise DriverError(f"source volume file {source_path.name} does not exist")
        if source_path.stat().st_size > volume.size_gb * GiB:
            raise DriverError(
                f"source volume {source.id} is larger than the {volume.size_gb} GiB clone"
            )
        # A clone may be larger than its source: the rest reads as zeros.
        target = _Copy(path, volume.size_gb, "volume", "cannot clone into volume file")
        return self._copy_into_place(
            source_path, target, "volume cloned", volume_id=volume.id, source_id=source.id
        )

    def _copy_into_place(self, source: Path, copy: _Copy, event: str, **ids: str) -> dict[str, Any]:
        """Copy `source` (a reflink where the folder shares extents, else sparse) to
        `copy.path` at exactly its size, under a partial name linked into place: a retry
        finds the finished file (checked for its size), never a half-copied one."""
        path = copy.path
        try:
            copied = copy_into_place(
                source, path, copy.size_gb * GiB, reflink=self.reflink, mode=_FILE_MODE
            )
        except OSError as exc:
            raise DriverError(f"{copy.failure} {path.name}: {exc.strerror}") from None
        if copied is None:  # a concurrent run of the same job linked it first
            self._check_existing_size(path, copy.size_gb, copy.what)
            return {"provider_location": str(path)}
        log.info(event, **ids, reflinked=copied.reflinked, path=str(path))
        return {"provider_location": str(path)}

    def _check_existing_size(self, path: Path, size_gb: int, what: str = "volume") -> None:
        check_file_size(path, size_gb, what)

    def _remove(self, path: Path, what: str, resource_id: str) -> None:
        """Delete a volume or snapshot file; one already gone is not an error."""
        try:
            path.unlink()
        except FileNotFoundError:
            log.info(f"{what} already gone", resource_id=resource_id)
            return
        except OSError as exc:
            raise DriverError(f"cannot delete {what} file {path.name}: {exc.strerror}") from None
        log.info(f"{what} deleted", resource_id=resource_id)

    def delete_volume(self, volume: VolumeSpec) -> None:
        self._remove(self.volume_path(volume), "volume", volume.id)

    def extend_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        path = self.volume_path(volume)
        try:
            current = path.stat().st_size
        except FileNotFoundError:
            raise DriverError(f"volume file {path.name} does not exist") from None
        new_size = new_size_gb * GiB
        if current == new_size:
            return
        if current > new_size:
            raise DriverError(
                f"cannot shrink volume from {format_gib(current)} GiB to {new_size_gb} GiB"
            )
        try:
            os.truncate(path, new_size)
        except OSError as exc:
            raise DriverError(f"cannot extend volume file {path.name}: {exc.strerror}") from None
        log.info("volume extended", volume_id=volume.id, new_size_gb=new_size_gb)

    # -- manage existing ---------------------------------------------------------------

    def manage_existing(
        self, volume: VolumeSpec, ref: Mapping[str, Any], *, adopt: bool = False
    ) -> dict[str, Any]:
        """Take over a plain file of the backend folder: `ref["source-name"]` is renamed
        to `volume-<id>` (one rename, atomic) and grown to a whole number of GiB, as
        Cinder rounds a managed volume's size up. A retry after the rename finds the
        volume file in place and reports it again. `adopt`: the file may be an unmanaged
        volume's `volume-<id>` (the API checked that no volume has that id)."""
        path = self.volume_path(volume)
        source = self._take_over(ref, path, VOLUME_PREFIX if adopt else None)
        if source is not None:
            log.info("volume file taken over", volume_id=volume.id, source=source)
        size_gb = self._round_up(path)
        return {"size_gb": size_gb, "provider_location": str(path)}

    def _take_over(
        self, ref: Mapping[str, Any], path: Path, adopted: str | None = None
    ) -> str | None:
        """Rename the file `ref["source-name"]` names to `path` (one rename, atomic),
        unless `path` is there already (a retry after the rename): the name it took over,
        or None. `adopted`: the prefix of unmanaged storage the name may carry."""
        source = self.folder / self._source_name(ref, adopted)
        if _exists(path):
            return None
        self._check_source(source)
        try:
            os.rename(source, path)
        except FileNotFoundError:
            # A concurrent retry of the same job may have renamed it first.
            if not _exists(path):
                raise DriverError(f"no file named {source.name!r} to manage") from None
        except OSError as exc:
            raise DriverError(
                f"cannot rename {source.name!r} to {path.name}: {exc.strerror}"
            ) from None
        return source.name

    def _source_name(self, ref: Mapping[str, Any], adopted: str | None = None) -> str:
        name = ref.get("source-name")
        if not isinstance(name, str) or not name:
            raise DriverError(
                f"the file driver manages a file named by ref['source-name'] (got {dict(ref)!r})"
            )
        if "/" in name or "\0" in name or name in (".", ".."):
            raise DriverError(f"invalid source-name {name!r}: a plain file name is required")
        if adopted is not None and name.startswith(adopted):
            return name  # an unmanaged volume's or snapshot's file
        if name.startswith(VOLUME_PREFIX):
            raise DriverError(f"{name!r} is already a volume of backend {self.backend_name}")
        if name.startswith(SNAPSHOT_PREFIX):
            raise DriverError(f"{name!r} is already a snapshot of backend {self.backend_name}")
        if name.startswith(_PARTIAL_PREFIX):
            raise DriverError(f"{name!r} is a volume file being created")
        return name

    def _check_source(self, source: Path) -> None:
        try:
            st = source.lstat()
        except FileNotFoundError:
            raise DriverError(
                f"no file named {source.name!r} in the folder of backend {self.backend_name}"
            ) from None
        except OSError as exc:
            raise DriverError(f"cannot read {source.name!r}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise DriverError(f"{source.name!r} is not a regular file")
        if st.st_nlink > 1:
            # Another name would still reach the volume's data.
            raise DriverError(f"{source.name!r} has other hard links")

    def _round_up(self, path: Path) -> int:
        """The volume's size in whole GiB (at least 1), the file grown to it."""
        try:
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                raise DriverError(f"volume file {path.name} is not a regular file")
            current = st.st_size
            size_gb = max(1, math.ceil(current / GiB))
            if current < size_gb * GiB:
                os.truncate(path, size_gb * GiB)
            os.chmod(path, _FILE_MODE)
        except OSError as exc:
            raise DriverError(f"cannot size volume file {path.name}: {exc.strerror}") from None
        return size_gb

    # -- snapshots ---------------------------------------------------------------------

    def snapshot_path(self, snapshot: SnapshotSpec) -> Path:
        # From the validated id only, like volume_path: never outside the folder.
        return self.folder / f"{SNAPSHOT_PREFIX}{snapshot.id}"

    def snapshot_local_path(self, snapshot: SnapshotSpec) -> Path:
        return self.snapshot_path(snapshot)

    def create_snapshot(self, snapshot: SnapshotSpec, volume: VolumeSpec) -> dict[str, Any]:
        """`snapshot-<id>`: a reflink clone of the volume file where the folder shares
        extents, else a sparse copy; made under a partial name and linked into place, so
        a retry finds the finished snapshot, never a half-copied one."""
        path = self.snapshot_path(snapshot)
        size = snapshot.size_gb * GiB
        if _exists(path):
            self._check_existing_size(path, snapshot.size_gb, "snapshot")
            log.info("snapshot already exists", snapshot_id=snapshot.id, path=str(path))
            return {"provider_location": str(path)}
        source = self.volume_path(volume)
        try:
            source_size = source.stat().st_size
        except FileNotFoundError:
            raise DriverError(f"volume file {source.name} does not exist") from None
        if source_size < size:
            raise DriverError(
                f"volume file {source.name} is smaller than the {snapshot.size_gb} GiB snapshot"
            )
        # An extend that ran meanwhile only appended zeros: cut back to the snapshot.
        target = _Copy(path, snapshot.size_gb, "snapshot", "cannot create snapshot file")
        return self._copy_into_place(
            source, target, "snapshot created", snapshot_id=snapshot.id, volume_id=volume.id
        )

    def delete_snapshot(self, snapshot: SnapshotSpec) -> None:
        self._remove(self.snapshot_path(snapshot), "snapshot", snapshot.id)

    def manage_existing_snapshot(
        self,
        snapshot: SnapshotSpec,
        volume: VolumeSpec,
        ref: Mapping[str, Any],
        *,
        adopt: bool = False,
    ) -> dict[str, Any]:
        """Take over a plain file of the folder as `snapshot-<id>` (one rename), grown to
        whole GiB; a retry after the rename finds it in place and reports it again.
        `adopt`: as manage_existing's, for an unmanaged snapshot's `snapshot-<id>`."""
        path = self.snapshot_path(snapshot)
        source = self._take_over(ref, path, SNAPSHOT_PREFIX if adopt else None)
        if source is not None:
            log.info("snapshot file taken over", snapshot_id=snapshot.id, source=source)
        return {"size_gb": self._round_up(path), "provider_location": str(path)}

    # -- manageable listings (app/drivers/manageable.py) ---------------------------------

    def get_manageable_volumes(self, known_ids: Collection[str]) -> list[dict[str, Any]]:
        """Every plain file of the folder but snapshots: volumes (`volume-<id>`, already
        managed when the API knows the id) and files a manage would take over. An
        exported volume, or a file with other hard links, is not safe to manage."""
        try:
            exported = set(self.exported_volumes())
        except DriverError:
            exported = set()  # the target cannot be listed (no tgtd): nothing exported
        out = []
        for name, st in self._plain_files():
            if name.startswith(SNAPSHOT_PREFIX):
                continue
            busy = None
            if name.removeprefix(VOLUME_PREFIX) in exported:
                busy = "volume exported"
            elif st.st_nlink > 1:
                busy = "file has other hard links"
            out.append(manageable.item(name, st.st_size, VOLUME_PREFIX, known_ids, busy=busy))
        return out

    def get_manageable_snapshots(self, known_ids: Collection[str]) -> list[dict[str, Any]]:
        """The `snapshot-<id>` files (already managed when the API knows the id); a file
        does not say which volume it was taken of."""
        return [
            manageable.item(name, st.st_size, SNAPSHOT_PREFIX, known_ids, snapshot=True)
            for name, st in self._plain_files()
            if name.startswith(SNAPSHOT_PREFIX)
        ]

    def _plain_files(self) -> list[tuple[str, os.stat_result]]:
        """The folder's regular files by name, without the hidden ones (partial copies)."""
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted by a concurrent job
                    continue
                if stat.S_ISREG(st.st_mode):
                    found.append((entry.name, st))
        return sorted(found, key=lambda pair: pair[0])

    # -- capacity ----------------------------------------------------------------------

    def get_volume_stats(self) -> dict[str, Any]:
        try:
            fs = os.statvfs(self.folder)
        except OSError as exc:
            raise DriverError(f"cannot read {self.folder}: {exc.strerror}") from None
        usage = self._usage()
        opts = self.file_options
        total_bytes = (
            opts.capacity_gb * GiB if opts.capacity_gb is not None else fs.f_blocks * fs.f_frsize
        )
        if opts.thin:
            # What can still be written: the filesystem's real free space, but never more
            # than the configured total minus the blocks volumes already hold.
            free_bytes = min(fs.f_bavail * fs.f_frsize, total_bytes - usage.used_bytes)
        else:
            free_bytes = total_bytes - usage.apparent_bytes
        allocated_gb = gib(usage.apparent_bytes)
        pool = {
            "pool_name": self.pool_name,
            "total_capacity_gb": gib(total_bytes),
            # Rounded down: reporting more free space than exists could oversubscribe.
            "free_capacity_gb": floor_gib(max(0.0, float(free_bytes))),
            "allocated_capacity_gb": allocated_gb,
            "provisioned_capacity_gb": allocated_gb,
            "thin_provisioning_support": opts.thin,
            "thick_provisioning_support": not opts.thin,
            "max_over_subscription_ratio": opts.max_over_subscription_ratio,
            "reserved_percentage": opts.reserved_percentage,
            "multiattach": True,
            "QoS_support": False,
            "reflink": self.reflink,
            "total_volumes": usage.count,
        }
        return self.backend_stats([pool])

    def _usage(self) -> _Usage:
        count = apparent = used = 0
        with os.scandir(self.folder) as entries:
            for entry in entries:
                is_volume = entry.name.startswith(VOLUME_PREFIX)
                if not is_volume and not entry.name.startswith(SNAPSHOT_PREFIX):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted by a concurrent job
                    continue
                count += is_volume
                apparent += st.st_size
                used += st.st_blocks * 512
        return _Usage(count=count, apparent_bytes=apparent, used_bytes=used)


def _exists(path: Path) -> bool:
    return os.path.lexists(path)
