"""Bodies of /groups (see schemas/types.py for how requests and responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.volumes import Part, RequestBody, View


class GroupCreate(Part):
    group_type: str
    # A list of type ids or names, or one comma-separated string of them.
    volume_types: list[str] | str
    name: str | None = None
    description: str | None = None
    availability_zone: str | None = None


class GroupCreateRequest(RequestBody):
    member: ClassVar[str] = "group"
    group: GroupCreate


class GroupUpdate(Part):
    name: str | None = None
    description: str | None = None
    # Volume ids, comma-separated.
    add_volumes: str | None = None
    remove_volumes: str | None = None


class GroupUpdateRequest(RequestBody):
    member: ClassVar[str] = "group"
    group: GroupUpdate


class GroupDelete(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    delete_volumes: bool | str | None = Field(None, alias="delete-volumes")


class GroupResetStatus(Part):
    status: str


class GroupActionRequest(RequestBody):
    """One action: `delete` or (3.20, admin) `reset_status`."""

    element: ClassVar[str] = "action"
    delete: GroupDelete | None = None
    reset_status: GroupResetStatus | None = None


class CreateFromSource(Part):
    source_group_id: str | None = None
    # Group snapshots do not exist here: a group_snapshot_id is refused.
    group_snapshot_id: str | None = None
    name: str | None = None
    description: str | None = None


class CreateFromSourceRequest(RequestBody):
    member: ClassVar[str] = "create-from-src"
    create_from_src: CreateFromSource = Field(alias="create-from-src")


# --- responses -------------------------------------------------------------------------------


class GroupSummary(View):
    id: str
    name: str | None = None


class GroupSummaryResponse(View):
    group: GroupSummary


class Link(View):
    href: str
    rel: str


class GroupListResponse(View):
    groups: list[GroupSummary]
    group_links: list[Link] | None = None


class Group(View):
    id: str
    status: str
    availability_zone: str | None = None
    created_at: str | None = None
    name: str | None = None
    description: str | None = None
    group_type: str
    volume_types: list[str]
    group_snapshot_id: str | None = None  # from 3.14
    source_group_id: str | None = None  # from 3.14
    volumes: list[str] | None = None  # from 3.25, with list_volume
    replication_status: str | None = None  # from 3.38
    project_id: str | None = None  # from 3.58, admins only


class GroupResponse(View):
    group: Group


class GroupDetailListResponse(View):
    groups: list[Group]
    group_links: list[Link] | None = None
