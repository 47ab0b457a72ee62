"""Bodies of /backups (schemas/base.py says how requests and responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from app.api.schemas.base import (
    AdminActionRequest,
    Boolean,
    LegacyNaming,
    Link,
    Metadata,
    Naming,
    OfVolume,
    Part,
    RequestBody,
    RequestMetadata,
    Resource,
    StatusReset,
    View,
    listing,
    wrapped,
)


class BackupCreate(LegacyNaming, OfVolume):
    # Cinder's schema allows no other keys (which ones depends on the version: the
    # router says which, with Cinder's message).
    container: str | None = None
    incremental: Boolean | None = None
    force: Boolean | None = None
    snapshot_id: str | None = None
    metadata: RequestMetadata | None = Field(None, description="From 3.43.")
    availability_zone: str | None = Field(None, description="From 3.51.")


class BackupCreateRequest(RequestBody):
    member: ClassVar[str] = "backup"
    backup: BackupCreate


class BackupUpdate(Naming):
    metadata: RequestMetadata | None = Field(None, description="From 3.43.")


class BackupUpdateRequest(RequestBody):
    member: ClassVar[str] = "backup"
    backup: BackupUpdate


class BackupResetStatus(StatusReset):
    pass


class BackupActionRequest(AdminActionRequest):
    reset_status: BackupResetStatus | None = Field(None, alias="os-reset_status")


class BackupRestore(Part):
    volume_id: str | None = Field(
        None, description="The caller's available volume; none: a new one."
    )
    name: str | None = Field(None, description="The new volume's name.")


class BackupRestoreRequest(RequestBody):
    # Required, as Cinder's schema has it; `{"restore": null}` restores into a new volume.
    element: ClassVar[str] = "restore"
    restore: BackupRestore | None


class BackupRecordBody(Part):
    backup_service: str
    backup_url: str


class BackupImportRequest(RequestBody):
    member: ClassVar[str] = "backup-record"
    backup_record: BackupRecordBody = Field(alias="backup-record")


# --- responses ----------------------------------------------------------------------------


class BackupSummary(View):
    id: str
    name: str | None = None
    links: list[Link]


class Backup(Resource):
    availability_zone: str | None = None
    volume_id: str
    snapshot_id: str | None = None
    container: str | None = None
    object_count: int
    fail_reason: str | None = None
    data_timestamp: str | None = None
    is_incremental: bool
    has_dependent_backups: bool
    links: list[Link]
    project_id: str | None = Field(
        None, alias="os-backup-project-attr:project_id", description="From 3.18, admins only."
    )
    metadata: Metadata | None = Field(None, description="From 3.43.")
    user_id: str | None = Field(None, description="From 3.56, admins only.")


BackupSummaryResponse = wrapped("BackupSummaryResponse", "backup", BackupSummary)
BackupResponse = wrapped("BackupResponse", "backup", Backup)
BackupListResponse = listing("BackupListResponse", "backups", BackupSummary)
BackupDetailListResponse = listing("BackupDetailListResponse", "backups", Backup)


class RestoreResult(View):
    backup_id: str
    volume_id: str
    volume_name: str | None = None


class BackupRecord(View):
    backup_service: str
    backup_url: str


BackupRestoreResponse = wrapped("BackupRestoreResponse", "restore", RestoreResult)
BackupRecordResponse = wrapped(
    "BackupRecordResponse", "backup_record", BackupRecord, alias="backup-record"
)
