"""Bodies of /group_types (see schemas/types.py for how requests and responses are
used)."""

from __future__ import annotations

from typing import ClassVar

from app.api.schemas.types import SpecValue, TypeCreate, TypeUpdate, TypeView
from app.api.schemas.volumes import RequestBody, View


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


class GroupTypeResponse(View):
    group_type: GroupType


class GroupTypeListResponse(View):
    group_types: list[GroupType]


class GroupSpecsResponse(View):
    group_specs: dict[str, str]
