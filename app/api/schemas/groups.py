"""Bodies of /groups (schemas/base.py says how requests and responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.base import Naming, RequestBody, StatusReset, View, listing, wrapped


class GroupCreate(Naming):
    group_type: str
    # A list of type ids or names, or one comma-separated string of them.
    volume_types: list[str] | str
    availability_zone: str | None = None


class GroupCreateRequest(RequestBody):
    member: ClassVar[str] = "group"
    group: GroupCreate


class GroupUpdate(Naming):
    # Volume ids, comma-separated.
    add_volumes: str | None = None
    remove_volumes: str | None = None


class GroupUpdateRequest(RequestBody):
    member: ClassVar[str] = "group"
    group: GroupUpdate


class GroupDelete(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    delete_volumes: bool | str | None = Field(None, alias="delete-volumes")


class GroupResetStatus(StatusReset):
    pass


class GroupActionRequest(RequestBody):
    """One action: `delete` or (3.20, admin) `reset_status`."""

    element: ClassVar[str] = "action"
    delete: GroupDelete | None = None
    reset_status: GroupResetStatus | None = None


class CreateFromSource(Naming):
    # One of the two: a group to copy, or a group snapshot to make the group from.
    source_group_id: str | None = None
    group_snapshot_id: str | None = None


class CreateFromSourceRequest(RequestBody):
    member: ClassVar[str] = "create-from-src"
    create_from_src: CreateFromSource = Field(alias="create-from-src")


# --- responses -------------------------------------------------------------------------------


class GroupSummary(View):
    id: str
    name: str | None = None


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


GroupSummaryResponse = wrapped("GroupSummaryResponse", "group", GroupSummary)
GroupResponse = wrapped("GroupResponse", "group", Group)
# Cinder's groups list no count, and name their next link `group_links`.
GroupListResponse = listing("GroupListResponse", "groups", GroupSummary, links="group", count=False)
GroupDetailListResponse = listing(
    "GroupDetailListResponse", "groups", Group, links="group", count=False
)
