"""What the volume flows need to know about groups: whether a new volume may join one,
which pool it must land on, and what a member's deletion means for a group being
deleted. Kept apart from groups.py (which builds on the volume flows) so the volume
flows can use it without an import cycle."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import Group, Volume, utcnow
from app.errors import BadRequest, NotFound
from app.volumes.kernel import lifecycle
from app.volumes.kernel.repository import GROUPS
from app.volumes.kernel.states import GroupStatus, VolumeStatus


async def check_new_member(
    session: AsyncSession, ctx: RequestContext, group_id: str, volume_type_id: str
) -> Group:
    """The group a new volume joins: the caller's, available, with the volume's type
    among its own (Cinder's checks when creating a volume in a group)."""
    group = await GROUPS.lock(session, group_id)
    # Even an admin's volume joins only a group of its own project: the group's quota
    # goes back with its last volume, to that volume's project.
    if group is None or group.project_id != ctx.project_id:
        raise NotFound(f"Group {group_id} could not be found.")
    if group.status != GroupStatus.AVAILABLE or group.host is None:
        raise BadRequest(
            f"Invalid group: Group {group_id} status must be available, "
            f"but current status is: {group.status}."
        )
    if volume_type_id not in {t.volume_type_id for t in group.volume_types}:
        raise BadRequest(
            f"Invalid volume type: Volume type {volume_type_id} is not one of "
            f"the volume types of group {group_id}."
        )
    return group


async def pool_of(session: AsyncSession, group_id: str) -> str:
    """The pool ('node@backend#pool') a member of the group must be placed on; '' (no
    pool at all) for a group that has none."""
    host = await session.scalar(select(Group.host).where(Group.id == group_id))
    return host or ""


async def leaving(session: AsyncSession, volume: Volume) -> Group | None:
    """A member is about to be deleted: lock its group (the lock order is volume, group,
    quota, pool) and return it when it is being deleted and this was its last volume, so
    the caller removes it in the same transaction."""
    if volume.group_id is None:
        return None
    group = await GROUPS.lock(session, volume.group_id)
    if group is not None and group.status == GroupStatus.CREATING:
        await _settle_copy(session, group, volume, None)
        return None
    if group is None or group.status != GroupStatus.DELETING:
        return None
    others = await session.scalar(
        select(func.count())
        .select_from(Volume)
        .where(Volume.group_id == group.id, Volume.id != volume.id)
    )
    return group if not others else None


async def copy_member_done(session: AsyncSession, volume: Volume, becomes: str) -> None:
    """A clone of a group being copied (create-from-src) ends up `becomes`: once no
    member is still being created, the group is available, or in error if a copy
    failed (Cinder's group status after create_group_from_src). Called before the
    clone's own claim changes: the lock order is volume, group, quota, pool."""
    if volume.group_id is None:
        return
    group = await GROUPS.lock(session, volume.group_id)
    if group is not None and group.status == GroupStatus.CREATING:
        await _settle_copy(session, group, volume, becomes)


async def _settle_copy(
    session: AsyncSession, group: Group, volume: Volume, becomes: str | None
) -> None:
    """`becomes` None: the volume is leaving the group (deleted)."""
    others = (
        await session.scalars(
            select(Volume.status).where(Volume.group_id == group.id, Volume.id != volume.id)
        )
    ).all()
    statuses = [*others, *([becomes] if becomes is not None else [])]
    if VolumeStatus.CREATING in statuses:
        return
    failed = any(s != VolumeStatus.AVAILABLE for s in statuses) or becomes is None
    group.status = GroupStatus.ERROR if failed else GroupStatus.AVAILABLE
    group.updated_at = utcnow()


async def member_delete_failed(session: AsyncSession, volume: Volume) -> None:
    """A member of a group being deleted could not be deleted: the group stops in
    error_deleting (deleting it again retries the rest) instead of waiting forever."""
    if volume.group_id is not None:
        await lifecycle.part_delete_failed(session, Group, volume.group_id)


async def check_not_cloning(session: AsyncSession, volume: Volume, action: str = "delete") -> None:
    """A volume whose data is being copied into a clone (a group copied from its group)
    is not deleted before the copy ends, as Cinder's volume lock holds a delete back
    while a clone reads the source. Clones live on their source's pool (indexed)."""
    if volume.pool_id is None:
        return
    cloning = await session.scalar(
        select(Volume.id)
        .where(
            Volume.pool_id == volume.pool_id,
            Volume.source_volid == volume.id,
            Volume.status == "creating",
        )
        .limit(1)
    )
    if cloning is not None:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} is being cloned into volume {cloning}; "
            f"{action} it once the clone is created."
        )


async def check_retype(session: AsyncSession, volume: Volume, volume_type_id: str) -> None:
    """A member keeps a type of its group's (the group's types are what its pool was
    chosen for)."""
    if volume.group_id is None:
        return
    group = await session.get(Group, volume.group_id)
    if group is not None and volume_type_id not in {t.volume_type_id for t in group.volume_types}:
        raise BadRequest(
            f"Invalid volume type: Volume {volume.id} is in group {group.id}, and volume "
            f"type {volume_type_id} is not one of the group's volume types."
        )
