"""The agent's backup service: a backup repository (the `[backup]` table of its config)
and the volume backends of this agent whose data it reads locally.

It registers with the API as a cinder-backup style service (`POST
/agent/v1/backup-services`), at start and every report interval, and runs the backup
jobs queued on its host: the volume's bytes come from the volume driver's
`local_path`, and go to the repository through the backup driver."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import structlog

from app import jobkinds
from app.agent.backends import Backend, SetUpOnce
from app.agent.client import Job
from app.agent.config import AgentConfig
from app.agent.kinds import Work, by_key, dump_result, load, prepare
from app.drivers import DriverError, VolumeDriver, VolumeSpec
from app.drivers.backup import BackupCorrupt, PosixBackupRepository
from app.drivers.backup.posix import read_manifest
from app.drivers.base import SnapshotSpec

log = structlog.get_logger(__name__)

MiB = 1024 * 1024
GiB = 1024 * MiB
Progress = Callable[[int], None]
P = TypeVar("P", bound=jobkinds.Wire)
# A handler gets the payload validated into its kind's model; what it returns is posted
# validated into the kind's result model.
BackupHandler = Callable[["BackupRun", P], Mapping[str, Any]]


@dataclass
class BackupService(SetUpOnce):
    host: str
    availability_zone: str
    repository: PosixBackupRepository

    async def setup(self) -> bool:
        """Create and check the repository once; True when the service is ready."""
        return await self._set_up(
            self.repository.do_setup, "backup repository setup failed", host=self.host
        )

    def report(self, backends: Mapping[str, Backend], timestamp: str, seq: int) -> dict[str, Any]:
        return {
            "host": self.host,
            "availability_zone": self.availability_zone,
            "repository": self.repository.location,
            "reaches": reaches(backends),
            "timestamp": timestamp,
            "seq": seq,
        }

    def prepare(self, job: Job, backends: Mapping[str, Backend], progress: Progress) -> Work | str:
        """The job's work, or why it cannot run here."""
        if not self.ready:
            return f"backup service {self.host} is not ready: {self.setup_error}"
        run = BackupRun(self, backends, progress)
        return prepare(BACKUP_JOB_KINDS, job, lambda kind: kind.bind(run, job.payload))


@dataclass(frozen=True)
class BackupRun:
    """What a backup job's handler works with besides its payload."""

    service: BackupService
    backends: Mapping[str, Backend]
    progress: Progress


@dataclass(frozen=True)
class BackupJobKind(Generic[P]):
    """A kind of the catalog (app/jobkinds.py) that runs on the backup service, with the
    handler this agent runs it with."""

    kind: jobkinds.JobKind[P, Any]
    handler: BackupHandler[P]

    def bind(self, run: BackupRun, payload: Mapping[str, Any]) -> Work:
        """The job's work; DriverError at once when the payload does not fit its model."""
        typed = load(self.kind, payload)

        def work() -> dict[str, Any]:
            return dump_result(self.kind, self.handler(run, typed), driver="backup driver")

        return work


def reaches(backends: Mapping[str, Backend]) -> list[str]:
    """The volume backends whose volumes this agent can read locally now (set up, and
    with a driver that has local paths): the scheduler sends it backups of those only."""
    return sorted(
        host
        for host, backend in backends.items()
        if backend.ready and type(backend.driver).local_path is not VolumeDriver.local_path
    )


def build_backup_service(config: AgentConfig) -> BackupService | None:
    section, host = config.backup, config.backup_host
    if section is None or host is None:
        return None
    return BackupService(
        host=host,
        availability_zone=section.availability_zone or config.agent.availability_zone,
        repository=PosixBackupRepository(
            section.repository,
            compression=section.compression,
            chunk_bytes=section.chunk_mib * MiB,
        ),
    )


def _backend_of(run: BackupRun, volume: VolumeSpec, what: str) -> Backend:
    """The ready backend of this agent that holds the volume."""
    backend_host = (volume.host or "").partition("#")[0]
    backend = run.backends.get(backend_host)
    if backend is None or not backend.ready:
        raise DriverError(f"backend {backend_host} is not served here: cannot {what} the volume")
    return backend


def _create_backup(run: BackupRun, payload: jobkinds.CreateBackupPayload) -> Mapping[str, Any]:
    volume = VolumeSpec.from_dict(payload.volume.model_dump())
    backend = _backend_of(run, volume, "read")
    # A backup of a snapshot reads the snapshot's bytes (the volume as it was then).
    source = (
        backend.driver.snapshot_local_path(SnapshotSpec.from_dict(payload.snapshot.model_dump()))
        if payload.snapshot is not None
        else backend.driver.local_path(volume)
    )
    parent = payload.parent  # an incremental: only the chunks that differ are stored
    return run.service.repository.create_backup(
        payload.backup.id,
        source,
        container=payload.backup.container,
        volume_id=volume.id,
        progress=run.progress,
        parent=parent.stored_as if parent is not None else None,
        parent_container=parent.container if parent is not None else None,
    )


def _restore_backup(run: BackupRun, payload: jobkinds.RestoreBackupPayload) -> Mapping[str, Any]:
    """Write the backup into the volume's local path, every checksum verified (a corrupt
    or missing object fails the job with the repository's words). A new volume's
    storage is created first (idempotent, so a retried job is safe)."""
    volume = VolumeSpec.from_dict(payload.volume.model_dump())
    backend = _backend_of(run, volume, "write")
    created: Mapping[str, Any] = {}
    if payload.create:
        created = backend.driver.create_volume(volume)
    target = backend.driver.local_path(volume)
    answer = run.service.repository.restore(
        payload.backup.stored_as,
        target,
        container=payload.backup.container,
        progress=run.progress,
    )
    _keep_volume_size(target, volume.size_gb * GiB)
    return {**answer, "provider_location": created.get("provider_location")}


def _keep_volume_size(target: Path, size: int) -> None:
    """A volume file larger than the backup keeps its size (the restore leaves a file of
    the backup's size; the rest of the volume reads as zeros)."""
    try:
        if target.is_file() and target.stat().st_size < size:
            os.truncate(target, size)
    except OSError as exc:
        raise DriverError(f"cannot size {target.name} back to the volume's: {exc}") from None


def _import_backup(run: BackupRun, payload: jobkinds.ImportBackupPayload) -> Mapping[str, Any]:
    """The backup's manifest exists in this repository and reads (an imported record)."""
    stored_as = payload.backup.stored_as
    folder = run.service.repository.backup_dir(stored_as, payload.backup.container)
    manifest = read_manifest(folder)
    if manifest.get("backup_id") != stored_as:
        raise BackupCorrupt(
            f"backup {folder.name}: its manifest is of backup {manifest.get('backup_id')}"
        )
    return {"object_count": manifest["object_count"], "size_bytes": manifest["size_bytes"]}


def _delete_backup(run: BackupRun, payload: jobkinds.DeleteBackupPayload) -> Mapping[str, Any]:
    run.service.repository.delete_backup(payload.backup.stored_as, payload.backup.container)
    return {}


# Every catalog kind that runs on the backup service, with its handler (a test checks
# that none is missing).
BACKUP_JOB_KINDS: dict[tuple[str, int], BackupJobKind[Any]] = by_key(
    BackupJobKind(jobkinds.CREATE_BACKUP, _create_backup),
    BackupJobKind(jobkinds.DELETE_BACKUP, _delete_backup),
    BackupJobKind(jobkinds.RESTORE_BACKUP, _restore_backup),
    BackupJobKind(jobkinds.IMPORT_BACKUP, _import_backup),
)
