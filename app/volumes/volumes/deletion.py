"""A volume's delete: the one volume flow that reaches into another resource (its
snapshots go first, or with it under `cascade`), so it sits apart from the volume flows
that the snapshot flows build on; nothing imports it but the routers and the group flows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Volume
from app.errors import BadRequest
from app.runtime import Runtime
from app.volumes.attachments import flows as attachments
from app.volumes.groups import members as group_members
from app.volumes.kernel import lifecycle
from app.volumes.kernel.outcome import Outcome
from app.volumes.snapshots import flows as snapshots
from app.volumes.transfers import flows as transfers
from app.volumes.volumes.flows import finish_delete, queue_delete, release_extension


async def delete_volume(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    *,
    force: bool = False,
    cascade: bool = False,
    with_group: bool = False,
) -> Outcome:
    """`with_group`: the group is being deleted with its volumes; otherwise a member
    goes only by an admin's force delete (Cinder: leave the group first)."""
    if volume.attach_status != "detached" and not force:
        raise BadRequest(f"Invalid volume: Volume {volume.id} is attached; detach it first.")
    # Even forced (as Cinder): a host may still be writing through the export.
    await attachments.check_detached(session, volume, "delete it")
    if volume.group_id is not None and not (force or with_group):
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} belongs to group {volume.group_id}; "
            "remove it from the group or delete the group with its volumes."
        )
    if not force:
        await group_members.check_not_cloning(session, volume)
    cancelled = await lifecycle.start_delete(
        session, volume, force=force, previous_status=volume.status
    )
    # A volume awaiting transfer (an admin's force delete) is offered no longer.
    await transfers.forget_volume(session, volume.id)
    outcome = Outcome()
    # A force delete overrides whatever was in flight (a create, an extend, an earlier
    # delete); what it held goes back here, so the ledgers stay exact.
    for job in cancelled:
        if job.kind == jobkinds.EXTEND_VOLUME.name:
            await release_extension(session, volume, job, outcome)
    if await snapshots.before_volume_delete(
        session, runtime, volume, ctx.request_id, outcome, cascade=cascade
    ):
        return outcome  # the last snapshot's delete goes on with the volume's
    if volume.pool_id is None:
        # Never placed: nothing exists on any backend.
        await finish_delete(session, volume, outcome, runtime)
        return outcome
    queue_delete(session, runtime, volume, outcome, ctx.request_id)
    return outcome
