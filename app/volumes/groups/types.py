"""Group types and their group specs (Cinder's group_types, microversion 3.11).

A group type says what kind of group a project may create; its specs are matched
against pool capabilities when a group is placed, like a volume type's extra specs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import Group, GroupType, GroupTypeSpec
from app.errors import NotFound
from app.volumes.types.specs import SpecStore, TypeCatalog


def _visible(ctx: RequestContext) -> Any:
    # No per-project access list exists for group types: a private one is the admin's.
    return True if ctx.is_admin else GroupType.is_public.is_(True)


async def default(session: AsyncSession, ctx: RequestContext, name: str | None) -> GroupType:
    if not name:
        raise NotFound("Default group type could not be found.")
    return await GROUP_TYPES.default(session, name, ctx)


async def in_use(session: AsyncSession, type_id: str) -> bool:
    count = await session.scalar(
        select(func.count()).select_from(Group).where(Group.group_type_id == type_id)
    )
    return bool(count)


GROUP_TYPES = TypeCatalog(
    GroupType, "Group type", "group_specs", "group spec", _visible, GroupTypeSpec, in_use
)
get = GROUP_TYPES.get


GROUP_SPECS = SpecStore(
    GroupTypeSpec,
    "group_type_id",
    "group_specs",
    "Group Type {type_id} has no specs with key {key}.",
)
specs_of = GROUP_SPECS.of
