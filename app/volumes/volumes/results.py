"""What a finished volume job means for its volume: the status change (and claim or
quota release) that the agent's result, or the reaper's verdict, calls for. Runs in the
transaction that records the job's end; app/volumes/results.py registers each kind's
success and failure handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Job, Volume, VolumeType, utcnow
from app.runtime import Runtime
from app.volumes.capacity import claims
from app.volumes.groups import members as group_members
from app.volumes.kernel import jobs, lifecycle, messages
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import More, Outcome
from app.volumes.kernel.repository import VOLUMES
from app.volumes.kernel.states import VolumeStatus
from app.volumes.volumes import clones, extend, manage, migrate
from app.volumes.volumes.flows import (
    finish_delete,
    queue_copy_removal,
    release_extension,
    schedule,
    split_host,
    volume_ref,
    volume_request,
)

log = structlog.get_logger(__name__)

VolumeEnd = Callable[
    Concatenate[AsyncSession, Runtime, Job, Volume, Outcome, More], Awaitable[None]
]


def on_volume(
    end: VolumeEnd[More],
) -> Callable[Concatenate[AsyncSession, Runtime, Job, More], Awaitable[Outcome]]:
    """A job end that applies `end` to the job's volume, locked: a result, the reaper
    and an API request on the same volume then take turns (and the lock order stays
    job, volume, quota, pool); nothing when the volume is gone."""

    async def apply(
        session: AsyncSession, runtime: Runtime, job: Job, *more: More.args, **kw: More.kwargs
    ) -> Outcome:
        outcome = Outcome()
        volume = await VOLUMES.lock(session, job.resource_id)
        if volume is None:
            log.warning("job finished for a resource that is gone", job_id=job.id)
            return outcome
        await end(session, runtime, job, volume, outcome, *more, **kw)
        return outcome

    return apply


# --- success --------------------------------------------------------------------------------


async def _created(
    session: AsyncSession,
    _rt: Runtime,
    _job: Job,
    volume: Volume,
    _o: Outcome,
    result: jobkinds.Created,
) -> None:
    await lifecycle.move(
        session,
        volume,
        {"status": VolumeStatus.CREATING},
        status=VolumeStatus.AVAILABLE,
        launched_at=utcnow(),
        provider_location=result.provider_location,
    )


def gone_when(status: str) -> VolumeEnd[[jobkinds.NoResult]]:
    """The end of a job that removes the volume (a delete; an unmanage, which keeps the
    storage): the row, its quota and its claim go, if the volume is still in `status`."""

    async def gone(
        session: AsyncSession,
        runtime: Runtime,
        _job: Job,
        volume: Volume,
        outcome: Outcome,
        _result: jobkinds.NoResult,
    ) -> None:
        if volume.status == status:
            await finish_delete(session, volume, outcome, runtime)

    return gone


async def _extended(
    session: AsyncSession,
    _rt: Runtime,
    job: Job,
    volume: Volume,
    _o: Outcome,
    _result: jobkinds.NoResult,
) -> None:
    await extend.extended(session, job, volume)


# --- failure ---------------------------------------------------------------------------------


async def _create_failed(
    session: AsyncSession, runtime: Runtime, job: Job, volume: Volume, outcome: Outcome
) -> None:
    """Release the failed placement and reschedule on a backend not tried yet, up to
    scheduler_max_attempts placements; then error, with every attempt's reason."""
    if volume.status != VolumeStatus.CREATING:
        return
    attempts = await _failed_creates(session, volume.id)
    failed_copy = volume_ref(volume) if volume.host else None
    if volume.pool_id is not None and volume.host:
        outcome.ledgers[split_host(volume.host)] = await claims.release(
            session, volume.pool_id, volume.size
        )
        volume.pool_id, volume.host = None, None
    await _place_again(session, runtime, job, volume, outcome, attempts)
    if failed_copy is not None:
        # An agent whose lease ran out may still finish the create after all: whatever
        # it leaves on that backend goes, so no file outlives the ledger's claim.
        keep = volume_ref(volume) if volume.host else None
        queue_copy_removal(session, runtime, volume.id, failed_copy, keep, outcome, job.request_id)


async def _place_again(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    volume: Volume,
    outcome: Outcome,
    attempts: list[tuple[str, str]],
) -> None:
    if len(attempts) < runtime.settings.scheduler_max_attempts:
        vtype = await session.get(VolumeType, volume.volume_type_id)
        asked = jobkinds.CREATE_VOLUME.load(job.payload).request or jobkinds.PlacementRequest()
        if vtype is not None:
            request = await volume_request(
                session,
                volume,
                vtype,
                zone=asked.availability_zone,
                hints=asked.scheduler_hints,
                tried={backend for backend, _ in attempts},
            )
            await schedule(
                session, runtime, volume, request, outcome, job.request_id, previous=attempts
            )
            return
    volume.status = VolumeStatus.ERROR
    volume.updated_at = utcnow()
    await messages.about_volume(
        session,
        volume,
        Action.CREATE_VOLUME_FROM_BACKEND,
        Detail.DRIVER_FAILED,
        "Attempts: " + "; ".join(f"{b}: {e}" for b, e in attempts),
        job.request_id,
    )


async def _failed_creates(session: AsyncSession, volume_id: str) -> list[tuple[str, str]]:
    """(backend, why) of every failed create of the volume, oldest first: the jobs table
    is the record of what was tried."""
    rows = await session.execute(
        select(Job.backend, Job.error)
        .where(
            Job.resource_id == volume_id,
            Job.kind == jobkinds.CREATE_VOLUME.name,
            Job.state == "failed",
        )
        .order_by(Job.id)
    )
    return [(backend, error or "unknown error") for backend, error in rows]


async def _delete_failed(
    session: AsyncSession, _rt: Runtime, job: Job, volume: Volume, _o: Outcome
) -> None:
    if await lifecycle.move(
        session, volume, {"status": VolumeStatus.DELETING}, status=VolumeStatus.ERROR_DELETING
    ):
        await group_members.member_delete_failed(session, volume)
        await messages.about_volume(
            session,
            volume,
            Action.DELETE_VOLUME,
            Detail.DRIVER_FAILED,
            jobs.failure_reason(job),
            job.request_id,
        )


async def _extend_failed(
    session: AsyncSession, _rt: Runtime, job: Job, volume: Volume, outcome: Outcome
) -> None:
    if not await lifecycle.move(
        session, volume, {"status": VolumeStatus.EXTENDING}, status=VolumeStatus.ERROR_EXTENDING
    ):
        return
    await release_extension(session, volume, job, outcome)
    await messages.about_volume(
        session,
        volume,
        Action.EXTEND_VOLUME,
        Detail.DRIVER_FAILED,
        jobs.failure_reason(job),
        job.request_id,
    )


async def _cleanup_failed(
    _session: AsyncSession, _rt: Runtime, job: Job, _volume: Volume, _o: Outcome
) -> None:
    # Not the user's to fix and not their volume's state: the operator's log says it.
    log.error(
        "an old copy of a volume could not be removed",
        job_id=job.id,
        backend=job.backend,
        volume_id=job.resource_id,
        error=job.error,
    )


async def _cloned(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    volume: Volume,
    outcome: Outcome,
    result: jobkinds.Created,
) -> None:
    if volume.status == VolumeStatus.CREATING:
        await group_members.copy_member_done(session, volume, VolumeStatus.AVAILABLE)
    await _created(session, runtime, job, volume, outcome, result)


async def _clone_failed(
    session: AsyncSession, runtime: Runtime, job: Job, volume: Volume, outcome: Outcome
) -> None:
    if volume.status == VolumeStatus.CREATING:
        await group_members.copy_member_done(session, volume, VolumeStatus.ERROR)
    await clones.clone_failed(session, runtime, job, volume, outcome)


# How each volume job ends (registered per kind in app/volumes/results.py).
created, create_failed = on_volume(_created), on_volume(_create_failed)
deleted, delete_failed = on_volume(gone_when(VolumeStatus.DELETING)), on_volume(_delete_failed)
extended, extend_failed = on_volume(_extended), on_volume(_extend_failed)
managed, manage_failed = on_volume(manage.managed), on_volume(manage.manage_failed)
migrated, migrate_failed = on_volume(migrate.migrated), on_volume(migrate.migrate_failed)
cleaned, cleanup_failed = on_volume(migrate.cleaned), on_volume(_cleanup_failed)
exported_for_copy = on_volume(migrate.exported_for_copy)
export_for_copy_failed = on_volume(migrate.export_for_copy_failed)
cloned, clone_failed = on_volume(_cloned), on_volume(_clone_failed)
