"""Group snapshots (Cinder's group_snapshots, 3.14): a snapshot of every volume of a
group taken together, all or nothing; their delete (every member snapshot with it),
reset status (3.19), and a new group made from one (create-from-src).

A member is an ordinary snapshot (app/volumes/snapshots/flows.py) whose
`group_snapshot_id` names the group snapshot: it lives on its volume's pool, holds its
claim there and counts `snapshots` and `gigabytes`, exactly as a snapshot made alone.
What a member's job end means for its group snapshot is in snapshot_members.py.

Lock order: volumes (by id), snapshots (by id), group, group snapshot, quota, pool."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import Group, GroupSnapshot, Snapshot, Volume, VolumeType
from app.errors import BadRequest, NotFound
from app.runtime import Runtime
from app.volumes.groups import flows as groups
from app.volumes.groups.snapshot_members import member_statuses
from app.volumes.kernel import lifecycle, quotas, repository
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import GroupSnapshotStatus, GroupStatus, SnapshotStatus, VolumeStatus
from app.volumes.snapshots import flows as snapshots
from app.volumes.volumes import sources
from app.volumes.volumes.flows import CreateVolume

GROUP_SNAPSHOTS = repository.GROUP_SNAPSHOTS
visible = GROUP_SNAPSHOTS.visible
get = GROUP_SNAPSHOTS.get
# Cinder's _create_snapshots_in_db_validate: a member may be attached.
SNAPSHOTTABLE = (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE)


async def members(
    session: AsyncSession, group_snapshot_id: str, *, lock: bool = False
) -> list[Snapshot]:
    query = select(Snapshot).where(Snapshot.group_snapshot_id == group_snapshot_id)
    query = query.order_by(Snapshot.id)
    if lock:
        query = repository.locking(query)
    return list((await session.scalars(query)).all())


# --- create -------------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    group_id: str,
    name: str | None,
    description: str | None,
) -> tuple[GroupSnapshot, Outcome]:
    """A snapshot of every member in 'creating', each with its claim on its volume's
    pool and its create job, and the group snapshot 'creating' until they end. Quota
    (snapshots +N, gigabytes +their sizes) and every claim are taken in this
    transaction: any refusal (413, 400) rolls it all back."""
    await groups.get(session, ctx, group_id)  # not found before anything is locked
    volumes = await groups.members(session, group_id, lock=True)
    group = await groups.get(session, ctx, group_id, for_update=True)
    await groups.same_members(session, group, volumes)
    if group.status != GroupStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid group: Group {group.id} status must be available to snapshot it, "
            f"but current status is: {group.status}."
        )
    for volume in volumes:
        if volume.status not in SNAPSHOTTABLE:
            raise BadRequest(
                f"Invalid volume: Volume {volume.id} status must be "
                f"{' or '.join(SNAPSHOTTABLE)}, but current status is: {volume.status}."
            )
    group_snapshot = GroupSnapshot(
        project_id=group.project_id,
        user_id=ctx.user_id,
        group_id=group.id,
        name=name,
        description=description,
        # An empty group's snapshot has nothing to wait for.
        status=GroupSnapshotStatus.CREATING if volumes else GroupSnapshotStatus.AVAILABLE,
        group_type_id=group.group_type_id,
    )
    session.add(group_snapshot)
    await session.flush()
    outcome = Outcome()
    if not volumes:
        return group_snapshot, outcome
    await quotas.consume(
        session,
        runtime.settings,
        group.project_id,
        {"snapshots": len(volumes), "gigabytes": sum(v.size for v in volumes)},
        volume_size=0,  # per_volume_gigabytes limits volumes, not their snapshots
    )
    for volume in volumes:
        spec = snapshots.CreateSnapshot(volume_id=volume.id, name=name, description=description)
        snapshot = await snapshots.new_snapshot(
            session, ctx, volume, spec, volume.size, group_snapshot.id
        )
        why = await snapshots.place(session, runtime, snapshot, volume, outcome, ctx.request_id)
        if why is not None:
            # The transaction rolls back: no group snapshot, no snapshot, no quota, no claim.
            raise BadRequest(f"Invalid group snapshot: no snapshot of volume {volume.id}: {why}")
    return group_snapshot, outcome


# --- delete and reset ---------------------------------------------------------------------


async def get_locked(
    session: AsyncSession, ctx: RequestContext, group_snapshot_id: str
) -> tuple[GroupSnapshot, list[Snapshot], dict[str, Volume]]:
    """The caller's group snapshot, its members and their volumes, locked in the one
    order (volumes, snapshots, group snapshot)."""
    await get(session, ctx, group_snapshot_id)
    volume_ids = sorted({s.volume_id for s in await members(session, group_snapshot_id)})
    volumes = {
        v.id: v
        for v in await session.scalars(
            repository.locking(select(Volume).where(Volume.id.in_(volume_ids)).order_by(Volume.id))
        )
    }
    found = await members(session, group_snapshot_id, lock=True)
    group_snapshot = await get(session, ctx, group_snapshot_id, for_update=True)
    return group_snapshot, found, volumes


async def delete(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, group_snapshot_id: str
) -> Outcome:
    """'deleting', and every member through the snapshot delete flow; the last member's
    delete takes the group snapshot with it (snapshot_members.member_leaving), or, when
    none had to wait for an agent, it goes at once."""
    group_snapshot, found, volumes = await get_locked(session, ctx, group_snapshot_id)
    source_of = await session.scalar(
        select(Group.id)
        .where(Group.group_snapshot_id == group_snapshot.id, Group.status == GroupStatus.CREATING)
        .limit(1)
    )
    if source_of is not None:
        raise BadRequest(
            f"Invalid group snapshot: Group {source_of} is being created from group snapshot "
            f"{group_snapshot.id}; delete it once the group is created."
        )
    await lifecycle.start_delete(session, group_snapshot)
    outcome = Outcome()
    for snapshot in found:
        if snapshot.status == SnapshotStatus.DELETING:  # its job goes on
            continue
        await snapshots.delete_snapshot(
            session,
            runtime,
            snapshot,
            volumes[snapshot.volume_id],
            ctx.request_id,
            outcome,
            with_group_snapshot=True,
        )
    if not await member_statuses(session, group_snapshot.id):
        await session.delete(group_snapshot)
        await session.flush()
    return outcome


async def reset_status(
    session: AsyncSession, ctx: RequestContext, group_snapshot_id: str, status: object
) -> None:
    """reset_status (admin, 3.19): only to a resting status, and never while a member is
    being created or deleted (its job's end would then find a status it does not expect)."""
    group_snapshot = await get(session, ctx, group_snapshot_id, for_update=True)
    busy = [
        s.id
        for s in await members(session, group_snapshot.id)
        if s.status in (SnapshotStatus.CREATING, SnapshotStatus.DELETING)
    ]
    if busy:
        raise BadRequest(
            f"Invalid group snapshot: Group snapshot {group_snapshot.id} has member snapshots "
            f"in flight ({', '.join(busy)}); wait for them to end."
        )
    await lifecycle.reset_status(session, group_snapshot, status)


# --- a group made from a group snapshot ---------------------------------------------------


async def create_group_from(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    group_snapshot_id: str,
    name: str | None,
    description: str | None,
) -> tuple[Group, Outcome]:
    """Cinder's create-from-src with a group_snapshot_id: a new group on the snapshotted
    group's pool with its type and volume types, one volume made from each member
    snapshot (its size, its volume's type) by a `create_volume_from_snapshot` job.
    As a copy of a source group (groups.new_copy): the pool's filters, quota and ONE
    claim of the total decide, all or nothing. The group is 'creating' until every
    volume's job ended; the group snapshot is not deleted meanwhile."""
    group_snapshot, found, volumes = await get_locked(session, ctx, group_snapshot_id)
    if group_snapshot.project_id != ctx.project_id:
        raise NotFound(f"GroupSnapshot {group_snapshot_id} could not be found.")
    if group_snapshot.status != GroupSnapshotStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid group snapshot: Group snapshot {group_snapshot.id} status must be "
            f"available, but current status is: {group_snapshot.status}."
        )
    if not found:
        raise BadRequest("Invalid group: Group snapshot is empty. No group will be created.")
    source = await session.get(Group, group_snapshot.group_id)
    if source is None or not source.host:  # its group snapshots hold the group
        raise BadRequest(f"Invalid group: Group {group_snapshot.group_id} is on no pool.")
    for snapshot in found:
        volume = volumes[snapshot.volume_id]
        if snapshot.status != SnapshotStatus.AVAILABLE:
            raise BadRequest(
                f"Invalid snapshot: Snapshot {snapshot.id} status must be available, but "
                f"current status is: {snapshot.status}."
            )
        if volume.host != source.host:  # the agent reads each snapshot where it is
            raise BadRequest(
                f"Invalid snapshot: Snapshot {snapshot.id} is on pool {volume.host}, not on "
                f"the pool of group {source.id} ({source.host})."
            )
    group, pool_id, outcome = await groups.new_copy(
        session,
        runtime,
        ctx,
        source,
        [(volumes[s.volume_id], s.size) for s in found],
        name,
        description,
        group_snapshot_id=group_snapshot.id,
    )
    place = sources.Placement(source.host, pool_id)
    for snapshot in found:
        volume = volumes[snapshot.volume_id]
        vtype = await session.get(VolumeType, volume.volume_type_id)
        if vtype is None:  # a volume's type cannot be deleted while in use
            raise BadRequest(f"Volume {volume.id} has no volume type.")
        # Cinder names none of them (volume_api.create(size, None, None, ...)).
        spec = CreateVolume(
            size=snapshot.size,
            availability_zone=group.availability_zone,
            multiattach=volume.multiattach,
            group_id=group.id,
        )
        await sources.volume_from_snapshot(
            session, runtime, ctx, snapshot, spec, vtype, place, outcome
        )
    return group, outcome
