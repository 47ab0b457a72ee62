"""Bodies of /group_types (see schemas/types.py for how requests and responses are
used)."""

from __future__ import annotations

from typing import ClassVar

from app.api.schemas.base import RequestBody, wrapped
from app.api.schemas.types import SpecValue, TypeCreate, TypeUpdate, TypeView


class GroupTypeCreate(TypeCreate):
    group_specs: dict[str, SpecValue] | None = None


class GroupTypeCreateRequest(RequestBody):
    member: ClassVar[str] = "group_type"
    group_type: GroupTypeCreate


class GroupTypeUpdate(TypeUpdate):
    pass


class GroupTypeUpdateRequest(RequestBody):
    member: ClassVar[str] = "group_type"
    group_type: GroupTypeUpdate


class GroupSpecsRequest(RequestBody):
    member: ClassVar[str] = "group_specs"
    group_specs: dict[str, SpecValue]


# --- responses -------------------------------------------------------------------------------


class GroupType(TypeView):
    # Admins only (Cinder's group:access_group_types_specs).
    group_specs: dict[str, str] | None = None


GroupTypeResponse = wrapped("GroupTypeResponse", "group_type", GroupType)
GroupTypeListResponse = wrapped("GroupTypeListResponse", "group_types", list[GroupType])
GroupSpecsResponse = wrapped("GroupSpecsResponse", "group_specs", dict[str, str])
