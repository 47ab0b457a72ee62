"""Bodies of /snapshots and snapshot manage (schemas/base.py says how requests and
responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from app.api.schemas.base import (
    AdminActionRequest,
    Boolean,
    Empty,
    Labels,
    LegacyNaming,
    Metadata,
    OfVolume,
    Part,
    RequestBody,
    Resource,
    StatusReset,
    listing,
    wrapped,
)


class SnapshotCreate(Labels, OfVolume):
    force: Boolean | None = None


class SnapshotCreateRequest(RequestBody):
    member: ClassVar[str] = "snapshot"
    snapshot: SnapshotCreate


class SnapshotUpdate(LegacyNaming):
    pass


class SnapshotUpdateRequest(RequestBody):
    member: ClassVar[str] = "snapshot"
    snapshot: SnapshotUpdate


class SnapshotResetStatus(StatusReset):
    pass


class SnapshotActionRequest(AdminActionRequest):
    reset_status: SnapshotResetStatus | None = Field(None, alias="os-reset_status")
    unmanage: Empty | None = Field(None, alias="os-unmanage")


class ManageRef(Part):
    # Required, but checked by the router for Cinder's message.
    model_config = ConfigDict(json_schema_extra={"required": ["source-name"]})
    source_name: str | None = Field(None, alias="source-name")


class SnapshotManage(Labels, OfVolume):
    model_config = ConfigDict(json_schema_extra={"required": ["volume_id", "ref"]})
    ref: ManageRef | None = None


class SnapshotManageRequest(RequestBody):
    member: ClassVar[str] = "snapshot"
    snapshot: SnapshotManage


# --- responses ----------------------------------------------------------------------------


class Snapshot(Resource):
    volume_id: str
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


SnapshotResponse = wrapped("SnapshotResponse", "snapshot", Snapshot)
SnapshotListResponse = listing("SnapshotListResponse", "snapshots", Snapshot)
