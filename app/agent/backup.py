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
from typing import Any, Generic, TypeVar

import structlog

from app import jobkinds
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
P = TypeVar("P", bound=jobkinds.Wire)
# A handler gets the payload validated into its kind's model; what it returns is posted
# validated into the kind's result model.
BackupHandler = Callable[["BackupService", Mapping[str, Backend], P, Progress], Mapping[str, Any]]


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
        kind = BACKUP_JOB_KINDS.get((job.kind, job.payload_version))
        if kind is None:
            return f"unsupported job {job.kind} version {job.payload_version}"
        try:
            return kind.bind(self, backends, job.payload, progress)
        except DriverError as exc:  # a payload that does not fit its kind's model
            return exc.message


@dataclass(frozen=True)
class BackupJobKind(Generic[P]):
    """A kind of the catalog (app/jobkinds.py) that runs on the backup service, with the
    handler this agent runs it with."""

    kind: jobkinds.JobKind[P, Any]
    handler: BackupHandler[P]

    def bind(
        self,
        service: BackupService,
        backends: Mapping[str, Backend],
        payload: Mapping[str, Any],
        progress: Progress,
    ) -> Work:
        """The job's work; DriverError at once when the payload does not fit its model."""
        try:
            typed = self.kind.load(payload)
        except jobkinds.InvalidJobData as exc:
            raise DriverError(str(exc)) from None

        def work() -> dict[str, Any]:
            result = self.handler(service, backends, typed, progress)
            try:
                return self.kind.dump_result(result)
            except jobkinds.InvalidJobData as exc:
                raise DriverError(
                    f"the backup driver's answer to {self.kind.name}: {exc}"
                ) from None

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


def _create_backup(
    service: BackupService,
    backends: Mapping[str, Backend],
    payload: jobkinds.CreateBackupPayload,
    progress: Progress,
) -> Mapping[str, Any]:
    volume = VolumeSpec.from_dict(payload.volume.model_dump())
    backend_host = (volume.host or "").partition("#")[0]
    backend = backends.get(backend_host)
    if backend is None or not backend.ready:
        raise DriverError(f"backend {backend_host} is not served here: cannot read the volume")
    # A backup of a snapshot reads the snapshot's bytes (the volume as it was then).
    source = (
        backend.driver.snapshot_local_path(SnapshotSpec.from_dict(payload.snapshot.model_dump()))
        if payload.snapshot is not None
        else backend.driver.local_path(volume)
    )
    return service.repository.create_backup(
        payload.backup.id,
        source,
        container=payload.backup.container,
        volume_id=volume.id,
        progress=progress,
    )


def _delete_backup(
    service: BackupService,
    _backends: Mapping[str, Backend],
    payload: jobkinds.DeleteBackupPayload,
    _progress: Progress,
) -> Mapping[str, Any]:
    service.repository.delete_backup(payload.backup.id, payload.backup.container)
    return {}


# Every catalog kind that runs on the backup service, with its handler (a test checks
# that none is missing).
BACKUP_JOB_KINDS: dict[tuple[str, int], BackupJobKind[Any]] = {
    bound.kind.key: bound
    for bound in (
        BackupJobKind(jobkinds.CREATE_BACKUP, _create_backup),
        BackupJobKind(jobkinds.DELETE_BACKUP, _delete_backup),
    )
}
