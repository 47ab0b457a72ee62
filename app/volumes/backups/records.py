"""Backup records (Cinder's export_record / import_record, admin only): what a backup
is, as a string another deployment (or this one, after the row was lost) imports to
know the backup again, its data left where it is.

`backup_url` is the base64 of a JSON record of the backup's fields plus where its data
lives (`repository`, `container`, the folder named by the backup's id); `backup_service`
is the repository. An import makes the backup `creating` on an up backup service of that
repository (quota taken) and queues `import_backup`: the agent reads and checks the
manifest, and the backup becomes `available` (or `error`, quota given back, with a
message, when the data is missing or unreadable)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Backup, BackupService, Job, utcnow
from app.errors import BadRequest
from app.runtime import Runtime
from app.volumes.backups import flows, restore
from app.volumes.backups import services as backup_services
from app.volumes.kernel import jobs, quotas
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import BackupStatus

RECORD_FORMAT = "pumice-backup-record"
RECORD_VERSION = 1
_FIELDS = (
    "id",
    "volume_id",
    "snapshot_id",
    "parent_id",
    "is_incremental",
    "name",
    "description",
    "container",
    "size",
    "object_count",
    "availability_zone",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_record(session: AsyncSession, backup: Backup) -> dict[str, str]:
    """The backup's record: {"backup_service": repository, "backup_url": base64 JSON}."""
    if backup.status != BackupStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid backup: Backup status must be available and not {backup.status}."
        )
    service = await backup_services.by_host(session, backup.service)
    if service is None:
        raise BadRequest(f"Invalid backup: The service of backup {backup.id} is not known.")
    record: dict[str, Any] = {name: getattr(backup, name) for name in _FIELDS}
    record |= {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "data_timestamp": _iso(backup.data_timestamp),
        "created_at": _iso(backup.created_at),
        "metadata": dict(backup.backup_metadata or {}),
        "service": backup.service,
        "repository": service.repository,
        # The data's folder: the id it was made under (an import may take another id).
        "folder": backup.service_metadata or backup.id,
    }
    url = base64.b64encode(json.dumps(record, sort_keys=True).encode()).decode()
    return {"backup_service": service.repository, "backup_url": url}


def _unparsable() -> BadRequest:
    return BadRequest("Invalid input received: Can't parse backup record.")


def parse_record(backup_service: str, backup_url: str) -> dict[str, Any]:
    """The record in `backup_url`, checked; 400 when it is not one of ours."""
    try:
        record = json.loads(base64.b64decode(backup_url, validate=True))
    except (binascii.Error, ValueError):
        raise _unparsable() from None
    if (
        not isinstance(record, dict)
        or record.get("format") != RECORD_FORMAT
        or record.get("version") != RECORD_VERSION
    ):
        raise _unparsable()
    try:
        record["id"] = str(uuid.UUID(str(record["id"])))
        size = record["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(size)
        record["folder"] = str(uuid.UUID(str(record.get("folder") or record["id"])))
        for name in ("volume_id", "container", "repository"):
            if not isinstance(record.get(name), str):
                raise ValueError(name)
        for name in ("data_timestamp", "created_at"):
            if record.get(name) is not None:
                record[name] = datetime.fromisoformat(record[name])
        if not isinstance(record.get("metadata") or {}, dict):
            raise ValueError("metadata")
    except (KeyError, ValueError, TypeError):
        raise _unparsable() from None
    if record["repository"] != backup_service:
        raise BadRequest(
            f"Invalid input received: The record's backup is in repository "
            f"{record['repository']}, not {backup_service}."
        )
    return record


async def import_record(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    backup_service: str,
    backup_url: str,
) -> tuple[Backup, Outcome]:
    record = parse_record(backup_service, backup_url)
    if await session.get(Backup, record["id"]) is not None:
        raise BadRequest("Invalid backup: Backup already exists in database.")
    service = await _service_of(session, runtime, backup_service, record.get("service"))
    size = int(record["size"])
    await quotas.consume(
        session, runtime.settings, ctx.project_id, {"backups": 1, "backup_gigabytes": size}
    )
    now = utcnow()
    backup = Backup(
        id=record["id"],
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        volume_id=record["volume_id"],
        snapshot_id=record.get("snapshot_id"),
        parent_id=record.get("parent_id"),
        is_incremental=bool(record.get("is_incremental")),
        name=record.get("name"),
        description=record.get("description"),
        container=record["container"],
        size=size,
        object_count=int(record.get("object_count") or 0),
        status=BackupStatus.CREATING,
        availability_zone=service.availability_zone,
        service=service.host,
        backup_metadata={str(k): str(v) for k, v in (record.get("metadata") or {}).items()},
        data_timestamp=record.get("data_timestamp") or now,
        service_metadata=record["folder"] if record["folder"] != record["id"] else None,
        created_at=now,
    )
    session.add(backup)
    await session.flush()
    jobs.enqueue(
        session,
        kind=jobkinds.IMPORT_BACKUP,
        payload=jobkinds.ImportBackupPayload(backup=restore.backup_ref(backup)),
        backend=service.host,
        resource_id=backup.id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=ctx.request_id,
    )
    outcome = Outcome()
    outcome.job_queued = True
    return backup, outcome


async def _service_of(
    session: AsyncSession, runtime: Runtime, repository: str, preferred: object
) -> BackupService:
    """An enabled, up backup service of the repository (the record's own first)."""
    down_time = runtime.settings.service_down_time
    now = utcnow()
    services = [
        s
        for s in await backup_services.all_services(session)
        if s.repository == repository
        and not s.disabled
        and backup_services.is_up(s, down_time, now)
    ]
    if not services:
        raise BadRequest(
            f"Invalid backup: No backup service that is enabled and up serves repository "
            f"{repository}."
        )
    return next((s for s in services if s.host == preferred), services[0])


# --- how an import ends ---------------------------------------------------------------------


async def _imported(
    session: AsyncSession, _job: Job, backup: Backup, result: jobkinds.BackupImported
) -> None:
    await flows.made(session, backup, result.object_count)


async def _import_failed(session: AsyncSession, job: Job, backup: Backup) -> None:
    await flows.not_made(
        session, job, backup, Action.IMPORT_BACKUP_RECORD, Detail.BACKUP_IMPORT_ERROR
    )


imported = flows.on_backup(_imported, reads_source=False)
import_failed = flows.on_backup(_import_failed, reads_source=False)
