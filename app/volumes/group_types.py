"""Group types and their group specs (Cinder's group_types, microversion 3.11).

A group type says what kind of group a project may create; its specs are matched
against pool capabilities when a group is placed, like a volume type's extra specs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import Group, GroupType, GroupTypeSpec, utcnow
from app.errors import BadRequest, Conflict, NotFound
from app.volumes.specs import SpecStore

MAX_TEXT = 255


def _visible(ctx: RequestContext) -> Any:
    # No per-project access list exists for group types: a private one is the admin's.
    return True if ctx.is_admin else GroupType.is_public.is_(True)


async def get(session: AsyncSession, ctx: RequestContext, id_or_name: str) -> GroupType:
    """By id, else by name, among the group types the caller may see."""
    for column in (GroupType.id, GroupType.name):
        found = (
            await session.scalars(select(GroupType).where(column == id_or_name, _visible(ctx)))
        ).first()
        if found is not None:
            return found
    raise NotFound(f"Group type {id_or_name} could not be found.")


async def default(session: AsyncSession, ctx: RequestContext, name: str | None) -> GroupType:
    if not name:
        raise NotFound("Default group type could not be found.")
    found = (
        await session.scalars(select(GroupType).where(GroupType.name == name, _visible(ctx)))
    ).first()
    if found is None:
        raise NotFound(f"Default group type {name} could not be found.")
    return found


async def list_types(
    session: AsyncSession, ctx: RequestContext, is_public: bool | None = None
) -> list[GroupType]:
    query = select(GroupType).where(_visible(ctx)).order_by(GroupType.created_at, GroupType.id)
    if is_public is not None:
        query = query.where(GroupType.is_public.is_(is_public))
    return list((await session.scalars(query)).all())


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_TEXT:
        raise BadRequest(
            f"Group type name must be a non-empty string of at most {MAX_TEXT} characters."
        )
    return name.strip()


def validate_specs(specs: object) -> dict[str, str]:
    if not isinstance(specs, dict):
        raise BadRequest("group_specs must be an object.")
    out: dict[str, str] = {}
    for key, value in specs.items():
        if not isinstance(key, str) or not key or len(key) > MAX_TEXT:
            raise BadRequest(
                f"Group spec keys must be non-empty strings of at most {MAX_TEXT} characters."
            )
        if isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str | int | float) or len(str(value)) > MAX_TEXT:
            raise BadRequest(
                f"Value for group spec {key} must be a string of at most {MAX_TEXT} characters."
            )
        out[key] = str(value)
    return out


async def _name_taken(session: AsyncSession, name: str, other_than: str | None = None) -> bool:
    query = select(GroupType.id).where(GroupType.name == name)
    if other_than is not None:
        query = query.where(GroupType.id != other_than)
    return (await session.scalars(query)).first() is not None


async def create(
    session: AsyncSession,
    name: str,
    description: str | None,
    is_public: bool,
    specs: dict[str, str],
) -> GroupType:
    if await _name_taken(session, name):
        raise Conflict(f"Group Type {name} already exists.")
    gtype = GroupType(
        name=name,
        description=description,
        is_public=is_public,
        group_specs=[GroupTypeSpec(key=k, value=v) for k, v in specs.items()],
    )
    session.add(gtype)
    await session.flush()
    return gtype


async def rename(session: AsyncSession, gtype: GroupType, name: str) -> None:
    if await _name_taken(session, name, other_than=gtype.id):
        raise Conflict(f"Group Type {name} already exists.")
    gtype.name = name
    gtype.updated_at = utcnow()


async def in_use(session: AsyncSession, type_id: str) -> bool:
    count = await session.scalar(
        select(func.count()).select_from(Group).where(Group.group_type_id == type_id)
    )
    return bool(count)


async def remove(session: AsyncSession, gtype: GroupType, default_name: str | None) -> None:
    if default_name and gtype.name == default_name:
        raise BadRequest("The default group type cannot be deleted.")
    if await in_use(session, gtype.id):
        raise BadRequest(f"Target group type {gtype.id} is still in use.")
    await session.delete(gtype)


GROUP_SPECS = SpecStore(
    GroupTypeSpec,
    "group_type_id",
    "group_specs",
    "Group Type {type_id} has no specs with key {key}.",
)
set_specs = GROUP_SPECS.set
delete_spec = GROUP_SPECS.delete
specs_of = GROUP_SPECS.of
