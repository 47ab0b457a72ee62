"""Bodies of /types: what a request may carry and what a response holds.

Requests are checked here for shape (a strict client's generator needs the types);
the router still applies Cinder's own checks and messages to the body. Responses are
documentation: each view decides per microversion which of these fields it sends
(app/api/fields.py), so every field that is not always there has a default."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.base import Naming, Part, RequestBody, View, wrapped

# Cinder stores a spec value as a string and takes numbers and booleans for one.
SpecValue = str | int | float | bool


# What a volume type and a group type share: the create and update bodies' fields
# and the view's (the Update models are the same for both).


class TypeCreate(BaseModel):
    # Not a Part: VolumeTypeCreate's alias takes only its own name.
    model_config = ConfigDict(extra="allow")
    name: str
    description: str | None = None
    is_public: bool | str | None = None


class TypeUpdate(Naming):
    is_public: bool | str | None = None


class TypeView(View):
    id: str
    name: str
    description: str | None = None
    is_public: bool


class VolumeTypeCreate(TypeCreate):
    access_is_public: bool | str | None = Field(None, alias="os-volume-type-access:is_public")
    extra_specs: dict[str, SpecValue] | None = None


class VolumeTypeCreateRequest(RequestBody):
    member: ClassVar[str] = "volume_type"
    volume_type: VolumeTypeCreate


class VolumeTypeUpdate(TypeUpdate):
    pass


class VolumeTypeUpdateRequest(RequestBody):
    member: ClassVar[str] = "volume_type"
    volume_type: VolumeTypeUpdate


class ExtraSpecsRequest(RequestBody):
    member: ClassVar[str] = "extra_specs"
    extra_specs: dict[str, SpecValue]


class SpecItemRequest(RequestBody):
    """`{key: value}` for the key the URI names: an empty body lacks that key."""

    element: ClassVar[str] = "{key}"
    __pydantic_extra__: dict[str, SpecValue]


class ProjectAccess(Part):
    project: str


class VolumeTypeActionRequest(RequestBody):
    """One of the access actions (Cinder's addProjectAccess / removeProjectAccess)."""

    element: ClassVar[str] = "action"
    addProjectAccess: ProjectAccess | None = None  # Cinder's name
    removeProjectAccess: ProjectAccess | None = None  # Cinder's name


# --- responses -------------------------------------------------------------------------------


class VolumeType(TypeView):
    access_is_public: bool | None = Field(None, alias="os-volume-type-access:is_public")
    extra_specs: dict[str, str] = Field(default_factory=dict)
    qos_specs_id: str | None = None


VolumeTypeResponse = wrapped("VolumeTypeResponse", "volume_type", VolumeType)
VolumeTypeListResponse = wrapped("VolumeTypeListResponse", "volume_types", list[VolumeType])
ExtraSpecsResponse = wrapped("ExtraSpecsResponse", "extra_specs", dict[str, str])


class TypeAccess(View):
    volume_type_id: str
    project_id: str


TypeAccessListResponse = wrapped("TypeAccessListResponse", "volume_type_access", list[TypeAccess])
