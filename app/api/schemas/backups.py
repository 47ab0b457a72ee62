"""Bodies of /backups (see schemas/volumes.py for how requests and responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from app.api.schemas.volumes import (
    Boolean,
    Empty,
    Link,
    Metadata,
    Part,
    RequestBody,
    RequestMetadata,
    View,
)


class BackupCreate(Part):
    # Cinder's schema allows no other keys (which ones depends on the version: the
    # router says which, with Cinder's message); volume_id is required, checked there too.
    model_config = ConfigDict(json_schema_extra={"required": ["volume_id"]})
    volume_id: str | None = None
    container: str | None = None
    name: str | None = None
    description: str | None = None
    display_name: str | None = None
    display_description: str | None = None
    incremental: Boolean | None = None
    force: Boolean | None = None
    snapshot_id: str | None = None
    metadata: RequestMetadata | None = Field(None, description="From 3.43.")
    availability_zone: str | None = Field(None, description="From 3.51.")


class BackupCreateRequest(RequestBody):
    member: ClassVar[str] = "backup"
    backup: BackupCreate


class BackupUpdate(Part):
    name: str | None = None
    description: str | None = None
    metadata: RequestMetadata | None = Field(None, description="From 3.43.")


class BackupUpdateRequest(RequestBody):
    member: ClassVar[str] = "backup"
    backup: BackupUpdate


class BackupResetStatus(Part):
    status: str


class BackupActionRequest(RequestBody):
    """Exactly one action (one member) per request."""

    element: ClassVar[str] = "action"
    reset_status: BackupResetStatus | None = Field(None, alias="os-reset_status")
    force_delete: Empty | None = Field(None, alias="os-force_delete")


# --- responses ----------------------------------------------------------------------------


class BackupSummary(View):
    id: str
    name: str | None = None
    links: list[Link]


class BackupSummaryResponse(View):
    backup: BackupSummary


class Backup(View):
    id: str
    name: str | None = None
    description: str | None = None
    status: str
    availability_zone: str | None = None
    volume_id: str
    snapshot_id: str | None = None
    container: str | None = None
    size: int
    object_count: int
    fail_reason: str | None = None
    created_at: str
    updated_at: str | None = None
    data_timestamp: str | None = None
    is_incremental: bool
    has_dependent_backups: bool
    links: list[Link]
    project_id: str | None = Field(
        None, alias="os-backup-project-attr:project_id", description="From 3.18, admins only."
    )
    metadata: Metadata | None = Field(None, description="From 3.43.")
    user_id: str | None = Field(None, description="From 3.56, admins only.")


class BackupResponse(View):
    backup: Backup


class BackupListResponse(View):
    backups: list[BackupSummary]
    backups_links: list[Link] | None = None
    count: int | None = Field(None, description="From 3.45, with `with_count`.")


class BackupDetailListResponse(View):
    backups: list[Backup]
    backups_links: list[Link] | None = None
    count: int | None = Field(None, description="From 3.45, with `with_count`.")
