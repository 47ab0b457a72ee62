"""Bodies of /group_types (see schemas/types.py for how requests and responses are
used)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.api.schemas.types import SpecValue


class GroupTypeCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    description: str | None = None
    is_public: bool | str | None = None
    group_specs: dict[str, SpecValue] | None = None


class GroupTypeCreateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    group_type: GroupTypeCreate


class GroupTypeUpdate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    description: str | None = None
    is_public: bool | str | None = None


class GroupTypeUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    group_type: GroupTypeUpdate


class GroupSpecsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    group_specs: dict[str, SpecValue]


# --- responses -------------------------------------------------------------------------------


class GroupType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    description: str | None = None
    is_public: bool
    # Admins only (Cinder's group:access_group_types_specs).
    group_specs: dict[str, str] | None = None


class GroupTypeResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_type: GroupType


class GroupTypeListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_types: list[GroupType]


class GroupSpecsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_specs: dict[str, str]
