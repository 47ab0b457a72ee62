"""What a finished job means for its resource, for every kind of the job catalog
(app/jobkinds.py): `RESULTS` holds the handler of each kind's success and of its failure,
each written next to its resource's flows; `apply` reads it, in the transaction that
records the job's end (the agent's result, or the reaper's verdict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Job
from app.runtime import Runtime
from app.volumes.attachments import results as attachments
from app.volumes.backups import flows as backups
from app.volumes.kernel.outcome import JobEnd, Outcome
from app.volumes.snapshots import flows as snapshots
from app.volumes.volumes import results as volumes

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Ends:
    """How a job of one kind ends for its resource: when the agent succeeded, and when
    it failed (or the reaper gave up on it)."""

    on_success: JobEnd
    on_failure: JobEnd


RESULTS: dict[jobkinds.JobKind[Any, Any], Ends] = {
    jobkinds.CREATE_VOLUME: Ends(volumes.created, volumes.create_failed),
    jobkinds.DELETE_VOLUME: Ends(volumes.deleted, volumes.delete_failed),
    jobkinds.EXTEND_VOLUME: Ends(volumes.extended, volumes.extend_failed),
    jobkinds.MANAGE_VOLUME: Ends(volumes.managed, volumes.manage_failed),
    jobkinds.MIGRATE_VOLUME: Ends(volumes.migrated, volumes.migrate_failed),
    jobkinds.REMOVE_VOLUME_COPY: Ends(volumes.cleaned, volumes.cleanup_failed),
    jobkinds.CLONE_VOLUME: Ends(volumes.cloned, volumes.clone_failed),
    jobkinds.CREATE_SNAPSHOT: Ends(snapshots.created, snapshots.create_failed),
    jobkinds.DELETE_SNAPSHOT: Ends(snapshots.deleted, snapshots.delete_failed),
    jobkinds.MANAGE_SNAPSHOT: Ends(snapshots.managed, snapshots.manage_failed),
    jobkinds.CREATE_BACKUP: Ends(backups.created, backups.create_failed),
    jobkinds.DELETE_BACKUP: Ends(backups.deleted, backups.delete_failed),
    jobkinds.EXPORT_VOLUME: Ends(attachments.exported, attachments.export_failed),
    jobkinds.UNEXPORT_VOLUME: Ends(attachments.unexported, attachments.unexport_failed),
}


async def apply(session: AsyncSession, runtime: Runtime, job: Job, *, ok: bool) -> Outcome:
    kind = jobkinds.lookup(job.kind, job.payload_version)
    ends = RESULTS.get(kind) if kind is not None else None
    if ends is None:
        log.error(
            "no handler for job kind", kind=job.kind, version=job.payload_version, job_id=job.id
        )
        return Outcome()
    return await (ends.on_success if ok else ends.on_failure)(session, runtime, job)
