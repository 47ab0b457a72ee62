"""Bodies of /group_types (see schemas/types.py for how requests and responses are
used)."""

from __future__ import annotations

from app.api.schemas.base import Part, wrapped
from app.api.schemas.types import SpecValue, TypeCreate, TypeUpdate, TypeView


class GroupTypeCreate(TypeCreate):
    group_specs: dict[str, SpecValue] | None = None


class GroupTypeCreateRequest(Part):
    group_type: GroupTypeCreate


class GroupTypeUpdate(TypeUpdate):
    pass


class GroupTypeUpdateRequest(Part):
    group_type: GroupTypeUpdate


class GroupSpecsRequest(Part):
    group_specs: dict[str, SpecValue]


# --- responses -------------------------------------------------------------------------------


class GroupType(TypeView):
    # Admins only (Cinder's group:access_group_types_specs).
    group_specs: dict[str, str] | None = None


GroupTypeResponse = wrapped("GroupTypeResponse", "group_type", GroupType)
GroupTypeListResponse = wrapped("GroupTypeListResponse", "group_types", list[GroupType])
GroupSpecsResponse = wrapped("GroupSpecsResponse", "group_specs", dict[str, str])
