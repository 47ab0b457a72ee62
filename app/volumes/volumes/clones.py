"""How a `clone_volume` job ends for its volume (a member of a group created from a
source group). Success is a create's success; a failure puts the volume in error and
gives back its share of the group's claim. There is no reschedule: the group pins the
pool, and the quota stays with the volume in error until it is deleted, as for a
create that failed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Job, Volume
from app.runtime import Runtime
from app.volumes.capacity import claims
from app.volumes.kernel import jobs, lifecycle, messages
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import VolumeStatus
from app.volumes.volumes.flows import queue_copy_removal, split_host, volume_ref


async def clone_failed(
    session: AsyncSession, runtime: Runtime, job: Job, volume: Volume, outcome: Outcome
) -> None:
    """Also how a volume made from a snapshot fails (its message says so)."""
    action = Action.CLONE_VOLUME
    if job.kind == jobkinds.CREATE_VOLUME_FROM_SNAPSHOT.name:
        action = Action.CREATE_VOLUME_FROM_BACKEND
    host, pool_id = volume.host, volume.pool_id
    if not await lifecycle.move(
        session,
        volume,
        {"status": VolumeStatus.CREATING},
        status=VolumeStatus.ERROR,
        host=None,
        pool_id=None,
    ):
        return  # no longer being created (force-deleted meanwhile): nothing is held
    if pool_id is not None and host:
        outcome.ledgers[split_host(host)] = await claims.release(session, pool_id, volume.size)
        # A clone whose lease ran out may still be finished by its agent: remove whatever
        # it leaves, so no file outlives the claim just given back.
        copy = volume_ref(volume).model_copy(update={"host": host, "pool": split_host(host)[1]})
        queue_copy_removal(session, runtime, volume.id, copy, None, outcome, job.request_id)
    await messages.about_volume(
        session,
        volume,
        action,
        Detail.DRIVER_FAILED,
        jobs.failure_reason(job),
        job.request_id,
    )
