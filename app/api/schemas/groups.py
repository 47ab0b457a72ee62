"""Bodies of /groups (see schemas/types.py for how requests and responses are used)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    group_type: str
    # A list of type ids or names, or one comma-separated string of them.
    volume_types: list[str] | str
    name: str | None = None
    description: str | None = None
    availability_zone: str | None = None


class GroupCreateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    group: GroupCreate


class GroupUpdate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    description: str | None = None
    # Volume ids, comma-separated.
    add_volumes: str | None = None
    remove_volumes: str | None = None


class GroupUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    group: GroupUpdate


class GroupDelete(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    delete_volumes: bool | str | None = Field(None, alias="delete-volumes")


class GroupResetStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str


class GroupActionRequest(BaseModel):
    """One action: `delete` or (3.20, admin) `reset_status`."""

    model_config = ConfigDict(extra="allow")
    delete: GroupDelete | None = None
    reset_status: GroupResetStatus | None = None


class CreateFromSource(BaseModel):
    model_config = ConfigDict(extra="allow")
    source_group_id: str | None = None
    # Group snapshots do not exist here: a group_snapshot_id is refused.
    group_snapshot_id: str | None = None
    name: str | None = None
    description: str | None = None


class CreateFromSourceRequest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    create_from_src: CreateFromSource = Field(alias="create-from-src")


# --- responses -------------------------------------------------------------------------------


class GroupSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str | None = None


class GroupSummaryResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: GroupSummary


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    href: str
    rel: str


class GroupListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[GroupSummary]
    group_links: list[Link] | None = None


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
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


class GroupResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: Group


class GroupDetailListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[Group]
    group_links: list[Link] | None = None
