"""Bodies of /snapshots and snapshot manage (see schemas/volumes.py for how requests and
responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from app.api.schemas.volumes import (
    Boolean,
    Empty,
    Metadata,
    Part,
    RequestBody,
    RequestMetadata,
    View,
)


class SnapshotCreate(Part):
    # Required, but checked by the router for Cinder's message.
    model_config = ConfigDict(json_schema_extra={"required": ["volume_id"]})
    volume_id: str | None = None
    name: str | None = None
    description: str | None = None
    display_name: str | None = None
    display_description: str | None = None
    force: Boolean | None = None
    metadata: RequestMetadata | None = None


class SnapshotCreateRequest(RequestBody):
    member: ClassVar[str] = "snapshot"
    snapshot: SnapshotCreate


class SnapshotUpdate(Part):
    name: str | None = None
    description: str | None = None
    display_name: str | None = None
    display_description: str | None = None


class SnapshotUpdateRequest(RequestBody):
    member: ClassVar[str] = "snapshot"
    snapshot: SnapshotUpdate


class SnapshotResetStatus(Part):
    status: str


class SnapshotActionRequest(RequestBody):
    """Exactly one action (one member) per request."""

    element: ClassVar[str] = "action"
    reset_status: SnapshotResetStatus | None = Field(None, alias="os-reset_status")
    force_delete: Empty | None = Field(None, alias="os-force_delete")


class ManageRef(Part):
    # Required, but checked by the router for Cinder's message.
    model_config = ConfigDict(json_schema_extra={"required": ["source-name"]})
    source_name: str | None = Field(None, alias="source-name")


class SnapshotManage(Part):
    model_config = ConfigDict(json_schema_extra={"required": ["volume_id", "ref"]})
    volume_id: str | None = None
    ref: ManageRef | None = None
    name: str | None = None
    description: str | None = None
    display_name: str | None = None
    display_description: str | None = None
    metadata: RequestMetadata | None = None


class SnapshotManageRequest(RequestBody):
    member: ClassVar[str] = "snapshot"
    snapshot: SnapshotManage


# --- responses ----------------------------------------------------------------------------


class Snapshot(View):
    id: str
    name: str | None = None
    description: str | None = None
    volume_id: str
    size: int
    status: str
    created_at: str
    updated_at: str | None = None
    metadata: Metadata
    progress: str | None = Field(
        None, alias="os-extended-snapshot-attributes:progress", description="Show and list."
    )
    project_id: str | None = Field(
        None, alias="os-extended-snapshot-attributes:project_id", description="Show and list."
    )
    group_snapshot_id: str | None = Field(None, description="From 3.14.")
    user_id: str | None = Field(None, description="From 3.41.")
    consumes_quota: bool | None = Field(None, description="From 3.65.")


class SnapshotResponse(View):
    snapshot: Snapshot


class SnapshotListResponse(View):
    snapshots: list[Snapshot]
    snapshots_links: list[dict[str, str]] | None = None
    count: int | None = Field(None, description="From 3.45, with `with_count`.")
