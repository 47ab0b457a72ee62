"""Bodies of /group_snapshots (schemas/base.py says how requests and responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from app.api.schemas.base import Naming, RequestBody, StatusReset, View, listing, wrapped


class GroupSnapshotCreate(Naming):
    # Required, but checked by the router for Cinder's message.
    model_config = ConfigDict(json_schema_extra={"required": ["group_id"]})
    group_id: str | None = None


class GroupSnapshotCreateRequest(RequestBody):
    member: ClassVar[str] = "group_snapshot"
    group_snapshot: GroupSnapshotCreate


class GroupSnapshotActionRequest(RequestBody):
    """One action: (3.19, admin) `reset_status`."""

    element: ClassVar[str] = "action"
    reset_status: StatusReset | None = None


# --- responses -------------------------------------------------------------------------------


class GroupSnapshotSummary(View):
    id: str
    name: str | None = None
    group_type_id: str | None = None  # in a create's answer, not in a list's


class GroupSnapshot(View):
    id: str
    group_id: str
    group_type_id: str
    status: str
    created_at: str
    name: str | None = None
    description: str | None = None
    project_id: str | None = None  # from 3.58, admins only


GroupSnapshotSummaryResponse = wrapped(
    "GroupSnapshotSummaryResponse", "group_snapshot", GroupSnapshotSummary
)
GroupSnapshotResponse = wrapped("GroupSnapshotResponse", "group_snapshot", GroupSnapshot)
GroupSnapshotListResponse = listing(
    "GroupSnapshotListResponse", "group_snapshots", GroupSnapshotSummary, count=False
)
GroupSnapshotDetailListResponse = listing(
    "GroupSnapshotDetailListResponse", "group_snapshots", GroupSnapshot, count=False
)
