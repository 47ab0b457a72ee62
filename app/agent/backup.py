"""The agent's backup service: a backup repository (the `[backup]` table of its config)
and the volume backends of this agent whose data it reads locally.

It registers with the API as a cinder-backup style service (`POST
/agent/v1/backup-services`), at start and every report interval, and runs the backup
jobs queued on its host: the volume's bytes come from the volume driver's
`local_path`, and go to the repository through the backup driver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from app.agent.backends import Backend
from app.agent.client import Job
from app.agent.config import AgentConfig
from app.drivers import DriverError, VolumeDriver, VolumeSpec
from app.drivers.backup import PosixBackupRepository
from app.drivers.base import SnapshotSpec

log = structlog.get_logger(__name__)

MiB = 1024 * 1024
Progress = Callable[[int], None]
Work = Callable[[], dict[str, Any]]
BackupHandler = Callable[
    ["BackupService", Mapping[str, Backend], dict[str, Any], Progress], dict[str, Any]
]


@dataclass
class BackupService:
    host: str
    availability_zone: str
    repository: PosixBackupRepository
    ready: bool = False
    setup_error: str | None = None
    _setup_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def setup(self) -> bool:
        """Create and check the repository once; True when the service is ready."""
        async with self._setup_lock:
            if self.ready:
                return True
            try:
                await asyncio.to_thread(self.repository.do_setup)
            except DriverError as exc:
                if exc.message != self.setup_error:
                    log.error("backup repository setup failed", host=self.host, error=exc.message)
                self.setup_error = exc.message
                return False
            self.ready = True
            self.setup_error = None
            return True

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
        handler = BACKUP_JOB_KINDS.get((job.kind, job.payload_version))
        if handler is None:
            return f"unsupported job {job.kind} version {job.payload_version}"
        return lambda: handler(self, backends, job.payload, progress)


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


def _backup_ref(payload: dict[str, Any]) -> tuple[str, str | None]:
    backup = payload.get("backup")
    if not isinstance(backup, dict) or not isinstance(backup.get("id"), str):
        raise DriverError("invalid job payload: no backup id")
    container = backup.get("container")
    if container is not None and not isinstance(container, str):
        raise DriverError("invalid job payload: container must be a string")
    return backup["id"], container


def _create_backup(
    service: BackupService,
    backends: Mapping[str, Backend],
    payload: dict[str, Any],
    progress: Progress,
) -> dict[str, Any]:
    backup_id, container = _backup_ref(payload)
    raw = payload.get("volume")
    if not isinstance(raw, dict):
        raise DriverError("invalid job payload: no volume")
    volume = VolumeSpec.from_dict(raw)
    backend_host = (volume.host or "").partition("#")[0]
    backend = backends.get(backend_host)
    if backend is None or not backend.ready:
        raise DriverError(f"backend {backend_host} is not served here: cannot read the volume")
    snapshot = payload.get("snapshot")
    if snapshot is not None and not isinstance(snapshot, dict):
        raise DriverError("invalid job payload: snapshot must be an object")
    # A backup of a snapshot reads the snapshot's bytes (the volume as it was then).
    source = (
        backend.driver.snapshot_local_path(SnapshotSpec.from_dict(snapshot))
        if snapshot is not None
        else backend.driver.local_path(volume)
    )
    return service.repository.create_backup(
        backup_id, source, container=container, volume_id=volume.id, progress=progress
    )


def _delete_backup(
    service: BackupService,
    _backends: Mapping[str, Backend],
    payload: dict[str, Any],
    _progress: Progress,
) -> dict[str, Any]:
    backup_id, container = _backup_ref(payload)
    service.repository.delete_backup(backup_id, container)
    return {}


BACKUP_JOB_KINDS: dict[tuple[str, int], BackupHandler] = {
    ("create_backup", 1): _create_backup,
    ("delete_backup", 1): _delete_backup,
}
