"""How an extend ends, and Nova's word on an attached one (Cinder's extend_volume,
extend_attached_volume (3.42) and extend_volume_completion (3.71)).

An extend returns the volume to where it rested (available, or in-use for an attached
one) with its new size once the agent has grown it (and, attached, refreshed its
export). A volume whose type says `pumice:extend_completion="<is> True"` (scoped, so
the scheduler leaves it alone) and that is attached to one host instead stays
`extending` after the agent's success, with the new size in its metadata as
`extend_new_size` (what Nova reads): the host resizes its device and answers with
os-extend_volume_completion; success gives the volume its size, an error puts it in
error_extending and gives back what the extend claimed. The job that grew the volume
is the record of the size asked for: the metadata key only informs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Job, Volume, VolumeAttachment, VolumeType
from app.errors import BadRequest
from app.runtime import Runtime
from app.volumes.kernel import jobs, lifecycle, messages
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import AttachStatus, VolumeStatus
from app.volumes.types import types as vtypes
from app.volumes.volumes import flows

COMPLETION_SPEC = "pumice:extend_completion"
NEW_SIZE_KEY = "extend_new_size"


async def extend_attached(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, volume: Volume, new_size: int
) -> Outcome:
    """os-extend of an in-use volume (3.42). One whose host must confirm the resize
    needs exactly one attachment: a shared device has no single host to answer (Cinder
    fails such an extend when the driver asks; here it is refused up front)."""
    if await asks_completion(session, volume) and await _attached(session, volume) != 1:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} is attached to more than one host and its "
            f"type asks for {COMPLETION_SPEC}: only one host can complete the extend."
        )
    return await flows.extend(session, runtime, ctx, volume, new_size, attached=True)


async def asks_completion(session: AsyncSession, volume: Volume) -> bool:
    vtype = await session.get(VolumeType, volume.volume_type_id)
    value = vtypes.specs_of(vtype).get(COMPLETION_SPEC, "") if vtype is not None else ""
    return value.strip().lower() in ("<is> true", "true")


async def _attached(session: AsyncSession, volume: Volume) -> int:
    query = select(func.count()).where(
        VolumeAttachment.volume_id == volume.id,
        VolumeAttachment.attach_status == AttachStatus.ATTACHED,
    )
    return int((await session.scalar(query)) or 0)


async def extended(session: AsyncSession, job: Job, volume: Volume) -> None:
    """The agent grew the volume: it takes its size, or waits for the host's word."""
    payload = jobkinds.EXTEND_VOLUME.load(job.payload)
    if volume.status != VolumeStatus.EXTENDING:
        return
    if payload.attached and await asks_completion(session, volume):
        current = {m.key: m.value for m in volume.volume_metadata}
        # Past the item limit too: the service writes it, and takes it away again.
        await flows.VOLUME_METADATA.replace(
            session, volume, {**current, NEW_SIZE_KEY: str(payload.new_size_gb)}
        )
        return
    await _finish(session, volume, payload.new_size_gb)


async def _finish(session: AsyncSession, volume: Volume, new_size: int) -> None:
    resting = (
        VolumeStatus.IN_USE
        if volume.previous_status == VolumeStatus.IN_USE
        else VolumeStatus.AVAILABLE
    )
    await lifecycle.move(
        session, volume, {"status": VolumeStatus.EXTENDING}, status=resting, size=new_size
    )
    await _forget_new_size(session, volume)


async def _forget_new_size(session: AsyncSession, volume: Volume) -> None:
    if any(m.key == NEW_SIZE_KEY for m in volume.volume_metadata):
        await flows.delete_metadata_key(session, volume, NEW_SIZE_KEY)


async def awaiting(session: AsyncSession, volume: Volume) -> Job | None:
    """The extend whose completion the volume waits for: it is `extending` and its
    latest extend ended well (a running one, or one that failed, waits for nothing)."""
    if volume.status != VolumeStatus.EXTENDING:
        return None
    latest = (
        await session.scalars(
            select(Job)
            .where(Job.resource_id == volume.id, Job.kind == jobkinds.EXTEND_VOLUME.name)
            .order_by(Job.id.desc())
            .limit(1)
        )
    ).first()
    if latest is None or latest.state != jobs.SUCCEEDED:
        return None
    return latest


async def complete(
    session: AsyncSession, ctx: RequestContext, volume: Volume, error: bool, outcome: Outcome
) -> None:
    """os-extend_volume_completion (3.71): the host resized its device, or could not."""
    job = await awaiting(session, volume)
    if job is None:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} is not waiting for an extend of an "
            "attached volume to complete."
        )
    if not error:
        await _finish(session, volume, jobkinds.EXTEND_VOLUME.load(job.payload).new_size_gb)
        return
    await lifecycle.move(
        session,
        volume,
        {"status": VolumeStatus.EXTENDING},
        status=VolumeStatus.ERROR_EXTENDING,
    )
    await _give_back(session, volume, job, outcome)
    await messages.about_volume(
        session,
        volume,
        Action.EXTEND_VOLUME,
        Detail.COMPUTE_EXTEND_FAILED,
        None,
        ctx.request_id,
    )


async def forget_completion(session: AsyncSession, volume: Volume, outcome: Outcome) -> None:
    """Before os-reset_status: an extend that waits for its host will not be completed,
    so what it claimed goes back (Cinder rolls back its reservations there too)."""
    job = await awaiting(session, volume)
    if job is not None:
        await _give_back(session, volume, job, outcome)


async def _give_back(session: AsyncSession, volume: Volume, job: Job, outcome: Outcome) -> None:
    await flows.release_extension(session, volume, job, outcome)
    await _forget_new_size(session, volume)
