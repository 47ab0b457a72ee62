"""The step after a connecting request has committed: wait (holding no transaction)
for the export job it queued, then give the caller its connection_info, and store it
on the attachment without the CHAP secret. A failed export fails the request with the
agent's reason; one the agent does not finish within `connection_timeout` is cancelled
and fails it too, explicitly. Any request that needs the agent's answer before it
replies (an extend of an attached volume, later) takes the same step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app import jobkinds
from app.db.models import Volume, VolumeAttachment
from app.errors import PumiceError
from app.runtime import Runtime
from app.volumes.attachments import exports, results
from app.volumes.kernel import jobs, lifecycle
from app.volumes.kernel.states import AttachStatus
from app.volumes.kernel.work import unit_of_work


class ConnectionFailed(PumiceError):
    """Cinder answers a backend's failure to connect with a 500 that says why."""

    code = 500


async def agent_answer(runtime: Runtime, job_id: int, request_id: str) -> jobkinds.Exported:
    """The export job's answer, once it ended; ConnectionFailed when it failed or the
    agent took longer than `connection_timeout` (the job is then cancelled and its
    failure applied, so the attachment does not stay 'attaching')."""
    timeout = runtime.settings.connection_timeout
    job = await jobs.wait_for_end(runtime.sessionmaker, job_id, timeout)
    if job is None:
        async with unit_of_work(runtime, request_id=request_id) as work:
            cancelled = await jobs.cancel(work.session, job_id, results.TIMEOUT_ERROR)
            if cancelled is not None:
                work.after_commit(await results.export_failed(work.session, runtime, cancelled))
        if cancelled is not None:
            raise ConnectionFailed(
                f"Unable to connect the volume: the storage agent did not export it within "
                f"{timeout:g} seconds (connection_timeout); try again later."
            )
        # It ended just as the wait did: read how.
        job = await jobs.wait_for_end(runtime.sessionmaker, job_id, 0)
        assert job is not None
    if job.state != jobs.SUCCEEDED:
        raise ConnectionFailed(f"Unable to connect the volume: {job.error or 'export failed'}")
    return jobkinds.EXPORT_VOLUME.load_result(job.result)


async def connection(
    runtime: Runtime, attachment_id: str, job_id: int, request_id: str
) -> dict[str, Any]:
    """connection_info for the caller (with the CHAP secret), stored without it."""
    target = await agent_answer(runtime, job_id, request_id)
    async with unit_of_work(runtime, request_id=request_id) as work:
        session = work.session
        attachment = await session.get(VolumeAttachment, attachment_id)
        volume = (
            await session.scalars(
                select(Volume).where(Volume.id == (attachment.volume_id if attachment else ""))
            )
        ).first()
        if (
            attachment is None
            or volume is None
            or attachment.attach_status not in (AttachStatus.CONNECTABLE)
        ):
            raise ConnectionFailed(
                "Unable to connect the volume: the attachment was removed meanwhile."
            )
        chap = exports.credentials(volume, runtime.sealer)
        stored = exports.connection_info(volume, attachment, target, chap, with_secret=False)
        await lifecycle.move(
            session,
            attachment,
            {"attach_status": attachment.attach_status},
            connection_info=stored,
        )
        return exports.connection_info(volume, attachment, target, chap, with_secret=True)
