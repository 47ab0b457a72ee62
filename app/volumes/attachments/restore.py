"""Cinder's `ensure_export` in `init_host`: after an agent restarts (its tgtd lost every
target with it), the API queues the export of each volume of that agent's backends that
a connected live attachment still holds, with the volume's stored CHAP account, and
answers which volumes each backend should export, so the agent removes the rest (a
target whose attachment was removed while the agent was away)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Volume, VolumeAttachment
from app.runtime import Runtime
from app.volumes.attachments import exports
from app.volumes.kernel import jobs
from app.volumes.kernel.repository import locking
from app.volumes.kernel.states import AttachStatus
from app.volumes.volumes.flows import Outcome, split_host

# A job of these kinds in flight brings the export in line by itself (the reaper gives
# a dead agent's running one to its successor): a second one would only race it.
_EXPORT_KINDS = (jobkinds.EXPORT_VOLUME.name, jobkinds.UNEXPORT_VOLUME.name)


async def restore(
    session: AsyncSession, runtime: Runtime, hosts: list[str], request_id: str | None
) -> tuple[dict[str, list[str]], Outcome]:
    """The volumes each of `hosts` (backends bound to the caller) must export, by
    backend; the exports not already in flight are queued (flagged `restore`)."""
    connected = (
        select(VolumeAttachment.volume_id)
        .where(
            VolumeAttachment.attach_status.in_(AttachStatus.LIVE),
            VolumeAttachment.connector.is_not(None),
        )
        .distinct()
    )
    # Volumes in id order, locked: two restores of one agent (a quick second restart)
    # queue one export, and they lock in the same order.
    query = locking(select(Volume).where(Volume.id.in_(connected)).order_by(Volume.id))
    wanted: dict[str, list[str]] = {host: [] for host in hosts}
    outcome = Outcome()
    for volume in (await session.scalars(query)).all():
        backend, _ = split_host(volume.host or "")
        if backend not in wanted:
            continue
        wanted[backend].append(volume.id)
        in_flight = [j for j in await jobs.active(session, volume.id) if j.kind in _EXPORT_KINDS]
        if not in_flight:
            await exports.serve(session, runtime, volume, outcome, request_id, restore=True)
    return wanted, outcome
