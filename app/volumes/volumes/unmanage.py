"""Unmanage (Cinder's os-unmanage of volumes and snapshots) and the manageable listings
(Cinder's get_manageable_volumes / get_manageable_snapshots).

Unmanage is a delete that keeps the data: the volume (or snapshot) goes to 'unmanaging'
with an `unmanage_*` job; the agent lets go of the storage (removes its export, renames
and removes nothing); then, in the transaction of the result, the row goes and its
quota and pool claim are given back, exactly as a delete's end. A failed unmanage puts
the volume back in the status it had (the snapshot in 'error'), with a user message.
The storage can be managed again (app/volumes/kernel/adoption.py).

A listing is a job too: the request queues `list_manageable_*` for the backend's agent
with the ids the database knows there, and, after its commit, waits for the answer
(bounded by `connection_timeout`, as a connection waits for its export)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Job, Snapshot, Volume
from app.errors import BadRequest, NotFound, PumiceError
from app.runtime import Runtime
from app.volumes.attachments import flows as attachments
from app.volumes.kernel import jobs, lifecycle, messages
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import SnapshotStatus, VolumeStatus
from app.volumes.kernel.work import unit_of_work
from app.volumes.snapshots import flows as snapshots
from app.volumes.volumes.flows import finish_delete, queue_job, split_host, volume_ref
from app.volumes.volumes.results import gone_when, on_volume

# Cinder's volume delete with unmanage_only: these statuses, detached, no snapshots,
# in no group.
UNMANAGEABLE = (
    VolumeStatus.AVAILABLE,
    VolumeStatus.ERROR,
    "error_restoring",
    VolumeStatus.ERROR_EXTENDING,
    VolumeStatus.ERROR_MANAGING,
)
SNAPSHOT_UNMANAGEABLE = (SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR)


async def unmanage_volume(
    session: AsyncSession, runtime: Runtime, volume: Volume, request_id: str | None
) -> Outcome:
    """'unmanaging' and the unmanage job; gone at once when never placed. The caller
    holds the volume's lock."""
    if volume.attach_status != "detached":
        raise BadRequest(f"Invalid volume: Volume {volume.id} is attached; detach it first.")
    await attachments.check_detached(session, volume, "unmanage it")
    if volume.group_id is not None:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} belongs to group {volume.group_id}; "
            "remove it from the group before unmanaging it."
        )
    if await snapshots.has_snapshots(session, volume.id):
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} has snapshots; unmanage or delete them "
            "before unmanaging it."
        )
    await lifecycle.transition(
        session,
        volume,
        UNMANAGEABLE,
        VolumeStatus.UNMANAGING,
        "unmanage",
        previous_status=volume.status,
    )
    outcome = Outcome()
    if volume.pool_id is None:  # never placed: nothing exists on any backend
        await finish_delete(session, volume, outcome, runtime)
        return outcome
    payload = jobkinds.VolumeJob(volume=volume_ref(volume))
    queue_job(session, runtime, volume, jobkinds.UNMANAGE_VOLUME, payload, outcome, request_id)
    return outcome


async def unmanage_snapshot(
    session: AsyncSession,
    runtime: Runtime,
    snapshot: Snapshot,
    volume: Volume,
    request_id: str | None,
) -> Outcome:
    """'unmanaging' and the unmanage job, run by the agent of the volume's backend. The
    caller holds both rows' locks (volume first)."""
    await lifecycle.transition(
        session, snapshot, SNAPSHOT_UNMANAGEABLE, SnapshotStatus.UNMANAGING, "unmanage"
    )
    outcome = Outcome()
    if snapshot.pool_id is None and volume.pool_id is None:
        await snapshots.finish_delete(session, runtime, snapshot, volume, outcome, request_id)
        return outcome
    payload = jobkinds.SnapshotJob(snapshot=snapshots.snapshot_ref(snapshot))
    queue_job(
        session,
        runtime,
        volume,
        jobkinds.UNMANAGE_SNAPSHOT,
        payload,
        outcome,
        request_id,
        resource_id=snapshot.id,
    )
    return outcome


# --- the agent's answer (registered in app/volumes/results.py) --------------------------------


async def _volume_unmanage_failed(
    session: AsyncSession, _rt: Runtime, job: Job, volume: Volume, _o: Outcome
) -> None:
    back = volume.previous_status or VolumeStatus.ERROR
    if await lifecycle.move(
        session, volume, {"status": VolumeStatus.UNMANAGING}, status=back, previous_status=None
    ):
        await messages.about_volume(
            session,
            volume,
            Action.UNMANAGE_VOLUME,
            Detail.DRIVER_FAILED,
            jobs.failure_reason(job),
            job.request_id,
        )


async def _snapshot_unmanage_failed(
    session: AsyncSession,
    _rt: Runtime,
    job: Job,
    snapshot: Snapshot,
    _volume: Volume,
    _o: Outcome,
) -> None:
    if await lifecycle.move(
        session, snapshot, {"status": SnapshotStatus.UNMANAGING}, status=SnapshotStatus.ERROR
    ):
        await messages.about(
            session,
            snapshot,
            Action.UNMANAGE_SNAPSHOT,
            Detail.DRIVER_FAILED,
            jobs.failure_reason(job),
            job.request_id,
        )


volume_unmanaged = on_volume(gone_when(VolumeStatus.UNMANAGING))
volume_unmanage_failed = on_volume(_volume_unmanage_failed)
snapshot_unmanaged = snapshots.on_snapshot(snapshots.gone_when(SnapshotStatus.UNMANAGING))
snapshot_unmanage_failed = snapshots.on_snapshot(_snapshot_unmanage_failed)


# --- manageable listings ----------------------------------------------------------------------


class ListingFailed(PumiceError):
    """The backend's agent could not list its storage (or not in time): Cinder answers
    a backend's failure with a 500 that says why."""

    code = 500


LISTINGS = {
    "volume": jobkinds.LIST_MANAGEABLE_VOLUMES,
    "snapshot": jobkinds.LIST_MANAGEABLE_SNAPSHOTS,
}


async def queue_listing(
    session: AsyncSession, runtime: Runtime, host: str, resource: str, request_id: str | None
) -> Job:
    """The listing job for the backend of `host` ('node@backend', a '#pool' ignored),
    with the ids of the volumes (snapshots) the database has there."""
    backend = split_host(host)[0]
    if runtime.cache.backend(backend) is None:
        raise NotFound(f"Service {host} could not be found.")
    on_backend = (Volume.host == backend) | Volume.host.startswith(f"{backend}#", autoescape=True)
    if resource == "volume":
        query = select(Volume.id).where(on_backend)
    else:
        query = select(Snapshot.id).join(Volume, Volume.id == Snapshot.volume_id).where(on_backend)
    known = sorted(await session.scalars(query))
    return jobs.enqueue(
        session,
        kind=LISTINGS[resource],
        payload=jobkinds.ListManageablePayload(known_ids=known),
        backend=backend,
        # A listing has no row of its own: an id of its own keeps it apart from any.
        resource_id=str(uuid.uuid4()),
        max_attempts=1,
        request_id=request_id,
    )


async def listing_answer(
    runtime: Runtime, job_id: int, request_id: str
) -> list[jobkinds.ManageableItem]:
    """The agent's list, once its job ended; ListingFailed when it failed or took longer
    than `connection_timeout` (the job is then cancelled)."""
    timeout = runtime.settings.connection_timeout
    job = await jobs.wait_for_end(runtime.sessionmaker, job_id, timeout)
    if job is None:
        async with unit_of_work(runtime, request_id=request_id) as work:
            cancelled = await jobs.cancel(work.session, job_id, "no answer in time")
        if cancelled is not None:
            raise ListingFailed(
                f"The storage agent did not list its storage within {timeout:g} seconds "
                "(connection_timeout); try again later."
            )
        job = await jobs.wait_for_end(runtime.sessionmaker, job_id, 0)
        assert job is not None
    if job.state != jobs.SUCCEEDED:
        raise ListingFailed(f"Unable to list manageable storage: {jobs.failure_reason(job)}")
    kind = LISTINGS["volume"] if job.kind == LISTINGS["volume"].name else LISTINGS["snapshot"]
    return list(kind.load_result(job.result).items)


async def listed(session: AsyncSession, _rt: Runtime, _job: Job, _r: Any) -> Outcome:
    """A listing's end changes nothing: its requester reads the result."""
    return Outcome()


async def listing_failed(session: AsyncSession, _rt: Runtime, _job: Job) -> Outcome:
    return Outcome()
