"""Restore a backup (Cinder's backup API `restore`): into the caller's available volume,
or into a new volume, made for it (`POST /backups/{id}/restore` without a volume, and
`POST /volumes` with `backup_id`, 3.47); and how a restore job ends.

The bytes are read by a backup service that can read the backup (the one that made it
when it is up, else another that serves the same repository) and written into the
volume's local path on its backend, which that service must reach: a new volume is
therefore placed only on pools of the backends such a service reaches, with quota and
a pool claim as any create. The agent creates a new volume's storage itself, then
restores into it, in one job (`restore_backup`, `create: true`).

Statuses: the backup `restoring` (its `restore_volume_id` names the volume), the volume
`restoring-backup`, both in the transaction that queues the job. Success: both
`available`. Failure (a corrupt or missing object, the agent's lease lost): the backup
`available` again (its data is what it was), the volume `error` with a user message
(`restore backup`) saying why; a new volume keeps its claim and quota until deleted,
and its delete removes whatever the restore wrote.

Lock order (as everywhere): job, volume, backup, quota usage, pool."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import (
    Backup,
    BackupService,
    Job,
    Volume,
    VolumeType,
    utcnow,
)
from app.errors import BadRequest
from app.runtime import Runtime
from app.volumes.backups import services as backup_services
from app.volumes.kernel import jobs, lifecycle, messages, quotas, repository
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import BackupStatus, VolumeStatus
from app.volumes.types import qos_specs
from app.volumes.types import types as vtypes
from app.volumes.volumes import flows as vflows
from app.volumes.volumes.flows import split_host

# The volume's status while a backup is written into it (Cinder's name).
RESTORING_BACKUP = "restoring-backup"
BACKUPS = repository.BACKUPS


def backup_ref(backup: Backup) -> jobkinds.BackupRef:
    return jobkinds.BackupRef(
        id=backup.id,
        container=backup.container,
        volume_id=backup.volume_id,
        folder=backup.service_metadata,
    )


@dataclass(frozen=True)
class Restored:
    backup: Backup
    volume: Volume
    outcome: Outcome


# --- who can read a backup ------------------------------------------------------------------


async def readers(session: AsyncSession, runtime: Runtime, backup: Backup) -> list[BackupService]:
    """The backup services that can read the backup now: enabled and up, its own service
    first, then any other serving the same repository."""
    down_time = runtime.settings.service_down_time
    now = utcnow()
    services = [
        s
        for s in await backup_services.all_services(session)
        if not s.disabled and backup_services.is_up(s, down_time, now)
    ]
    own = next((s for s in services if s.host == backup.service), None)
    repository_of = own.repository if own is not None else await _repository_of(session, backup)
    others = [s for s in services if s is not own and s.repository == repository_of]
    return ([own] if own is not None else []) + others


async def _repository_of(session: AsyncSession, backup: Backup) -> str | None:
    """The repository of the service that made the backup (it may be down now)."""
    service = await backup_services.by_host(session, backup.service)
    return service.repository if service is not None else None


def _reaching(services: list[BackupService], backend: str) -> BackupService | None:
    return next((s for s in services if backend in (s.reaches or [])), None)


def _no_reader(backup: Backup) -> BadRequest:
    return BadRequest(
        f"Invalid backup: No backup service that can read backup {backup.id} is enabled and up."
    )


# --- restore --------------------------------------------------------------------------------


async def restore(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    backup_id: str,
    *,
    volume_id: str | None,
    name: str | None,
) -> Restored:
    """POST /backups/{id}/restore: into the caller's volume, or a new one."""
    await BACKUPS.get(session, ctx, backup_id)  # an unknown backup is a 404 first
    if volume_id is None:
        return await _restore_to_new(session, runtime, ctx, backup_id, name)
    volume = await vflows.get(session, ctx, volume_id, for_update=True)
    backup = await BACKUPS.get(session, ctx, backup_id, for_update=True)
    _check_available(backup)
    if volume.status != VolumeStatus.AVAILABLE:
        raise BadRequest(
            "Invalid volume: Volume to be restored to must be available, but the current "
            f'status is "{volume.status}".'
        )
    if volume.size < backup.size:
        raise BadRequest(
            f"Invalid volume: volume size {volume.size} is too small to restore backup of "
            f"size {backup.size}."
        )
    services = await _readers_of(session, runtime, backup)
    backend = split_host(volume.host or "")[0]
    service = _reaching(services, backend)
    if service is None:
        raise BadRequest(
            f"Invalid volume: No backup service that can read backup {backup.id} reaches "
            f"the backend of volume {volume.id} ({backend or 'none'})."
        )
    await lifecycle.transition(
        session, volume, (VolumeStatus.AVAILABLE,), RESTORING_BACKUP, "restore a backup"
    )
    outcome = Outcome()
    await _start(session, runtime, ctx, backup, volume, service, outcome, create=False)
    return Restored(backup, volume, outcome)


async def _restore_to_new(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    backup_id: str,
    name: str | None,
) -> Restored:
    """A new volume of the backup's size, named as Cinder names it, of the default type."""
    backup = await BACKUPS.get(session, ctx, backup_id, for_update=True)
    _check_available(backup)
    services = await _readers_of(session, runtime, backup)
    spec = vflows.CreateVolume(
        size=backup.size,
        name=name or f"restore_backup_{backup.id}",
        description="auto-created_from_restore_from_backup",
    )
    volume, outcome = await _new_volume(session, runtime, ctx, spec)
    if not await _place(session, runtime, ctx, backup, volume, spec, services, outcome):
        # Nothing is made: the transaction rolls back, the quota with it.
        raise BadRequest(
            f"Invalid backup: No pool that a backup service reading backup {backup.id} "
            f"reaches can take a volume of {backup.size} GB."
        )
    return Restored(backup, volume, outcome)


async def create_volume(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    spec: vflows.CreateVolume,
    backup_id: str,
) -> tuple[Volume, Outcome]:
    """POST /volumes with backup_id (3.47): the volume's own name, type and size (at
    least the backup's). No pool: the volume is created in error with a message, as a
    create that finds no backend."""
    if spec.group_id is not None:
        raise BadRequest("Invalid input received: A volume restored from a backup joins no group.")
    backup = await BACKUPS.get(session, ctx, backup_id, for_update=True)
    _check_available(backup)
    if spec.size < backup.size:
        raise BadRequest(
            f"Invalid input received: Volume size {spec.size}GB cannot be smaller than the "
            f"backup size {backup.size}GB. It must be >= backup size."
        )
    services = await _readers_of(session, runtime, backup)
    volume, outcome = await _new_volume(session, runtime, ctx, spec)
    if not await _place(session, runtime, ctx, backup, volume, spec, services, outcome):
        volume.status = VolumeStatus.ERROR
        await messages.about(
            session,
            volume,
            Action.SCHEDULE_ALLOCATE_VOLUME,
            Detail.NO_BACKEND_AVAILABLE,
            f"No pool that a backup service reading backup {backup.id} reaches can take it.",
            ctx.request_id,
        )
    return volume, outcome


def _check_available(backup: Backup) -> None:
    if backup.status != BackupStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid backup: Backup status must be available, but the current status is "
            f'"{backup.status}".'
        )


async def _readers_of(
    session: AsyncSession, runtime: Runtime, backup: Backup
) -> list[BackupService]:
    services = await readers(session, runtime, backup)
    if not services:
        raise _no_reader(backup)
    return services


async def _new_volume(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: vflows.CreateVolume
) -> tuple[Volume, Outcome]:
    """The volume row (creating), its quota taken, in the caller's transaction."""
    settings = runtime.settings
    vflows.check_zone(runtime, spec.availability_zone)
    vtype = (
        await vtypes.get(session, ctx, spec.volume_type)
        if spec.volume_type
        else await vtypes.default(session, settings.default_volume_type)
    )
    await quotas.consume(session, settings, ctx.project_id, {"volumes": 1, "gigabytes": spec.size})
    # The volume row as a create makes it (a group is not taken from a restore's body).
    volume = await vflows.new_volume(
        session,
        ctx,
        dataclasses.replace(spec, group_id=None),
        vtype,
        zone=spec.availability_zone or settings.default_availability_zone,
    )
    return volume, Outcome()


async def _place(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    backup: Backup,
    volume: Volume,
    spec: vflows.CreateVolume,
    services: list[BackupService],
    outcome: Outcome,
) -> bool:
    """Claim a pool of a backend one of `services` reaches and start the restore there
    (the agent creates the volume's storage first); False when no such pool takes it."""
    vtype = await session.get(VolumeType, volume.volume_type_id)
    assert vtype is not None  # the volume's type, just looked up
    request = await vflows.volume_request(
        session, volume, vtype, zone=spec.availability_zone, hints=spec.scheduler_hints, tried=set()
    )
    reached = frozenset(host for s in services for host in (s.reaches or []))
    placed = await vflows.place(session, runtime, replace(request, only_backends=reached), outcome)
    if placed is None:
        return False
    volume.host, volume.pool_id, volume.availability_zone = placed
    volume.status = RESTORING_BACKUP
    service = _reaching(services, split_host(volume.host)[0])
    assert service is not None  # the pool is of a backend one of them reaches
    await _start(session, runtime, ctx, backup, volume, service, outcome, create=True)
    return True


async def _start(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    backup: Backup,
    volume: Volume,
    service: BackupService,
    outcome: Outcome,
    *,
    create: bool,
) -> None:
    """The backup `restoring` (naming the volume) and the job, on `service`."""
    if not await lifecycle.move(
        session,
        backup,
        {"status": BackupStatus.AVAILABLE},
        status=BackupStatus.RESTORING,
        restore_volume_id=volume.id,
    ):
        _check_available(backup)
    jobs.enqueue(
        session,
        kind=jobkinds.RESTORE_BACKUP,
        payload=jobkinds.RestoreBackupPayload(
            backup=backup_ref(backup),
            volume=vflows.volume_ref(volume),
            create=create,
            qos_specs=await qos_specs.for_type(session, volume.volume_type_id) if create else None,
        ),
        backend=service.host,
        resource_id=backup.id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=ctx.request_id,
    )
    outcome.job_queued = True


# --- how a restore ends ---------------------------------------------------------------------


async def _locked(session: AsyncSession, job: Job) -> tuple[str, Volume | None, Backup | None]:
    """The restore's volume id, its volume, then its backup, locked (the lock order)."""
    volume_id = jobkinds.RESTORE_BACKUP.load(job.payload).volume.id
    volume = await repository.VOLUMES.lock(session, volume_id)
    backup = await BACKUPS.lock(session, job.resource_id)
    return volume_id, volume, backup


async def _backup_back(session: AsyncSession, backup: Backup | None, volume_id: str) -> None:
    if backup is not None:
        await lifecycle.move(
            session,
            backup,
            {"status": BackupStatus.RESTORING, "restore_volume_id": volume_id},
            status=BackupStatus.AVAILABLE,
            restore_volume_id=None,
        )


async def restored(
    session: AsyncSession, _runtime: Runtime, job: Job, result: jobkinds.BackupRestored
) -> Outcome:
    volume_id, volume, backup = await _locked(session, job)
    if volume is not None:
        values = {"status": VolumeStatus.AVAILABLE}
        if result.provider_location is not None:
            values["provider_location"] = result.provider_location
        await lifecycle.move(session, volume, {"status": RESTORING_BACKUP}, **values)
    await _backup_back(session, backup, volume_id)
    return Outcome()


async def restore_failed(session: AsyncSession, _runtime: Runtime, job: Job) -> Outcome:
    volume_id, volume, backup = await _locked(session, job)
    await volume_gives_up(session, volume, backup, jobs.failure_reason(job, "backup"), job)
    await _backup_back(session, backup, volume_id)
    return Outcome()


async def volume_gives_up(
    session: AsyncSession,
    volume: Volume | None,
    backup: Backup | None,
    why: str,
    job: Job,
) -> None:
    """The restore into `volume` ended without its data: the volume goes to error, with
    a user message naming the backup and why."""
    if volume is None:
        return
    if await lifecycle.move(
        session, volume, {"status": RESTORING_BACKUP}, status=VolumeStatus.ERROR
    ):
        backup_id = backup.id if backup is not None else job.resource_id
        await messages.about(
            session,
            volume,
            Action.BACKUP_RESTORE,
            Detail.BACKUP_RESTORE_ERROR,
            f"Backup {backup_id}: {why}",
            job.request_id,
        )


async def cancelled(session: AsyncSession, job: Job, backup: Backup) -> None:
    """A force delete of the backup cancelled its restore: the volume is left without
    its data. The force delete locked the jobs, the volume (flows.lock_for_force) and the
    backup already, in the lock order."""
    volume_id = jobkinds.RESTORE_BACKUP.load(job.payload).volume.id
    volume = await repository.VOLUMES.lock(session, volume_id)
    await volume_gives_up(session, volume, backup, "the backup was force-deleted", job)
