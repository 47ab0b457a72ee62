"""What a finished export job means for the volume's attachments. A success changes
nothing here: the request that waits for it reads the job's answer and builds the
connection from it. A failure (the agent's, the reaper's, or the waiting request's
timeout) leaves the attachments that were connecting in error_attaching and the volume
where it rested, with a user message."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Job, Volume
from app.jobkinds import Wire
from app.runtime import Runtime
from app.volumes.attachments import exports
from app.volumes.kernel import lifecycle, messages
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.states import AttachStatus, VolumeStatus
from app.volumes.volumes.flows import Outcome
from app.volumes.volumes.results import on_volume

TIMEOUT_ERROR = "The storage agent did not export the volume in time."


async def settle(session: AsyncSession, volume: Volume) -> None:
    """Put a volume that no operation holds any more where its live attachments say:
    in-use while one is attached, reserved while one is only reserved or connecting,
    available when none is left."""
    live = await exports.live(session, volume.id)
    statuses = {a.attach_status for a in live}
    if statuses & {AttachStatus.ATTACHED, AttachStatus.DETACHING, AttachStatus.ERROR_DETACHING}:
        status, attach_status = VolumeStatus.IN_USE, AttachStatus.ATTACHED
    elif statuses:
        status, attach_status = VolumeStatus.RESERVED, AttachStatus.RESERVED
    else:
        status, attach_status = VolumeStatus.AVAILABLE, AttachStatus.DETACHED
    await lifecycle.move(
        session, volume, {"status": volume.status}, status=status, attach_status=attach_status
    )


async def _nothing(
    _session: AsyncSession,
    _runtime: Runtime,
    _job: Job,
    _volume: Volume,
    _outcome: Outcome,
    _result: Wire,
) -> None:
    return None


async def _export_failed(
    session: AsyncSession, _runtime: Runtime, job: Job, volume: Volume, _outcome: Outcome
) -> None:
    if jobkinds.EXPORT_VOLUME.load(job.payload).restore:
        await _restore_failed(session, job, volume)
        return
    failed = 0
    for attachment in await exports.live(session, volume.id):
        if attachment.attach_status == AttachStatus.ATTACHING:
            moved = await lifecycle.move(
                session,
                attachment,
                {"attach_status": AttachStatus.ATTACHING},
                attach_status=AttachStatus.ERROR_ATTACHING,
                connection_info=None,
            )
            failed += moved
    if volume.status == VolumeStatus.ATTACHING:
        await settle(session, volume)
    timed_out = job.error == TIMEOUT_ERROR
    await messages.about_volume(
        session,
        volume,
        Action.UPDATE_ATTACHMENT if failed else Action.ATTACH_VOLUME,
        Detail.CONNECTION_TIMEOUT if timed_out else Detail.DRIVER_FAILED,
        None if timed_out else job.error,
        job.request_id,
    )


async def _restore_failed(session: AsyncSession, job: Job, volume: Volume) -> None:
    """No request waits for a re-export after an agent restart, and the hosts attached
    before it can no longer reach the volume: the volume goes to error (Cinder's
    init_host), its attachments stay as they are for the detach that follows."""
    await lifecycle.move(session, volume, {"status": volume.status}, status=VolumeStatus.ERROR)
    await messages.about_volume(
        session, volume, Action.RESTORE_EXPORT, Detail.DRIVER_FAILED, job.error, job.request_id
    )


async def _unexport_failed(
    session: AsyncSession, _runtime: Runtime, job: Job, volume: Volume, _outcome: Outcome
) -> None:
    await messages.about_volume(
        session, volume, Action.REMOVE_EXPORT, Detail.DRIVER_FAILED, job.error, job.request_id
    )


exported = on_volume(_nothing)
export_failed = on_volume(_export_failed)
unexported = on_volume(_nothing)
unexport_failed = on_volume(_unexport_failed)
