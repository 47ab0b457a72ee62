"""Generic volume groups (Cinder's groups, 3.13): create (the scheduler's create_group),
update membership, delete (with their volumes), reset status, and create from a source
group (validate_host_capacity, then one all-or-nothing claim of the total size).

Generic groups need nothing from a driver (Cinder keeps them in the database only), so a
group is `available` as soon as it is placed; its volumes are created on its pool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Group, GroupSnapshot, GroupVolumeType, Volume, VolumeType, utcnow
from app.errors import BadRequest, NotFound
from app.runtime import Runtime
from app.scheduler.request import VolumeRequest
from app.volumes.capacity import claims
from app.volumes.groups import types as gtypes
from app.volumes.groups.members import GroupStatus
from app.volumes.kernel import lifecycle, messages, quotas, repository
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.states import VolumeStatus
from app.volumes.types import qos_specs
from app.volumes.types import types as vtypes
from app.volumes.volumes import deletion, flows

# The size each volume type is asked to fit when a group is placed. Not 0: the
# CapacityFilter passes every pool for a size-0 request (Cinder's manage semantics), so a
# group could land on a full pool where none of its volumes would ever fit; 1 GB is the
# smallest volume the group can hold. Nothing is claimed: a group holds no capacity.
PLACEMENT_SIZE_GB = 1
# Cinder's VALID_REMOVE_VOL_FROM_GROUP_STATUS.
REMOVABLE = (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE, VolumeStatus.ERROR, "error_deleting")


@dataclass(frozen=True)
class CreateGroup:
    group_type: str
    volume_types: list[str]
    name: str | None = None
    description: str | None = None
    availability_zone: str | None = None


GROUPS = repository.GROUPS
visible = GROUPS.visible
get = GROUPS.get


async def members(session: AsyncSession, group_id: str, *, lock: bool = False) -> list[Volume]:
    query = select(Volume).where(Volume.group_id == group_id).order_by(Volume.id)
    if lock:
        query = repository.locking(query)
    return list((await session.scalars(query)).all())


def type_ids(group: Group) -> list[str]:
    return [t.volume_type_id for t in group.volume_types]


# --- create ---------------------------------------------------------------------------------


async def _volume_types(
    session: AsyncSession, ctx: RequestContext, names: Sequence[str]
) -> list[VolumeType]:
    found: dict[str, VolumeType] = {}
    for name in names:
        vtype = await vtypes.get(session, ctx, name)
        found.setdefault(vtype.id, vtype)
    return list(found.values())


async def create(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: CreateGroup
) -> tuple[Group, flows.Outcome]:
    gtype = await gtypes.get(session, ctx, spec.group_type)
    types = await _volume_types(session, ctx, spec.volume_types)
    zone = spec.availability_zone
    flows.check_zone(runtime, zone)
    await quotas.consume(session, runtime.settings, ctx.project_id, {"groups": 1})
    group = Group(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=spec.name,
        description=spec.description,
        status=GroupStatus.CREATING,
        availability_zone=zone or runtime.settings.default_availability_zone,
        group_type_id=gtype.id,
        volume_types=[GroupVolumeType(volume_type_id=t.id) for t in types],
    )
    session.add(group)
    await session.flush()
    requests = [
        await flows.scheduling_request(
            session,
            size=PLACEMENT_SIZE_GB,
            project_id=ctx.project_id,
            volume_id=None,
            multiattach=False,
            vtype=vtype,
            zone=zone,
            hints={},
            tried=set(),
        )
        for vtype in types
    ]
    specs = gtypes.specs_of(gtype)
    candidates = runtime.scheduler.select_for_group(requests, specs, limit=flows.MAX_CLAIM_TRIES)
    # Nothing to claim: the first candidate the database still knows is the group's.
    chosen = next((p for p in candidates if runtime.pools.id_of(p.key) is not None), None)
    group.updated_at = utcnow()
    if chosen is None:
        group.status = GroupStatus.ERROR
        await quotas.release(session, ctx.project_id, {"groups": 1})
        await messages.about(
            session,
            group,
            Action.CREATE_GROUP,
            Detail.NO_BACKEND_AVAILABLE,
            runtime.scheduler.group_no_valid_backend_reason(requests, specs),
            ctx.request_id,
        )
    else:
        group.status = GroupStatus.AVAILABLE
        group.host = chosen.key
        group.availability_zone = chosen.availability_zone
    return group, flows.Outcome()


# --- update ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateGroup:
    changes: dict[str, str | None]  # name, description
    add_volumes: list[str]
    remove_volumes: list[str]


async def update(
    session: AsyncSession, ctx: RequestContext, group_id: str, spec: UpdateGroup
) -> Group:
    """Rename, describe, add and remove volumes. Volumes are locked before the group
    (the lock order is volume, group, quota, pool)."""
    both = set(spec.add_volumes) & set(spec.remove_volumes)
    if both:
        raise BadRequest(
            f"Invalid volume: Volume(s) {', '.join(sorted(both))} cannot be both added "
            "to and removed from the group."
        )
    await get(session, ctx, group_id)  # not found before anything is locked
    wanted = sorted({*spec.add_volumes, *spec.remove_volumes})
    found: dict[str, Volume] = {}
    if wanted:
        rows = await session.scalars(
            repository.locking(select(Volume).where(Volume.id.in_(wanted)).order_by(Volume.id))
        )
        found = {v.id: v for v in rows}
    group = await get(session, ctx, group_id, for_update=True)
    if (spec.add_volumes or spec.remove_volumes) and group.status != GroupStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid group: Group {group.id} status must be available to change its "
            f"volumes, but current status is: {group.status}."
        )
    for volume_id in spec.add_volumes:
        _check_add(group, found.get(volume_id), volume_id)
    for volume_id in spec.remove_volumes:
        volume = found.get(volume_id)
        if volume is None or volume.group_id != group.id:
            raise BadRequest(
                f"Invalid volume: Volume {volume_id} is not in group {group.id}, "
                "so it cannot be removed from it."
            )
        if volume.status not in REMOVABLE:
            raise BadRequest(
                f"Invalid volume: Volume {volume_id} status must be "
                f"{' or '.join(REMOVABLE)} to remove it from a group, but current "
                f"status is: {volume.status}."
            )
    now = utcnow()
    for volume_id in spec.add_volumes:
        found[volume_id].group_id, found[volume_id].updated_at = group.id, now
    for volume_id in spec.remove_volumes:
        found[volume_id].group_id, found[volume_id].updated_at = None, now
    for key, value in spec.changes.items():
        setattr(group, key, value)
    group.updated_at = now
    return group


def _check_add(group: Group, volume: Volume | None, volume_id: str) -> None:
    """Cinder's rules for a volume joining a group: the group's project, available, not
    in a group yet, one of the group's types, on the group's backend."""
    if volume is None or volume.project_id != group.project_id:
        raise BadRequest(
            f"Invalid volume: Volume {volume_id} could not be found, so it cannot be "
            f"added to group {group.id}."
        )
    if volume.group_id is not None:
        raise BadRequest(
            f"Invalid volume: Volume {volume_id} is already in group {volume.group_id}."
        )
    if volume.status != VolumeStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid volume: Volume {volume_id} status must be available to add it "
            f"to a group, but current status is: {volume.status}."
        )
    if volume.volume_type_id not in type_ids(group):
        raise BadRequest(
            f"Invalid volume: Volume {volume_id}'s type {volume.volume_type_id} is not "
            f"one of the volume types of group {group.id}."
        )
    backend_of_group = flows.split_host(group.host or "")[0]
    if not volume.host or flows.split_host(volume.host)[0] != backend_of_group:
        raise BadRequest(
            f"Invalid volume: Volume {volume_id} is on backend "
            f"{flows.split_host(volume.host or '')[0] or 'none'}, not on the group's "
            f"backend {backend_of_group or 'none'}."
        )


# --- delete and reset -----------------------------------------------------------------------


def _merge(into: flows.Outcome, other: flows.Outcome) -> None:
    into.ledgers.update(other.ledgers)
    into.job_queued = into.job_queued or other.job_queued


async def delete(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    group_id: str,
    *,
    delete_volumes: bool,
) -> flows.Outcome:
    """Delete an empty group at once; with delete-volumes, every member goes through the
    volume delete flow and the last one to go takes the group with it
    (group_members.leaving), so the group row and its quota go exactly then."""
    await get(session, ctx, group_id)
    volumes = await members(session, group_id, lock=True)
    group = await get(session, ctx, group_id, for_update=True)
    # A volume that joined meanwhile would be left behind, where the group would wait
    # in 'deleting' for it forever.
    await same_members(session, group, volumes)
    await _no_group_snapshots(session, group)
    if group.status not in GroupStatus.DELETABLE:
        raise BadRequest(
            f"Invalid group: Group {group.id} status must be "
            f"{' or '.join(GroupStatus.DELETABLE)} to delete it, but current status "
            f"is: {group.status}."
        )
    outcome = flows.Outcome()
    if not volumes:
        if group.host:
            await quotas.release(session, group.project_id, {"groups": 1})
        await session.delete(group)
        return outcome
    if not delete_volumes:
        raise BadRequest(
            f"Invalid group: Group {group.id} still contains volumes. The delete-volumes "
            "flag is required to delete it."
        )
    for volume in volumes:
        if volume.attach_status != "detached":
            raise BadRequest(f"Invalid volume: Volume {volume.id} in the group is attached.")
        if volume.status not in (*VolumeStatus.DELETABLE, VolumeStatus.DELETING):
            raise BadRequest(
                f"Invalid volume: Volume {volume.id} in the group must be "
                f"{' or '.join(VolumeStatus.DELETABLE)} to delete it, but current status "
                f"is: {volume.status}."
            )
    if not await lifecycle.move(
        session, group, {"status": GroupStatus.DELETABLE}, status=GroupStatus.DELETING
    ):
        raise BadRequest(f"Invalid group: Group {group.id} changed status; try again.")
    for volume in volumes:
        if volume.status != VolumeStatus.DELETING:  # already on its way: its job goes on
            _merge(
                outcome,
                await deletion.delete_volume(session, runtime, ctx, volume, with_group=True),
            )
    return outcome


async def _no_group_snapshots(session: AsyncSession, group: Group) -> None:
    """Cinder's rule: a group with group snapshots is not deleted (they go first)."""
    found = await session.scalar(
        select(GroupSnapshot.id).where(GroupSnapshot.group_id == group.id).limit(1)
    )
    if found is not None:
        raise BadRequest(
            f"Invalid group: Group {group.id} has group snapshots (such as {found}); "
            "delete them first."
        )


async def reset_status(session: AsyncSession, group: Group, status: object) -> None:
    """os-reset_status (admin): only to a resting status, and never from a status
    other than the one the caller saw."""
    await lifecycle.reset_status(session, group, status)


# --- create from a source group -------------------------------------------------------------


async def same_members(session: AsyncSession, group: Group, locked: list[Volume]) -> None:
    """The members locked before the group's lock are still all of them: volumes come
    before the group in the lock order, so one that joined while this waited for the
    group was not locked. Refuse rather than act on a stale list."""
    if {v.id for v in await members(session, group.id)} != {v.id for v in locked}:
        raise BadRequest(
            f"Invalid group: Group {group.id} changed its volumes meanwhile; try again."
        )


async def create_from_source(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    source_group_id: str,
    name: str | None,
    description: str | None,
) -> tuple[Group, flows.Outcome]:
    """A copy of the source group on its pool, one clone per member. The pool must pass
    the filters for each member and take their total at once (Cinder's
    validate_host_capacity); then ONE guarded claim of the total decides: all the new
    volumes are placed, or none is and nothing is created (400)."""
    await get(session, ctx, source_group_id)
    sources = await members(session, source_group_id, lock=True)
    source = await get(session, ctx, source_group_id, for_update=True)
    # A volume that joined meanwhile would be neither copied nor checked.
    await same_members(session, source, sources)
    if source.project_id != ctx.project_id:
        raise NotFound(f"Group {source_group_id} could not be found.")
    if source.status != GroupStatus.AVAILABLE or not source.host:
        raise BadRequest(
            f"Invalid group: Source group {source.id} status must be available, but "
            f"current status is: {source.status}."
        )
    for volume in sources:
        if volume.status != VolumeStatus.AVAILABLE:
            raise BadRequest(
                f"Invalid volume: Volume {volume.id} of the source group must be available, "
                f"but current status is: {volume.status}."
            )
    group, pool_id, outcome = await new_copy(
        session,
        runtime,
        ctx,
        source,
        [(v, v.size) for v in sources],
        name,
        description,
        source_group_id=source.id,
    )
    clones = [
        Volume(
            project_id=ctx.project_id,
            user_id=ctx.user_id,
            name=volume.name,
            description=volume.description,
            size=volume.size,
            status=VolumeStatus.CREATING,
            availability_zone=group.availability_zone,
            volume_type_id=volume.volume_type_id,
            multiattach=volume.multiattach,
            source_volid=volume.id,
            group_id=group.id,
            host=source.host,
            pool_id=pool_id,
        )
        for volume in sources
    ]
    session.add_all(clones)
    await session.flush()
    for clone, volume in zip(clones, sources, strict=True):
        payload = jobkinds.CloneVolumePayload(
            volume=flows.volume_ref(clone),
            source=flows.volume_ref(volume),
            qos_specs=await qos_specs.for_type(session, clone.volume_type_id),
        )
        flows.queue_job(
            session, runtime, clone, jobkinds.CLONE_VOLUME, payload, outcome, ctx.request_id
        )
    return group, outcome


async def new_copy(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    source: Group,
    sizes: list[tuple[Volume, int]],
    name: str | None,
    description: str | None,
    **origin: str,
) -> tuple[Group, int, flows.Outcome]:
    """A new group of the caller on `source`'s pool with `source`'s types, 'creating'
    until its volumes are made (one of each (volume, size) of `sizes`: that volume's
    type, that size), its pool id and the outcome. The pool must pass the filters for
    each and take their total at once (Cinder's validate_host_capacity); quota
    (volumes, gigabytes, groups) and ONE guarded claim of the total decide: refused,
    a 400 or 413 and the transaction rolls back, nothing made. `origin` says what it is
    a copy of (source_group_id or group_snapshot_id)."""
    host = source.host or ""
    requests = await _member_requests(session, sizes)
    total = sum(size for _, size in sizes)
    why = runtime.scheduler.validate_host_capacity(host, requests, total)
    pool_id = runtime.pools.id_of(host)
    if why is not None or pool_id is None:
        why = why or f"pool {host} is not known"
        raise BadRequest(f"No valid backend for the group on {host}: {why}")
    await quotas.consume(
        session,
        runtime.settings,
        ctx.project_id,
        {"volumes": len(sizes), "gigabytes": total, "groups": 1},
        volume_size=max((size for _, size in sizes), default=0),
    )
    outcome = flows.Outcome()
    if total:
        thin = all(r.thin for r in requests)
        allocated = await claims.claim(session, pool_id, total, thin=thin)
        if allocated is None:
            # The transaction rolls back: no group, no volume, no quota taken.
            raise BadRequest(
                f"No valid backend for the group: pool {host} cannot take {total} GB more."
            )
        outcome.ledgers[flows.split_host(host)] = allocated
    group = Group(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=name,
        description=description,
        # Available once every volume is made (group_members.copy_member_done).
        status=GroupStatus.CREATING if sizes else GroupStatus.AVAILABLE,
        availability_zone=source.availability_zone,
        group_type_id=source.group_type_id,
        host=host,
        volume_types=[GroupVolumeType(volume_type_id=t) for t in type_ids(source)],
        **origin,
    )
    session.add(group)
    await session.flush()
    return group, pool_id, outcome


async def _member_requests(
    session: AsyncSession, sizes: list[tuple[Volume, int]]
) -> list[VolumeRequest]:
    """A request of each volume's type and multiattach, of its size in `sizes`."""
    out = []
    for volume, size in sizes:
        vtype = await session.get(VolumeType, volume.volume_type_id)
        if vtype is None:  # a volume's type cannot be deleted while in use
            raise BadRequest(f"Volume {volume.id} has no volume type.")
        out.append(
            await flows.scheduling_request(
                session,
                size=size,
                project_id=volume.project_id,
                volume_id=None,
                multiattach=volume.multiattach,
                vtype=vtype,
                zone=None,
                hints={},
                tried=set(),
            )
        )
    return out
