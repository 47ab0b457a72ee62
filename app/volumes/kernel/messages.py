"""User messages (Cinder's /messages): why an asynchronous operation failed, in words a
project's user can act on. Event ids follow Cinder: <RESOURCE>_<ACTION>_<DETAIL>."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Backup, Group, Message, Snapshot, Volume, utcnow

MESSAGE_TTL = timedelta(days=30)


class Action(Enum):
    SCHEDULE_ALLOCATE_VOLUME = ("001", "schedule allocate volume")
    ATTACH_VOLUME = ("002", "attach volume")
    UPDATE_ATTACHMENT = ("004", "update attachment")
    EXTEND_VOLUME = ("007", "extend volume")
    CREATE_VOLUME_FROM_BACKEND = ("008", "create volume from backend storage")
    SNAPSHOT_CREATE = ("009", "create snapshot")
    SNAPSHOT_DELETE = ("010", "delete snapshot")
    BACKUP_CREATE = ("013", "create backup")
    BACKUP_DELETE = ("014", "delete backup")
    BACKUP_RESTORE = ("015", "restore backup")
    DELETE_VOLUME = ("020", "delete volume")
    # Cinder records no message for a failed manage; Pumice's own actions start at 101.
    MANAGE_EXISTING_VOLUME = ("101", "manage existing volume")
    MANAGE_EXISTING_SNAPSHOT = ("120", "manage existing snapshot")
    MIGRATE_VOLUME = ("102", "migrate volume")
    RETYPE_VOLUME = ("103", "retype volume")
    CREATE_GROUP = ("130", "create group")
    CLONE_VOLUME = ("131", "clone volume")
    REVERT_VOLUME = ("160", "revert volume to snapshot")
    REMOVE_EXPORT = ("140", "remove volume export")
    # Cinder's ensure_export in init_host, which records no message.
    RESTORE_EXPORT = ("141", "export volume again after the storage agent restarted")
    UNMANAGE_VOLUME = ("150", "unmanage volume")
    UNMANAGE_SNAPSHOT = ("151", "unmanage snapshot")
    IMPORT_BACKUP_RECORD = ("152", "import backup record")


class Detail(Enum):
    UNKNOWN_ERROR = ("001", "An unknown error occurred.")
    DRIVER_NOT_INITIALIZED = ("002", "Driver is not initialized at present.")
    NO_BACKEND_AVAILABLE = ("003", "Could not find any available weighted backend.")
    QUOTA_EXCEED = ("007", "Quota exceeded.")
    DRIVER_FAILED = ("009", "Backend storage failed to complete the operation.")
    COMPUTE_EXTEND_FAILED = ("010", "Compute service failed to extend volume.")
    BACKUP_CREATE_DRIVER_ERROR = ("020", "Backup driver failed to create backup.")
    BACKUP_SCHEDULE_ERROR = (
        "024",
        "Backup failed to schedule. Service not found for creating backup.",
    )
    BACKUP_DELETE_DRIVER_ERROR = ("025", "Backup driver failed to delete backup.")
    BACKUP_RESTORE_ERROR = ("026", "Backup driver failed to restore backup.")
    # Pumice's own details start at 101.
    CONNECTION_TIMEOUT = ("101", "The storage agent did not export the volume in time.")
    BACKUP_IMPORT_ERROR = ("150", "The backup's data is missing or unreadable in its repository.")
    LEASE_EXPIRED = ("051", "The storage agent stopped responding while doing the operation.")


async def record(
    session: AsyncSession,
    *,
    project_id: str,
    resource_type: str,
    resource_uuid: str | None,
    action: Action,
    detail: Detail,
    reason: str | None = None,
    request_id: str | None = None,
) -> Message:
    action_id, action_text = action.value
    detail_id, detail_text = detail.value
    text = f"{action_text}: {detail_text}"
    if reason:
        text = f"{text} {reason}"
    now = utcnow()
    message = Message(
        project_id=project_id,
        request_id=request_id,
        resource_type=resource_type,
        resource_uuid=resource_uuid,
        event_id=f"VOLUME_{resource_type}_{action_id}_{detail_id}",
        action_id=action_id,
        detail_id=detail_id,
        message_level="ERROR",
        user_message=text,
        created_at=now,
        expires_at=now + MESSAGE_TTL,
    )
    session.add(message)
    return message


# Cinder's resource_type of a message about each kind of row.
RESOURCE_TYPES: dict[type, str] = {
    Volume: "VOLUME",
    Snapshot: "VOLUME_SNAPSHOT",
    Backup: "VOLUME_BACKUP",
    Group: "GROUP",
}


async def about(
    session: AsyncSession,
    row: Volume | Snapshot | Backup | Group,
    action: Action,
    detail: Detail,
    reason: str | None,
    request_id: str | None,
) -> Message:
    """A message about one volume, snapshot, backup or group, for its project."""
    return await record(
        session,
        project_id=row.project_id,
        resource_type=RESOURCE_TYPES[type(row)],
        resource_uuid=row.id,
        action=action,
        detail=detail,
        reason=reason,
        request_id=request_id,
    )


about_volume = about


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete the messages past their expires_at (Cinder's periodic cleanup of expired
    messages); how many went."""
    result = await session.execute(delete(Message).where(Message.expires_at < (now or utcnow())))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
