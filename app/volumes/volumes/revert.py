"""Revert a volume to its latest snapshot (3.40, Cinder's revert_to_snapshot): the API's
checks, both rows moved in one transaction with the agent's job, and how the job ends.

Lock order, as every flow: job, volume, snapshot, quota usage, pool."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Job, Snapshot, Volume
from app.errors import BadRequest, Conflict
from app.runtime import Runtime
from app.volumes.groups import members as group_members
from app.volumes.kernel import jobs, lifecycle, messages
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.repository import SNAPSHOTS
from app.volumes.kernel.states import SnapshotStatus, VolumeStatus
from app.volumes.snapshots.flows import snapshot_ref
from app.volumes.volumes.flows import queue_job, volume_ref


async def latest_snapshot(session: AsyncSession, volume_id: str) -> Snapshot | None:
    """The volume's newest snapshot by created_at (whatever its status), as Cinder's
    get_latest_snapshot."""
    query = (
        select(Snapshot)
        .where(Snapshot.volume_id == volume_id)
        .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def revert(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    snapshot_id: object,
) -> Outcome:
    """`{"revert": {"snapshot_id": ...}}` on `volume` (locked by the caller): only to
    its latest snapshot, of its size (400 otherwise, as Cinder's API); then the volume
    `available → reverting` and the snapshot `available → restoring` (409 when either is
    not available, as Cinder's), and the agent's `revert_volume_to_snapshot` job."""
    latest = await latest_snapshot(session, volume.id)
    if latest is None:
        raise BadRequest(f"Volume {volume.id} doesn't have any snapshots.")
    if not isinstance(snapshot_id, str) or snapshot_id != latest.id:
        raise BadRequest(
            f"Specified snapshot {snapshot_id} is None or not the latest one of volume {volume.id}."
        )
    snapshot = await SNAPSHOTS.get(session, ctx, snapshot_id, for_update=True)
    if volume.size != snapshot.size:
        raise BadRequest(
            f"Can't revert volume {volume.id} to its latest snapshot {snapshot.id}. The "
            "volume size must be equal to the snapshot size."
        )
    # A clone being copied from the volume would read a mix of both.
    await group_members.check_not_cloning(session, volume, "revert it")
    cannot = f"Can't revert volume {volume.id} to its latest snapshot {snapshot.id}."
    if not await lifecycle.move(
        session,
        volume,
        {"status": VolumeStatus.AVAILABLE},
        status=VolumeStatus.REVERTING,
        previous_status=VolumeStatus.AVAILABLE,
    ):
        raise Conflict(f"{cannot} Volume's status must be 'available'.")
    if not await lifecycle.move(
        session,
        snapshot,
        {"status": SnapshotStatus.AVAILABLE},
        status=SnapshotStatus.RESTORING,
    ):
        raise Conflict(f"{cannot} Snapshot's status must be 'available'.")
    outcome = Outcome()
    payload = jobkinds.RevertToSnapshotPayload(
        volume=volume_ref(volume), snapshot=snapshot_ref(snapshot)
    )
    queue_job(
        session,
        runtime,
        volume,
        jobkinds.REVERT_VOLUME_TO_SNAPSHOT,
        payload,
        outcome,
        ctx.request_id,
    )
    return outcome


# --- how the job ends (registered in app/volumes/results.py) --------------------------------


async def _restored(session: AsyncSession, job: Job) -> None:
    """The snapshot is available again, whatever the revert's end (locked after the
    volume: the lock order)."""
    snapshot_id = jobkinds.REVERT_VOLUME_TO_SNAPSHOT.load(job.payload).snapshot.id
    snapshot = await SNAPSHOTS.lock(session, snapshot_id)
    if snapshot is not None:
        await lifecycle.move(
            session,
            snapshot,
            {"status": SnapshotStatus.RESTORING},
            status=SnapshotStatus.AVAILABLE,
        )


async def reverted(
    session: AsyncSession,
    _rt: Runtime,
    job: Job,
    volume: Volume,
    _o: Outcome,
    _result: jobkinds.NoResult,
) -> None:
    await lifecycle.move(
        session, volume, {"status": VolumeStatus.REVERTING}, status=VolumeStatus.AVAILABLE
    )
    await _restored(session, job)


async def revert_failed(
    session: AsyncSession, _rt: Runtime, job: Job, volume: Volume, _o: Outcome
) -> None:
    """As Cinder: the volume in error (its data may be half of each), the snapshot
    available; a message says why."""
    if await lifecycle.move(
        session, volume, {"status": VolumeStatus.REVERTING}, status=VolumeStatus.ERROR
    ):
        await messages.about_volume(
            session,
            volume,
            Action.REVERT_VOLUME,
            Detail.DRIVER_FAILED,
            jobs.failure_reason(job),
            job.request_id,
        )
    await _restored(session, job)
