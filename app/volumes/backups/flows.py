"""Backup flows: create (Cinder's SchedulerManager.create_backup: choose a backup service
that can read the volume), delete, reset-status, force-delete, and what a finished backup
job means for the backup and its volume.

Quota: a backup holds `backups` 1 and `backup_gigabytes` its size in every status but
`error`. A backup that could not be scheduled, or whose create failed, gives its quota
back in that transaction; a reset to or from `error` takes or gives it accordingly. So
the usage counters always equal what the live backups hold.

Lock order (as everywhere): job, volume, backup, quota usage, (no pool: a backup claims
no pool capacity)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Concatenate

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Backup, BackupService, Job, Snapshot, Volume, utcnow
from app.errors import BadRequest
from app.runtime import Runtime
from app.volumes.backups import restore
from app.volumes.backups import services as backup_services
from app.volumes.kernel import jobs, lifecycle, messages, quotas, repository
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import More, Outcome
from app.volumes.kernel.states import BackupStatus, VolumeStatus
from app.volumes.snapshots.flows import SnapshotStatus, snapshot_ref
from app.volumes.volumes import flows as vflows
from app.volumes.volumes.flows import split_host

DEFAULT_CONTAINER = "volumebackups"
# The volume's status while an agent reads it for a backup (Cinder's name).
BACKING_UP = "backing-up"


def holds_quota(status: str) -> bool:
    return status != BackupStatus.ERROR


@dataclass(frozen=True)
class CreateBackup:
    volume_id: str
    name: str | None = None
    description: str | None = None
    container: str | None = None
    incremental: bool = False
    force: bool = False
    snapshot_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    availability_zone: str | None = None


BACKUPS = repository.BACKUPS
visible = BACKUPS.visible
get = BACKUPS.get


# --- create -------------------------------------------------------------------------------


async def create(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: CreateBackup
) -> tuple[Backup, Outcome]:
    volume = await vflows.get(session, ctx, spec.volume_id, for_update=True)
    snapshot = None
    if spec.snapshot_id is not None:
        snapshot = await _snapshot_to_back_up(session, ctx, spec.snapshot_id, volume)
    parent = await _parent(session, volume, snapshot) if spec.incremental else None
    if volume.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
        raise BadRequest(
            "Invalid volume: Volume to be backed up must be available or in-use, but the "
            f'current status is "{volume.status}".'
        )
    if volume.status == VolumeStatus.IN_USE and not spec.force and snapshot is None:
        raise BadRequest("Invalid volume: Backing up an in-use volume must use the force flag.")
    outcome = Outcome()
    deltas = {"backups": 1, "backup_gigabytes": volume.size}
    await quotas.consume(session, runtime.settings, ctx.project_id, deltas)
    service = await choose_service(session, runtime, volume, spec.availability_zone)
    now = utcnow()
    backup = Backup(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        volume_id=volume.id,
        snapshot_id=snapshot.id if snapshot else None,
        # What point in time the backup holds: the snapshot's, or the request's.
        data_timestamp=snapshot.created_at if snapshot else now,
        created_at=now,
        name=spec.name,
        description=spec.description,
        container=spec.container or DEFAULT_CONTAINER,
        size=volume.size,
        status=BackupStatus.CREATING,
        availability_zone=(
            service.availability_zone
            if service
            else spec.availability_zone or volume.availability_zone
        ),
        service=service.host if service else None,
        backup_metadata=dict(spec.metadata),
        is_incremental=parent is not None,
        parent_id=parent.id if parent is not None else None,
    )
    session.add(backup)
    await session.flush()
    if service is None:
        # Cinder: the backup goes to error, the volume keeps its status, the user is told.
        await quotas.release(session, ctx.project_id, deltas)
        backup.status = BackupStatus.ERROR
        backup.fail_reason = (
            f"No backup service that is enabled, up and can read volume {volume.id} "
            f"(backend {split_host(volume.host or '')[0] or 'none'})"
            + (f" in zone {spec.availability_zone}" if spec.availability_zone else "")
            + "."
        )
        await messages.about(
            session,
            backup,
            Action.BACKUP_CREATE,
            Detail.BACKUP_SCHEDULE_ERROR,
            backup.fail_reason,
            ctx.request_id,
        )
        return backup, outcome
    payload = jobkinds.CreateBackupPayload(
        backup=_backup_ref(backup),
        volume=vflows.volume_ref(volume),
        snapshot=snapshot_ref(snapshot) if snapshot is not None else None,
        parent=_backup_ref(parent) if parent is not None else None,
    )
    if snapshot is not None:
        # The snapshot is read, not the volume: the volume stays usable meanwhile.
        await lifecycle.conditional_update(
            session,
            Snapshot,
            snapshot.id,
            {"status": SnapshotStatus.AVAILABLE},
            {"status": BACKING_UP},
        )
    else:
        await lifecycle.transition(
            session,
            volume,
            (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE),
            BACKING_UP,
            "back up",
            previous_status=volume.status,
        )
    jobs.enqueue(
        session,
        kind=jobkinds.CREATE_BACKUP,
        payload=payload,
        backend=service.host,
        resource_id=backup.id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=ctx.request_id,
    )
    outcome.job_queued = True
    return backup, outcome


async def choose_service(
    session: AsyncSession, runtime: Runtime, volume: Volume, zone: str | None
) -> BackupService | None:
    """Cinder's get_backup_host: a backup service that is enabled, up and reaches the
    volume's backend (an agent reads volumes of its own backends, the 'same host' Cinder
    prefers); in the requested zone if one is given, else preferring the volume's zone;
    then the least busy (fewest queued and running backup jobs), ties at random."""
    backend = split_host(volume.host or "")[0]
    down_time = runtime.settings.service_down_time
    now = utcnow()
    candidates = [
        s
        for s in await backup_services.all_services(session)
        if not s.disabled
        and backup_services.is_up(s, down_time, now)
        and backend in (s.reaches or [])
        and (zone is None or s.availability_zone == zone)
    ]
    if not candidates:
        return None
    rows = await session.execute(
        select(Job.backend, func.count())
        .where(
            Job.backend.in_([s.host for s in candidates]),
            Job.state.in_((jobs.PENDING, jobs.RUNNING)),
        )
        .group_by(Job.backend)
    )
    load = {host: int(n) for host, n in rows}
    return min(
        candidates,
        key=lambda s: (
            s.availability_zone != volume.availability_zone,
            load.get(s.host, 0),
            random.random(),
        ),
    )


async def _snapshot_to_back_up(
    session: AsyncSession, ctx: RequestContext, snapshot_id: str, volume: Volume
) -> Snapshot:
    """The caller's snapshot of `volume`, locked (after the volume), and available."""
    snapshot = await repository.SNAPSHOTS.get(session, ctx, snapshot_id, for_update=True)
    if snapshot.volume_id != volume.id:
        raise BadRequest(
            f"Invalid input received: Snapshot {snapshot_id} is not a snapshot of volume "
            f"{volume.id}."
        )
    if snapshot.status != SnapshotStatus.AVAILABLE:
        raise BadRequest(
            "Invalid snapshot: Snapshot to be backed up must be available, but the current "
            f'status is "{snapshot.status}".'
        )
    return snapshot


_backup_ref = restore.backup_ref


async def _parent(session: AsyncSession, volume: Volume, snapshot: Snapshot | None) -> Backup:
    """The parent of an incremental backup, as Cinder chooses it: the volume's backup
    with the latest data_timestamp (of a snapshot: the latest older than the snapshot),
    which must be available."""
    query = select(Backup).where(
        Backup.volume_id == volume.id, Backup.project_id == volume.project_id
    )
    if snapshot is not None:
        query = query.where(Backup.data_timestamp < snapshot.created_at)
    latest = (
        await session.scalars(
            query.order_by(Backup.data_timestamp.desc(), Backup.created_at.desc()).limit(1)
        )
    ).first()
    if latest is None:
        raise BadRequest("Invalid backup: No backups available to do an incremental backup.")
    if latest.status != BackupStatus.AVAILABLE:
        raise BadRequest(
            "Invalid backup: The parent backup must be available for incremental backup."
        )
    return latest


async def dependents(session: AsyncSession, backup_ids: list[str]) -> set[str]:
    """Which of these backups an incremental backup builds on."""
    if not backup_ids:
        return set()
    rows = await session.scalars(
        select(Backup.parent_id).where(Backup.parent_id.in_(backup_ids)).distinct()
    )
    return {row for row in rows if row is not None}


# --- delete, reset, force delete ----------------------------------------------------------


async def lock_for_force(session: AsyncSession, ctx: RequestContext, backup_id: str) -> Backup:
    """The backup, locked after its in-flight jobs and its volume (the lock order of a
    result), for a force delete that cancels those jobs."""
    backup = await get(session, ctx, backup_id)
    await jobs.active(session, backup.id, lock=True)
    await _lock_source(session, backup)
    if backup.restore_volume_id is not None:
        await repository.VOLUMES.lock(session, backup.restore_volume_id)
    return await get(session, ctx, backup_id, for_update=True)


async def delete(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    backup: Backup,
    *,
    force: bool = False,
) -> Outcome:
    """Deleting (a job on the backup's service removes its objects), or gone at once
    when it never reached a service."""
    outcome = Outcome()
    if await dependents(session, [backup.id]):
        # Cinder refuses it, force or not: the incremental backups need this one.
        raise BadRequest("Invalid backup: Incremental backups exist for this backup.")
    held = holds_quota(backup.status)
    # A force delete takes a backup in any status, overriding its jobs in flight.
    for job in await lifecycle.start_delete(session, backup, force=force):
        if job.kind == jobkinds.CREATE_BACKUP.name:
            await _give_source_back(session, backup)
        elif job.kind == jobkinds.RESTORE_BACKUP.name:
            await restore.cancelled(session, job, backup)
        elif job.kind == jobkinds.DELETE_BACKUP.name:
            # 'deleting' does not say whether it came from error: the job knows.
            held = jobkinds.DELETE_BACKUP.load(job.payload).quota_held
    if backup.service is None:
        # Never scheduled: nothing was stored anywhere.
        await _finish_delete(session, backup, held)
        return outcome
    jobs.enqueue(
        session,
        kind=jobkinds.DELETE_BACKUP,
        payload=jobkinds.DeleteBackupPayload(backup=_backup_ref(backup), quota_held=held),
        backend=backup.service,
        resource_id=backup.id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=ctx.request_id,
    )
    outcome.job_queued = True
    return outcome


async def reset_status(
    session: AsyncSession, runtime: Runtime, backup: Backup, status: object
) -> None:
    """os-reset_status (admin): to available or error, never under a job in flight;
    the quota follows (an error backup holds none)."""
    before = holds_quota(backup.status)
    await lifecycle.reset_status(session, backup, status)
    after = holds_quota(backup.status)
    deltas = {"backups": 1, "backup_gigabytes": backup.size}
    if after and not before:
        await quotas.consume(session, runtime.settings, backup.project_id, deltas)
    elif before and not after:
        await quotas.release(session, backup.project_id, deltas)


async def _finish_delete(session: AsyncSession, backup: Backup, held: bool) -> None:
    if held:
        await quotas.release(
            session, backup.project_id, {"backups": 1, "backup_gigabytes": backup.size}
        )
    await session.delete(backup)


# --- results --------------------------------------------------------------------------------


async def _lock_source(session: AsyncSession, backup: Backup) -> None:
    """Lock what a create reads (volume, then its snapshot), in the flows' lock order."""
    await repository.VOLUMES.lock(session, backup.volume_id)
    if backup.snapshot_id is not None:
        await repository.SNAPSHOTS.lock(session, backup.snapshot_id)


async def _give_source_back(session: AsyncSession, backup: Backup) -> None:
    """The create ended either way: its snapshot, or its volume, leaves backing-up."""
    if backup.snapshot_id is not None:
        await lifecycle.conditional_update(
            session,
            Snapshot,
            backup.snapshot_id,
            {"status": BACKING_UP},
            {"status": SnapshotStatus.AVAILABLE},
        )
    else:
        await _give_volume_back(session, backup.volume_id)


async def _give_volume_back(session: AsyncSession, volume_id: str) -> None:
    """The volume leaves backing-up for the status it had (the backup ended either way)."""
    volume = await session.get(Volume, volume_id)
    if volume is None:
        return
    await lifecycle.move(
        session,
        volume,
        {"status": BACKING_UP},
        status=func.coalesce(Volume.previous_status, VolumeStatus.AVAILABLE),
        previous_status=BACKING_UP,
    )


BackupEnd = Callable[Concatenate[AsyncSession, Job, Backup, More], Awaitable[None]]


def on_backup(
    end: BackupEnd[More], *, reads_source: bool
) -> Callable[Concatenate[AsyncSession, Runtime, Job, More], Awaitable[Outcome]]:
    """A backup job's end (the agent's result, or the reaper's verdict): the backup
    locked (after the volume or snapshot it reads, when `reads_source`: the lock
    order), then `end`; nothing when the backup is gone."""

    async def apply(
        session: AsyncSession, _runtime: Runtime, job: Job, *more: More.args, **kw: More.kwargs
    ) -> Outcome:
        outcome = Outcome()
        found = await session.get(Backup, job.resource_id)
        if found is None:
            return outcome
        if reads_source:
            await _lock_source(session, found)
        backup = await BACKUPS.lock(session, job.resource_id)
        if backup is not None:
            await end(session, job, backup, *more, **kw)
        return outcome

    return apply


async def made(session: AsyncSession, backup: Backup, object_count: int) -> None:
    """A creating backup (made, or imported) is available."""
    await lifecycle.move(
        session,
        backup,
        {"status": BackupStatus.CREATING},
        status=BackupStatus.AVAILABLE,
        object_count=object_count,
        fail_reason=None,
    )


async def not_made(
    session: AsyncSession, job: Job, backup: Backup, action: Action, detail: Detail
) -> None:
    """A creating backup (made, or imported) failed: error, its quota given back, the
    user told why."""
    if await lifecycle.move(
        session,
        backup,
        {"status": BackupStatus.CREATING},
        status=BackupStatus.ERROR,
        fail_reason=jobs.failure_reason(job, "backup"),
    ):
        await quotas.release(
            session, backup.project_id, {"backups": 1, "backup_gigabytes": backup.size}
        )
        await messages.about(session, backup, action, detail, backup.fail_reason, job.request_id)


async def _backed_up(
    session: AsyncSession, _job: Job, backup: Backup, result: jobkinds.BackupCreated
) -> None:
    await _give_source_back(session, backup)
    await made(session, backup, result.object_count)


async def _backup_failed(session: AsyncSession, job: Job, backup: Backup) -> None:
    await _give_source_back(session, backup)
    await not_made(session, job, backup, Action.BACKUP_CREATE, Detail.BACKUP_CREATE_DRIVER_ERROR)


def _quota_held(job: Job) -> bool:
    return jobkinds.DELETE_BACKUP.load(job.payload).quota_held


async def _backup_deleted(
    session: AsyncSession, job: Job, backup: Backup, _result: jobkinds.NoResult
) -> None:
    if backup.status == BackupStatus.DELETING:
        await _finish_delete(session, backup, _quota_held(job))


async def _delete_failed(session: AsyncSession, job: Job, backup: Backup) -> None:
    if backup.status != BackupStatus.DELETING:
        return
    held = _quota_held(job)
    # A backup that held quota stays counted in error_deleting; one that did not (it
    # was in error) goes back to error, so "error holds no quota" stays true.
    to = BackupStatus.ERROR_DELETING if held else BackupStatus.ERROR
    if await lifecycle.move(
        session,
        backup,
        {"status": BackupStatus.DELETING},
        status=to,
        fail_reason=jobs.failure_reason(job, "backup"),
    ):
        await messages.about(
            session,
            backup,
            Action.BACKUP_DELETE,
            Detail.BACKUP_DELETE_DRIVER_ERROR,
            backup.fail_reason,
            job.request_id,
        )


# How each backup job ends (registered per kind in app/volumes/results.py).
created = on_backup(_backed_up, reads_source=True)
create_failed = on_backup(_backup_failed, reads_source=True)
deleted = on_backup(_backup_deleted, reads_source=False)
delete_failed = on_backup(_delete_failed, reads_source=False)
