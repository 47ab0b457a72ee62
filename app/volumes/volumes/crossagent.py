"""Copying a volume's data from a pool of one agent to a pool of another (migrate and
retype by migration between agents; reusable for any copy that must cross agents).

No agent reads another host's disks, and the API process never carries volume data: the
source's agent exports the volume read-only, for the copy only (`export_for_copy`: a
target of its own, a CHAP account made for this copy, an ACL of the reading agent's
address), and reads the source's sha256 meanwhile. Its success queues the
`migrate_volume` job it carries, now naming that export (`source_export`, the CHAP
secret sealed), to the target's agent, which creates the volume there and pulls the
bytes over iSCSI (qemu-img, libiscsi) and checks them against that sha256. The
migration's own result handlers then finish it (app/volumes/volumes/migrate.py): on
success the source's agent removes the export and the old copy (`delete_volume_copy`
with `unexport`), on any failure it removes the export (`unexport_for_copy`) and the
source stays as it was.

`start_copy` is the entry point: given the migration record (the `migrate_volume`
payload: source, target, the target's claim) and the reading agent's address, it queues
the first job in the caller's transaction."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Backend
from app.runtime import Runtime
from app.volumes.kernel import jobs
from app.volumes.kernel.outcome import Outcome
from app.volumes.volumes.flows import split_host

_ALPHANUMERIC = string.ascii_letters + string.digits
# The copy's CHAP account: Cinder's lengths for the secret; the user names the copy.
CHAP_SECRET_LENGTH = 16
CHAP_USER_PREFIX = "copy-"


@dataclass(frozen=True)
class Route:
    """How a copy from one backend reaches another: read locally by the one agent that
    serves both (`initiator` None), or pulled over iSCSI by the target's agent from the
    address `initiator` (another agent)."""

    initiator: str | None = None

    @property
    def between_agents(self) -> bool:
        return self.initiator is not None


async def routes(session: AsyncSession, source: str) -> dict[str, Route | str]:
    """Every other backend known: the route a copy of a volume of backend `source`
    takes to it, or why there is none."""
    rows = (
        await session.execute(
            select(Backend.host, Backend.agent_id, Backend.report, Backend.job_versions)
        )
    ).all()
    by_host = {row.host: row for row in rows}
    origin = by_host.get(source)
    if origin is None:
        return {}
    out: dict[str, Route | str] = {}
    for host, row in by_host.items():
        if host == source:
            continue
        if row.agent_id == origin.agent_id:
            out[host] = Route()
        elif not _copies(origin.job_versions):
            out[host] = f"the agent of {source} cannot export a volume for a copy (upgrade it)"
        elif not _copies(row.job_versions):
            out[host] = f"the agent of {host} cannot copy from another agent (upgrade it)"
        elif not isinstance(address := (row.report or {}).get(jobkinds.INITIATOR_IP), str):
            out[host] = f"the agent of {host} reports no initiator address"
        else:
            out[host] = Route(initiator=address)
    return out


def _copies(job_versions: object) -> bool:
    """An agent that knows the kinds of a copy between agents (both ends need them)."""
    if not isinstance(job_versions, dict):
        return False
    return all(
        kind.version in (job_versions.get(kind.name) or [])
        for kind in (jobkinds.EXPORT_FOR_COPY, jobkinds.UNEXPORT_FOR_COPY)
    )


def start_copy(
    session: AsyncSession,
    runtime: Runtime,
    migration: jobkinds.MigrateVolumePayload,
    initiator: str,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    """Copy volume `migration.volume` (pool A, agent X) to `migration.target` (pool B,
    agent Y, claimed by the caller): queue the source's export for agent Y's address
    `initiator`; its result queues `migrate_volume` (with the export) to agent Y, and
    that job's handlers finish or undo the whole copy."""
    chap_secret = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(CHAP_SECRET_LENGTH))
    jobs.enqueue(
        session,
        kind=jobkinds.EXPORT_FOR_COPY,
        payload=jobkinds.CopyExportPayload(
            volume=migration.volume,
            chap_user=f"{CHAP_USER_PREFIX}{secrets.token_hex(8)}",
            chap_secret=chap_secret,
            initiators=[initiator],
            migration=migration,
        ),
        backend=split_host(migration.volume.host or "")[0],
        resource_id=migration.volume.id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=request_id,
        sealer=runtime.sealer,
    )
    outcome.job_queued = True


def pull_job(
    runtime: Runtime, export_payload: jobkinds.CopyExportPayload, result: jobkinds.CopyExported
) -> jobkinds.MigrateVolumePayload:
    """The `migrate_volume` payload that pulls the volume through the export made for
    it (`export_payload` as stored: its CHAP secret sealed)."""
    return export_payload.migration.model_copy(
        update={
            "source_export": jobkinds.SourceExport(
                target_portal=result.target_portal,
                target_iqn=result.target_iqn,
                target_lun=result.target_lun,
                chap_user=export_payload.chap_user,
                sha256=result.sha256,
                bytes=result.bytes,
            ),
            "source_chap_secret": runtime.sealer.unseal(export_payload.chap_secret),
        }
    )


def queue_unexport(
    session: AsyncSession,
    runtime: Runtime,
    source: jobkinds.VolumeRef,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    """Remove the source's export for a copy (the copy failed or is no longer wanted);
    the volume's own operations neither wait for it nor cancel it."""
    jobs.enqueue(
        session,
        kind=jobkinds.UNEXPORT_FOR_COPY,
        payload=jobkinds.VolumeJob(volume=source),
        backend=split_host(source.host or "")[0],
        resource_id=source.id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=request_id,
    )
    outcome.job_queued = True
