"""Bodies of /types: what a request may carry and what a response holds.

Requests are checked here for shape (a strict client's generator needs the types);
the router still applies Cinder's own checks and messages to the body. Responses are
documentation: each view decides per microversion which of these fields it sends
(app/api/fields.py), so every field that is not always there has a default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Cinder stores a spec value as a string and takes numbers and booleans for one.
SpecValue = str | int | float | bool


class VolumeTypeCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    description: str | None = None
    is_public: bool | str | None = None
    access_is_public: bool | str | None = Field(None, alias="os-volume-type-access:is_public")
    extra_specs: dict[str, SpecValue] | None = None


class VolumeTypeCreateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    volume_type: VolumeTypeCreate


class VolumeTypeUpdate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    description: str | None = None
    is_public: bool | str | None = None


class VolumeTypeUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    volume_type: VolumeTypeUpdate


class ExtraSpecsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    extra_specs: dict[str, SpecValue]


class ProjectAccess(BaseModel):
    model_config = ConfigDict(extra="allow")
    project: str


class VolumeTypeActionRequest(BaseModel):
    """One of the access actions (Cinder's addProjectAccess / removeProjectAccess)."""

    model_config = ConfigDict(extra="allow")
    addProjectAccess: ProjectAccess | None = None  # Cinder's name
    removeProjectAccess: ProjectAccess | None = None  # Cinder's name


# --- responses -------------------------------------------------------------------------------


class VolumeType(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str
    name: str
    description: str | None = None
    is_public: bool
    access_is_public: bool | None = Field(None, alias="os-volume-type-access:is_public")
    extra_specs: dict[str, str] = Field(default_factory=dict)
    qos_specs_id: str | None = None


class VolumeTypeResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume_type: VolumeType


class VolumeTypeListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume_types: list[VolumeType]


class ExtraSpecsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extra_specs: dict[str, str]


class TypeAccess(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume_type_id: str
    project_id: str


class TypeAccessListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume_type_access: list[TypeAccess]
