"""Migrate a volume to another pool, and retype by migration (Cinder's migrate_volume and
retype with migration_policy 'on-demand').

The scheduler checks the target the admin names (Cinder's backend_passes_filters), or
picks one on another backend. In one transaction: the target pool's claim, the volume
in 'maintenance' (or 'retyping') with migration_status 'migrating', and a
`migrate_volume` job for the target's agent. That agent creates the volume on the
target, copies the source's bytes into it (never through the API process) and verifies
the copy by checksum. Its result swaps the volume onto the target and gives back the
source's claim; the old copy is then removed by a `delete_volume_copy` job. A failure
gives back the target's claim, removes whatever the target holds and leaves the source
as it was: the volume keeps its id, data and status either way.

The job's payload is the record of the target claim (pool id and size), so the result
or the reaper can release exactly what was claimed.

A target pool of another agent is reached over the data path (app/volumes/volumes/
crossagent.py): the source's agent exports the volume for the copy first, and the
target's agent reads it over iSCSI; the same result handlers end it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Job, Snapshot, Volume, VolumeType, utcnow
from app.errors import BadRequest
from app.runtime import Runtime
from app.scheduler.request import VolumeRequest
from app.volumes.capacity import claims
from app.volumes.groups import members as group_members
from app.volumes.kernel import jobs, messages
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import MigrationStatus, VolumeStatus
from app.volumes.types import qos_specs
from app.volumes.volumes import crossagent
from app.volumes.volumes.crossagent import Route
from app.volumes.volumes.flows import (
    MAX_CLAIM_TRIES,
    claim_first,
    copy_ref,
    queue_copy_removal,
    split_host,
    volume_ref,
    volume_request,
)
from app.volumes.volumes.manage import resolve_host


@dataclass(frozen=True)
class Target:
    key: str  # 'node@backend#pool'
    pool_id: int
    route: Route


async def migrate(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    host: str | None,
    *,
    force_host_copy: bool = False,
) -> Outcome:
    """os-migrate_volume (admin): to `host` ('node@backend#pool', or a backend with one
    pool), or, without one (3.16), wherever the scheduler ranks best off this backend.
    Every migration is a host copy through the agents (no driver has a copy of its own
    to skip), so force_host_copy is honoured whatever its value."""
    del force_host_copy
    await _check_movable(session, volume, "migrate")
    vtype = await session.get(VolumeType, volume.volume_type_id)
    if vtype is None:
        raise BadRequest(f"Invalid volume: Volume {volume.id} has no volume type.")
    request = await volume_request(
        session, volume, vtype, zone=None, hints={}, tried={split_host(volume.host or "")[0]}
    )
    outcome = Outcome()
    if host:
        key = resolve_host(runtime, host)
        if key == volume.host:
            raise BadRequest(
                f"Invalid host: Destination host {key} must be different from the current host."
            )
        route = (await _routes(session, volume)).get(split_host(key)[0])
        if not isinstance(route, Route):
            raise _unreachable(key, route)
        target = await _claim_named(session, runtime, key, request, outcome, route)
    else:
        target = await _claim_best(session, runtime, request, outcome, volume)
    await _start(
        session, runtime, ctx, volume, target, request, outcome, VolumeStatus.MAINTENANCE, None
    )
    return outcome


async def retype_by_migration(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    vtype: VolumeType,
    why: str,
) -> Outcome:
    """Retype with migration_policy 'on-demand' when the volume's pool does not suit the
    new type: move it to the best pool that does; the type changes when the copy is
    done (Cinder's find_retype_backend, then migrate)."""
    await _check_movable(session, volume, "retype")
    request = await volume_request(
        session, volume, vtype, zone=None, hints={}, tried={split_host(volume.host or "")[0]}
    )
    outcome = Outcome()
    try:
        target = await _claim_best(session, runtime, request, outcome, volume)
    except BadRequest as exc:
        raise BadRequest(f"Retype to {vtype.name} needs a migration ({why}); {exc}") from None
    await _start(
        session, runtime, ctx, volume, target, request, outcome, VolumeStatus.RETYPING, vtype.id
    )
    return outcome


async def _routes(session: AsyncSession, volume: Volume) -> dict[str, Route | str]:
    """The other backends a copy of the volume reaches (the same agent's, or another
    agent's over iSCSI), or why it cannot reach them."""
    return await crossagent.routes(session, split_host(volume.host or "")[0])


def _unreachable(key: str, why: str | None) -> BadRequest:
    return BadRequest(
        f"Invalid host: {key} cannot take a copy of the volume: "
        f"{why or 'its backend has never reported'}."
    )


async def _check_movable(session: AsyncSession, volume: Volume, action: str) -> None:
    if volume.status != VolumeStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} status must be available to {action} "
            f"by migration, but current status is: {volume.status}."
        )
    if volume.migration_status not in MigrationStatus.RESTING:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} is already being migrated "
            f"(migration status {volume.migration_status})."
        )
    if volume.host is None or volume.pool_id is None:
        raise BadRequest(f"Invalid volume: Volume {volume.id} is not on any backend.")
    if volume.group_id is not None:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} is in group {volume.group_id}, which pins it "
            "to the group's backend; remove it from the group first."
        )
    snapshot = await session.scalar(select(Snapshot.id).where(Snapshot.volume_id == volume.id))
    if snapshot is not None:
        raise BadRequest(f"Invalid volume: Volume {volume.id} must not have snapshots.")
    # A clone reads the source's file where it is now: moving it would remove that file.
    await group_members.check_not_cloning(session, volume, action)
    # A removal of an old copy names only that copy's file: were the volume moved back
    # there meanwhile (the agent runs jobs side by side, and retries them), it would
    # delete the volume's live data.
    removing = await session.scalar(
        select(Job.id)
        .where(
            Job.resource_id == volume.id,
            # Also the removal of an export for a copy: it names the copy's target,
            # which a new copy between agents would make again.
            Job.kind.in_((jobkinds.REMOVE_VOLUME_COPY.name, jobkinds.UNEXPORT_FOR_COPY.name)),
            Job.state.in_((jobs.PENDING, jobs.RUNNING)),
        )
        .limit(1)
    )
    if removing is not None:
        raise BadRequest(
            f"Invalid volume: an old copy of volume {volume.id} is still being removed "
            f"(job {removing}); {action} it once that is done."
        )


async def _claim_named(
    session: AsyncSession,
    runtime: Runtime,
    key: str,
    request: VolumeRequest,
    outcome: Outcome,
    route: Route,
) -> Target:
    """The named pool, if it passes every filter for this volume, claimed."""
    why = runtime.scheduler.pool_passes(key, request, skip=("IgnoreAttemptedHostsFilter",))
    pool_id = runtime.pools.id_of(key)
    if why is None and pool_id is None:
        why = f"no pool {key} has been reported"
    if why is not None:
        raise BadRequest(f"Invalid host: {key} cannot take volume {request.resource_id}: {why}.")
    assert pool_id is not None
    allocated = await claims.claim(session, pool_id, request.size_gb, thin=request.thin)
    if allocated is None:
        raise BadRequest(
            f"Invalid host: pool {key} has no room for {request.size_gb} GB "
            "(claimed by others meanwhile)."
        )
    outcome.ledgers[split_host(key)] = allocated
    return Target(key, pool_id, route)


async def _claim_best(
    session: AsyncSession,
    runtime: Runtime,
    request: VolumeRequest,
    outcome: Outcome,
    volume: Volume,
) -> Target:
    """The best-ranked pool a copy of the volume reaches that the database accepts."""
    routes = await _routes(session, volume)
    ranked = runtime.scheduler.select(request)
    candidates = [p for p in ranked if isinstance(routes.get(p.host), Route)][:MAX_CLAIM_TRIES]
    claimed = await claim_first(session, runtime, candidates, request, outcome)
    if claimed is not None:
        pool, pool_id = claimed
        route = routes[pool.host]
        assert isinstance(route, Route)
        return Target(pool.key, pool_id, route)
    if ranked and not candidates:
        why = routes.get(ranked[0].host)
        raise _unreachable(ranked[0].key, why if isinstance(why, str) else None)
    raise BadRequest(runtime.scheduler.no_valid_backend_reason(request))


async def _start(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    target: Target,
    request: VolumeRequest,
    outcome: Outcome,
    status: str,
    new_type_id: str | None,
) -> None:
    volume.previous_status = volume.status
    volume.status = status
    volume.migration_status = MigrationStatus.MIGRATING
    volume.updated_at = utcnow()
    migration = jobkinds.MigrateVolumePayload(
        volume=volume_ref(volume),
        target=copy_ref(volume, target.key),
        target_pool_id=target.pool_id,
        thin=request.thin,
        new_type_id=new_type_id,
        qos_specs=await qos_specs.for_type(session, new_type_id or volume.volume_type_id),
    )
    if target.route.initiator is not None:  # another agent's pool: over the data path
        crossagent.start_copy(
            session, runtime, migration, target.route.initiator, outcome, ctx.request_id
        )
        return
    _queue_migration(session, runtime, volume.id, migration, outcome, ctx.request_id)


def _queue_migration(
    session: AsyncSession,
    runtime: Runtime,
    volume_id: str,
    migration: jobkinds.MigrateVolumePayload,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    jobs.enqueue(
        session,
        kind=jobkinds.MIGRATE_VOLUME,
        payload=migration,
        backend=split_host(migration.target.host or "")[0],
        resource_id=volume_id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=request_id,
        sealer=runtime.sealer,
    )
    outcome.job_queued = True


# --- how the migrate job ends (app/volumes/volumes/results.py calls these) ----------------


async def migrated(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    volume: Volume,
    outcome: Outcome,
    result: jobkinds.Migrated,
) -> None:
    """The copy is on the target and verified: the volume moves there, the source's claim
    goes back and the old copy is removed."""
    if volume.migration_status != MigrationStatus.MIGRATING:
        return
    payload = jobkinds.MIGRATE_VOLUME.load(job.payload)
    source, target = payload.volume, payload.target
    outcome.ledgers[split_host(source.host or "")] = await claims.release(
        session, int(_pool_id_of(volume)), volume.size
    )
    volume.host = target.host
    volume.pool_id = payload.target_pool_id
    volume.provider_location = result.provider_location
    volume.availability_zone = _zone_of(runtime, target.host or "", volume.availability_zone)
    if payload.new_type_id:
        volume.volume_type_id = payload.new_type_id
    volume.status = volume.previous_status or VolumeStatus.AVAILABLE
    volume.migration_status = MigrationStatus.SUCCESS
    volume.updated_at = utcnow()
    target = target.model_copy(update={"provider_location": volume.provider_location})
    # A copy between agents: the source's export for it goes with the old copy.
    unexport = payload.source_export is not None
    queue_copy_removal(
        session, runtime, volume.id, source, target, outcome, job.request_id, unexport=unexport
    )


async def migrate_failed(
    session: AsyncSession, runtime: Runtime, job: Job, volume: Volume, outcome: Outcome
) -> None:
    """The source is untouched: the target's claim goes back, its copy is removed, and
    the volume returns to its status with migration_status 'error' and a message."""
    if volume.migration_status != MigrationStatus.MIGRATING:
        return
    payload = jobkinds.MIGRATE_VOLUME.load(job.payload)
    await _give_up(session, runtime, job, volume, outcome, payload)
    queue_copy_removal(
        session, runtime, volume.id, payload.target, payload.volume, outcome, job.request_id
    )
    if payload.source_export is not None:
        crossagent.queue_unexport(session, runtime, payload.volume, outcome, job.request_id)


async def _give_up(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    volume: Volume,
    outcome: Outcome,
    payload: jobkinds.MigrateVolumePayload,
) -> None:
    """The target's claim goes back and the volume returns to its status with
    migration_status 'error' and a user message; the caller removes what was made."""
    target = payload.target
    outcome.ledgers[split_host(target.host or "")] = await claims.release(
        session, payload.target_pool_id, volume.size
    )
    volume.status = volume.previous_status or VolumeStatus.AVAILABLE
    volume.migration_status = MigrationStatus.ERROR
    volume.updated_at = utcnow()
    action = Action.RETYPE_VOLUME if payload.new_type_id else Action.MIGRATE_VOLUME
    await messages.about_volume(
        session,
        volume,
        action,
        Detail.DRIVER_FAILED,
        f"Copy to {target.host} failed: {jobs.failure_reason(job)}",
        job.request_id,
    )


async def exported_for_copy(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    volume: Volume,
    outcome: Outcome,
    result: jobkinds.CopyExported,
) -> None:
    """The source is exported for a copy to another agent: that agent pulls it now."""
    payload = jobkinds.EXPORT_FOR_COPY.load(job.payload)
    if volume.migration_status != MigrationStatus.MIGRATING:
        crossagent.queue_unexport(session, runtime, payload.volume, outcome, job.request_id)
        return
    migration = crossagent.pull_job(runtime, payload, result)
    _queue_migration(session, runtime, volume.id, migration, outcome, job.request_id)


async def export_for_copy_failed(
    session: AsyncSession, runtime: Runtime, job: Job, volume: Volume, outcome: Outcome
) -> None:
    """The source could not be exported (or read) for the copy: nothing was made on the
    target; the claim goes back, and whatever export was made is removed."""
    payload = jobkinds.EXPORT_FOR_COPY.load(job.payload)
    crossagent.queue_unexport(session, runtime, payload.volume, outcome, job.request_id)
    if volume.migration_status != MigrationStatus.MIGRATING:
        return
    await _give_up(session, runtime, job, volume, outcome, payload.migration)


async def cleaned(
    _session: AsyncSession,
    _rt: Runtime,
    _job: Job,
    _volume: Volume,
    _o: Outcome,
    _result: jobkinds.NoResult,
) -> None:
    """An old copy is gone; the volume itself is not affected."""


def _pool_id_of(volume: Volume) -> int:
    if volume.pool_id is None:
        raise RuntimeError(f"volume {volume.id} migrated without a source pool")
    return volume.pool_id


def _zone_of(runtime: Runtime, key: str, default: str) -> str:
    host, _, name = key.partition("#")
    pool = runtime.cache.pool(host, name)
    return pool.availability_zone if pool is not None else default
