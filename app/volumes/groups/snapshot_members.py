"""What the snapshot flows need to know about group snapshots: whether a snapshot may
be deleted on its own, and what a member snapshot's end (created, failed, deleted)
means for its group snapshot. Kept apart from groups/snapshots.py (which builds on the
snapshot flows) so the snapshot flows can use it without an import cycle.

A group snapshot is locked after its member snapshot and before quota and pool (the
lock order: job, volume, snapshot, group snapshot, quota, pool)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import GroupSnapshot, Snapshot
from app.errors import BadRequest
from app.volumes.kernel import lifecycle
from app.volumes.kernel.repository import GROUP_SNAPSHOTS
from app.volumes.kernel.states import GroupSnapshotStatus, SnapshotStatus


def check_own_delete(snapshot: Snapshot) -> None:
    """A member of a group snapshot goes with its group snapshot only (Cinder)."""
    if snapshot.group_snapshot_id is not None:
        raise BadRequest(
            f"Invalid snapshot: Snapshot {snapshot.id} is part of group snapshot "
            f"{snapshot.group_snapshot_id}; delete the group snapshot instead."
        )


async def member_statuses(
    session: AsyncSession, group_snapshot_id: str, *, but: str | None = None
) -> list[str]:
    query = select(Snapshot.status).where(Snapshot.group_snapshot_id == group_snapshot_id)
    if but is not None:
        query = query.where(Snapshot.id != but)
    return list((await session.scalars(query)).all())


def settled_status(statuses: list[str]) -> str | None:
    """A group snapshot's status once no member is being created: available when every
    member is, else error (the members made stay in it, as in Cinder); None while a
    member is still being created."""
    if SnapshotStatus.CREATING in statuses:
        return None
    if all(s == SnapshotStatus.AVAILABLE for s in statuses):
        return GroupSnapshotStatus.AVAILABLE
    return GroupSnapshotStatus.ERROR


async def member_created(session: AsyncSession, snapshot: Snapshot, becomes: str) -> None:
    """A member's create job ended, the member becoming `becomes`: once none is still
    being created, the group snapshot is available, or in error if one failed. Called
    before the member's own claim changes (the lock order)."""
    if snapshot.group_snapshot_id is None:
        return
    group_snapshot = await GROUP_SNAPSHOTS.lock(session, snapshot.group_snapshot_id)
    if group_snapshot is None or group_snapshot.status != GroupSnapshotStatus.CREATING:
        return
    others = await member_statuses(session, group_snapshot.id, but=snapshot.id)
    status = settled_status([*others, becomes])
    if status is not None:
        await lifecycle.move(
            session, group_snapshot, {"status": GroupSnapshotStatus.CREATING}, status=status
        )


async def member_leaving(session: AsyncSession, snapshot: Snapshot) -> GroupSnapshot | None:
    """A member is about to be removed (its delete job succeeded): lock its group
    snapshot and return it when it is being deleted (or stopped in error_deleting by
    another member) and this was its last member, so the caller removes it in the same
    transaction, after the member's row."""
    if snapshot.group_snapshot_id is None:
        return None
    group_snapshot = await GROUP_SNAPSHOTS.lock(session, snapshot.group_snapshot_id)
    gone = (GroupSnapshotStatus.DELETING, GroupSnapshotStatus.ERROR_DELETING)
    if group_snapshot is None or group_snapshot.status not in gone:
        return None
    others = await member_statuses(session, group_snapshot.id, but=snapshot.id)
    return group_snapshot if not others else None


async def member_delete_failed(session: AsyncSession, snapshot: Snapshot) -> None:
    """A member could not be deleted: the group snapshot stops in error_deleting
    (deleting it again retries the members left) instead of waiting forever."""
    if snapshot.group_snapshot_id is not None:
        await lifecycle.part_delete_failed(session, GroupSnapshot, snapshot.group_snapshot_id)
