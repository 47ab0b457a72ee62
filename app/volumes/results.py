"""What a finished job means for its resource, for every kind of the job catalog
(app/jobkinds.py): `RESULTS` holds the handler of each kind's success and of its failure,
each written next to its resource's flows; `apply` reads it, in the transaction that
records the job's end (the agent's result, or the reaper's verdict). `report` checks
what an agent posts against its kind's result model before anything is recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Job
from app.errors import BadRequest
from app.runtime import Runtime
from app.volumes.attachments import results as attachments
from app.volumes.backups import flows as backups
from app.volumes.backups import records as backup_records
from app.volumes.backups import restore as backup_restore
from app.volumes.kernel.outcome import JobEnd, Outcome
from app.volumes.snapshots import flows as snapshots
from app.volumes.volumes import results as volumes
from app.volumes.volumes import revert, unmanage

log = structlog.get_logger(__name__)


R = TypeVar("R", bound=jobkinds.Wire)


@dataclass(frozen=True)
class Ends(Generic[R]):
    """How a job of one kind ends for its resource: when the agent succeeded (with the
    kind's result model: the type checker holds the handler to it), and when it failed
    (or the reaper gave up on it)."""

    kind: jobkinds.JobKind[Any, R]
    on_success: Callable[[AsyncSession, Runtime, Job, R], Awaitable[Outcome]]
    on_failure: JobEnd


RESULTS: dict[jobkinds.JobKind[Any, Any], Ends[Any]] = {
    ends.kind: ends
    for ends in (
        Ends(jobkinds.CREATE_VOLUME, volumes.created, volumes.create_failed),
        Ends(jobkinds.DELETE_VOLUME, volumes.deleted, volumes.delete_failed),
        Ends(jobkinds.EXTEND_VOLUME, volumes.extended, volumes.extend_failed),
        Ends(jobkinds.MANAGE_VOLUME, volumes.managed, volumes.manage_failed),
        Ends(jobkinds.MIGRATE_VOLUME, volumes.migrated, volumes.migrate_failed),
        Ends(jobkinds.REMOVE_VOLUME_COPY, volumes.cleaned, volumes.cleanup_failed),
        Ends(jobkinds.CLONE_VOLUME, volumes.cloned, volumes.clone_failed),
        Ends(jobkinds.CREATE_SNAPSHOT, snapshots.created, snapshots.create_failed),
        Ends(jobkinds.DELETE_SNAPSHOT, snapshots.deleted, snapshots.delete_failed),
        Ends(jobkinds.MANAGE_SNAPSHOT, snapshots.managed, snapshots.manage_failed),
        Ends(jobkinds.CREATE_BACKUP, backups.created, backups.create_failed),
        Ends(jobkinds.DELETE_BACKUP, backups.deleted, backups.delete_failed),
        Ends(jobkinds.EXPORT_VOLUME, attachments.exported, attachments.export_failed),
        Ends(jobkinds.UNEXPORT_VOLUME, attachments.unexported, attachments.unexport_failed),
        Ends(jobkinds.EXPORT_FOR_COPY, volumes.exported_for_copy, volumes.export_for_copy_failed),
        Ends(jobkinds.UNEXPORT_FOR_COPY, volumes.cleaned, volumes.cleanup_failed),
        # A volume made from a snapshot ends as a clone does.
        Ends(jobkinds.CREATE_VOLUME_FROM_SNAPSHOT, volumes.cloned, volumes.clone_failed),
        Ends(
            jobkinds.REVERT_VOLUME_TO_SNAPSHOT,
            volumes.on_volume(revert.reverted),
            volumes.on_volume(revert.revert_failed),
        ),
        Ends(jobkinds.UNMANAGE_VOLUME, unmanage.volume_unmanaged, unmanage.volume_unmanage_failed),
        Ends(
            jobkinds.UNMANAGE_SNAPSHOT,
            unmanage.snapshot_unmanaged,
            unmanage.snapshot_unmanage_failed,
        ),
        Ends(jobkinds.LIST_MANAGEABLE_VOLUMES, unmanage.listed, unmanage.listing_failed),
        Ends(jobkinds.LIST_MANAGEABLE_SNAPSHOTS, unmanage.listed, unmanage.listing_failed),
        Ends(jobkinds.RESTORE_BACKUP, backup_restore.restored, backup_restore.restore_failed),
        Ends(jobkinds.IMPORT_BACKUP, backup_records.imported, backup_records.import_failed),
    )
}


@dataclass(frozen=True)
class Report:
    """An agent's report of a job's end, as it is recorded."""

    ok: bool
    result: dict[str, Any] | None
    error: str | None


def report(job: Job, ok: bool, result: dict[str, Any] | None, error: str | None) -> Report:
    """The agent's report, its result checked against the kind's model (and recorded in
    the model's wire form). A result that does not fit is refused (BadRequest naming
    what is wrong), or, for a kind whose result is the storage's answer to the user
    (JobKind.invalid_result_fails), recorded as the job's failure with that reason."""
    kind = jobkinds.lookup(job.kind, job.payload_version)
    if not ok or kind is None:
        return Report(ok, result, error)
    try:
        return Report(True, kind.dump_result(result), None)
    except jobkinds.InvalidJobData as exc:
        if not kind.invalid_result_fails:
            raise BadRequest(f"Job {job.id} ({kind.name}): {exc}.") from None
        # The agent's own words for the driver's invalid answer (app/agent/jobs.py).
        return Report(False, None, f"the driver's answer to {kind.name}: {exc}")


async def apply(session: AsyncSession, runtime: Runtime, job: Job, *, ok: bool) -> Outcome:
    """Apply the job's end: the success handler gets the result as its kind's model."""
    kind = jobkinds.lookup(job.kind, job.payload_version)
    ends = RESULTS.get(kind) if kind is not None else None
    if kind is None or ends is None:
        log.error(
            "no handler for job kind", kind=job.kind, version=job.payload_version, job_id=job.id
        )
        return Outcome()
    if not ok:
        return await ends.on_failure(session, runtime, job)
    return await ends.on_success(session, runtime, job, kind.load_result(job.result))
