"""Snapshot flows: create (quota, the scheduler's check of the volume's pool, claim, job),
update, metadata, delete, reset, and what an agent's result means for a snapshot.

A snapshot lives on its volume's pool and holds its size on that pool's claim ledger
while `pool_id` is set (Cinder's SchedulerManager.create_snapshot: backend_passes_filters
on the volume's backend with the snapshot's size, then consume it). Quota counts
`snapshots` and `gigabytes`, as Cinder does, from the create until the row goes.

Lock order, as every flow: job, volume, snapshot, quota usage, pool. A snapshot's volume
never changes, so a flow may read the snapshot unlocked to learn its volume, lock the
volume, then lock the snapshot.

A volume deleted with cascade waits in 'deleting' without a job of its own until its
last snapshot is gone (the snapshots' rows reference it); that snapshot's delete then
queues the volume's, or a failed one puts the volume in 'error_deleting' so nothing
waits forever."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, TypeVar

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import (
    Backend,
    Job,
    Pool,
    Snapshot,
    SnapshotMetadata,
    Volume,
    VolumeType,
    utcnow,
)
from app.errors import BadRequest, NotFound, OverQuota
from app.runtime import Runtime
from app.volumes.capacity import claims
from app.volumes.groups import members as group_members
from app.volumes.groups import snapshot_members
from app.volumes.kernel import adoption, jobs, lifecycle, messages, quotas, repository
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.metadata import MetadataStore
from app.volumes.kernel.outcome import More, Outcome
from app.volumes.kernel.states import SnapshotStatus, VolumeStatus
from app.volumes.volumes import flows as vflows

P = TypeVar("P", bound=jobkinds.Wire)
# Filters that judge a new placement's hints; the snapshot's pool is its volume's,
# and capacity is exactly what is being asked.
SKIPPED_FILTERS = tuple(f for f in vflows.PLACEMENT_ONLY_FILTERS if f != "CapacityFilter")


@dataclass(frozen=True)
class CreateSnapshot:
    volume_id: str
    name: str | None = None
    description: str | None = None
    force: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ManageSnapshot:
    volume_id: str
    ref: dict[str, Any]
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def snapshot_ref(snapshot: Snapshot) -> jobkinds.SnapshotRef:
    """The snapshot as an agent sees it (the SNAP of job payloads)."""
    return jobkinds.SnapshotRef(
        id=snapshot.id,
        size_gb=snapshot.size,
        name=snapshot.name,
        volume_id=snapshot.volume_id,
        provider_location=snapshot.provider_location,
    )


SNAPSHOTS = repository.SNAPSHOTS
visible = SNAPSHOTS.visible
get = SNAPSHOTS.get


async def get_locked(
    session: AsyncSession, ctx: RequestContext, snapshot_id: str, *, with_jobs: bool = False
) -> tuple[Snapshot, Volume]:
    """The caller's snapshot and its volume, locked in the one order (job, volume,
    snapshot). `with_jobs` (a force delete, which cancels them) locks its jobs first."""
    snapshot = await get(session, ctx, snapshot_id)
    if with_jobs:
        await jobs.active(session, snapshot.id, lock=True)
    volume = await repository.VOLUMES.lock(session, snapshot.volume_id)
    snapshot = await get(session, ctx, snapshot_id, for_update=True)
    if volume is None:  # the foreign key forbids it; say so rather than crash
        raise NotFound(f"Volume {snapshot.volume_id} could not be found.")
    return snapshot, volume


async def pool_key(session: AsyncSession, pool_id: int) -> tuple[str, str]:
    """('node@backend', 'pool') of a pool row: the cache's key for its ledger."""
    row = (
        await session.execute(
            select(Backend.host, Pool.name)
            .join(Backend, Backend.id == Pool.backend_id)
            .where(Pool.id == pool_id)
        )
    ).one()
    return str(row[0]), str(row[1])


# --- create -------------------------------------------------------------------------------


async def create(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: CreateSnapshot
) -> tuple[Snapshot, Outcome]:
    """The snapshot in 'creating' with its claim and job, or in 'error' with a message
    when the volume's pool cannot take it (it then holds no claim; its quota, like a
    volume's that found no backend, is given back when it is deleted)."""
    volume = await vflows.get(session, ctx, spec.volume_id, for_update=True)
    allowed = (
        (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE) if spec.force else (VolumeStatus.AVAILABLE,)
    )
    if volume.status not in allowed:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} status must be "
            f"{' or '.join(allowed)} to create a snapshot, but current status is: "
            f"{volume.status}."
        )
    await quotas.consume(
        session,
        runtime.settings,
        volume.project_id,
        {"snapshots": 1, "gigabytes": volume.size},
        # per_volume_gigabytes limits volumes, not their snapshots.
        volume_size=0,
    )
    snapshot = await new_snapshot(session, ctx, volume, spec, volume.size)
    outcome = Outcome()
    why = await place(session, runtime, snapshot, volume, outcome, ctx.request_id)
    if why is not None:
        snapshot.status = SnapshotStatus.ERROR
        snapshot.updated_at = utcnow()
        await messages.about(
            session,
            snapshot,
            Action.SNAPSHOT_CREATE,
            Detail.NO_BACKEND_AVAILABLE,
            why,
            ctx.request_id,
        )
    return snapshot, outcome


async def place(
    session: AsyncSession,
    runtime: Runtime,
    snapshot: Snapshot,
    volume: Volume,
    outcome: Outcome,
    request_id: str | None,
) -> str | None:
    """A new snapshot's claim on its volume's pool and its create job: None when both
    are made, else why not (then nothing is claimed and no job queued)."""
    why = await _claim_on_volume_pool(session, runtime, volume, snapshot.size, outcome)
    if why is not None:
        return why
    snapshot.pool_id = volume.pool_id
    payload = jobkinds.CreateSnapshotPayload(
        snapshot=snapshot_ref(snapshot), volume=vflows.volume_ref(volume)
    )
    kind = jobkinds.CREATE_SNAPSHOT
    _queue(session, runtime, snapshot, volume, kind, payload, outcome, request_id)
    return None


async def new_snapshot(
    session: AsyncSession,
    ctx: RequestContext,
    volume: Volume,
    spec: CreateSnapshot | ManageSnapshot,
    size: int,
    group_snapshot_id: str | None = None,
) -> Snapshot:
    """A 'creating' snapshot row of `volume`, which belongs with its volume: the volume's
    project sees and pays for it."""
    snapshot = Snapshot(
        group_snapshot_id=group_snapshot_id,
        project_id=volume.project_id,
        user_id=ctx.user_id,
        volume_id=volume.id,
        name=spec.name,
        description=spec.description,
        size=size,
        status=SnapshotStatus.CREATING,
        progress="0%",
        snapshot_metadata=[SnapshotMetadata(key=k, value=v) for k, v in spec.metadata.items()],
    )
    session.add(snapshot)
    await session.flush()
    return snapshot


def _queue(
    session: AsyncSession,
    runtime: Runtime,
    snapshot: Snapshot,
    volume: Volume,
    kind: jobkinds.JobKind[P, Any],
    payload: P,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    """A job on the snapshot, run by the agent of its volume's backend."""
    vflows.queue_job(
        session, runtime, volume, kind, payload, outcome, request_id, resource_id=snapshot.id
    )


async def _claim_on_volume_pool(
    session: AsyncSession, runtime: Runtime, volume: Volume, size: int, outcome: Outcome
) -> str | None:
    """The scheduler's filters on the volume's pool for `size` GB of the volume's type,
    then the claim; None when claimed, else why not."""
    if volume.host is None or volume.pool_id is None:
        return f"Volume {volume.id} is on no pool."
    vtype, thin = await vflows.provisioning(session, volume)
    if vtype is not None:
        why = await _pool_refuses(session, runtime, volume, vtype, size, SKIPPED_FILTERS)
        if why is not None:
            return f"Pool {volume.host} cannot take the snapshot: {why}."
    allocated = await claims.claim(session, volume.pool_id, size, thin=thin)
    if allocated is None:
        kind = "thin" if thin else "thick"
        return f"Pool {volume.host} has no room for {size} GB ({kind}) more."
    outcome.ledgers[vflows.split_host(volume.host)] = allocated
    return None


async def _pool_refuses(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    vtype: VolumeType,
    size: int,
    skip: tuple[str, ...],
) -> str | None:
    """Why the scheduler's filters (but `skip`) refuse `size` GB more on the volume's
    own pool for a snapshot of it; None when they pass."""
    request = await vflows.scheduling_request(
        session,
        size=size,
        project_id=volume.project_id,
        volume_id=volume.id,
        multiattach=volume.multiattach,
        vtype=vtype,
        zone=volume.availability_zone,
        hints={},
        tried=set(),
    )
    return runtime.scheduler.pool_passes(volume.host or "", request, skip=skip)


# --- update and metadata ------------------------------------------------------------------


async def update_snapshot(
    session: AsyncSession, snapshot: Snapshot, changes: dict[str, Any]
) -> None:
    for key in ("name", "description"):
        if key in changes:
            setattr(snapshot, key, changes[key])
    snapshot.updated_at = utcnow()
    await session.flush()


SNAPSHOT_METADATA = MetadataStore(SnapshotMetadata, "snapshot_id", "snapshot_metadata", "snapshot")
replace_metadata = SNAPSHOT_METADATA.replace
merge_metadata = SNAPSHOT_METADATA.merge
delete_metadata_key = SNAPSHOT_METADATA.delete_key


# --- delete -------------------------------------------------------------------------------


async def delete_snapshot(
    session: AsyncSession,
    runtime: Runtime,
    snapshot: Snapshot,
    volume: Volume,
    request_id: str | None,
    outcome: Outcome,
    *,
    force: bool = False,
    finish_volume: bool = True,
    with_group_snapshot: bool = False,
) -> None:
    """'deleting' and a delete job; or gone at once when no job ever ran for it (then
    nothing of it can exist on the backend). Both rows must be locked by the caller.
    A member of a group snapshot goes only `with_group_snapshot` (its delete)."""
    if not with_group_snapshot:
        snapshot_members.check_own_delete(snapshot)
    if not force:
        await check_not_read(session, snapshot)
    # A force delete overrides whatever was in flight; the agent runs one job per
    # snapshot at a time, so the delete queued below follows a create still running.
    await lifecycle.start_delete(session, snapshot, force=force)
    ever_ran = await session.scalar(select(exists().where(Job.resource_id == snapshot.id)))
    if not ever_ran:
        await finish_delete(session, runtime, snapshot, volume, outcome, request_id, finish_volume)
        return
    payload = jobkinds.SnapshotJob(snapshot=snapshot_ref(snapshot))
    _queue(
        session, runtime, snapshot, volume, jobkinds.DELETE_SNAPSHOT, payload, outcome, request_id
    )


async def check_not_read(session: AsyncSession, snapshot: Snapshot) -> None:
    """A snapshot a volume is being made from is not deleted before that volume is
    made (Cinder's volume manager holds the snapshot's delete lock meanwhile)."""
    reading = await session.scalar(
        select(Volume.id)
        .where(Volume.snapshot_id == snapshot.id, Volume.status == VolumeStatus.CREATING)
        .limit(1)
    )
    if reading is not None:
        raise BadRequest(
            f"Invalid snapshot: Snapshot {snapshot.id} is being read into volume {reading}; "
            "delete it once that volume is created."
        )


async def finish_delete(
    session: AsyncSession,
    runtime: Runtime,
    snapshot: Snapshot,
    volume: Volume,
    outcome: Outcome,
    request_id: str | None,
    finish_volume: bool = True,
) -> None:
    """The snapshot is gone: its row, its quota and its claim go in this transaction;
    then a volume that waited for its snapshots goes on with its own delete."""
    if snapshot.size > 0:  # 0: a manage that never succeeded consumed nothing
        await quotas.release(
            session, snapshot.project_id, {"snapshots": 1, "gigabytes": snapshot.size}
        )
    if snapshot.pool_id is not None:
        key = await pool_key(session, snapshot.pool_id)
        outcome.ledgers[key] = await claims.release(session, snapshot.pool_id, snapshot.size)
    await session.delete(snapshot)
    await session.flush()
    if finish_volume:
        await _continue_volume_delete(session, runtime, volume, outcome, request_id)


async def has_snapshots(session: AsyncSession, volume_id: str) -> bool:
    return bool(await session.scalar(select(exists().where(Snapshot.volume_id == volume_id))))


async def _waiting_volume(session: AsyncSession, volume: Volume) -> bool:
    """Whether the volume is in 'deleting' only because of its snapshots (no job)."""
    return volume.status == VolumeStatus.DELETING and not await jobs.active(session, volume.id)


async def _continue_volume_delete(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    if not await _waiting_volume(session, volume) or await has_snapshots(session, volume.id):
        return
    if volume.pool_id is None:
        await vflows.finish_delete(session, volume, outcome, runtime)
        return
    vflows.queue_delete(session, runtime, volume, outcome, request_id)


async def before_volume_delete(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    request_id: str | None,
    outcome: Outcome,
    *,
    cascade: bool,
) -> bool:
    """Cinder's rule for a volume delete: no snapshots, or `cascade` and none being
    created; with cascade each snapshot goes to 'deleting' with its job (those already
    'deleting' are on their way). True when snapshots remain: the volume's own delete
    then waits for the last of them. The volume is locked by the caller."""
    rows = (
        await session.scalars(
            repository.locking(
                select(Snapshot).where(Snapshot.volume_id == volume.id).order_by(Snapshot.id)
            )
        )
    ).all()
    if not rows:
        return False
    if not cascade:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} has dependent snapshots; delete them "
            "first or delete the volume with cascade."
        )
    busy = [s.id for s in rows if s.status == SnapshotStatus.CREATING]
    if busy:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} has snapshots being created "
            f"({', '.join(busy)}); wait for them before a cascade delete."
        )
    for snapshot in rows:
        if snapshot.status != SnapshotStatus.DELETING:
            await delete_snapshot(
                session, runtime, snapshot, volume, request_id, outcome, finish_volume=False
            )
    return await has_snapshots(session, volume.id)


async def reset_status(session: AsyncSession, snapshot: Snapshot, status: object) -> None:
    """os-reset_status (admin): only to a resting status, and never under a job."""
    await lifecycle.reset_status(session, snapshot, status)


# --- manage existing ----------------------------------------------------------------------


async def manage_existing(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: ManageSnapshot
) -> tuple[Snapshot, Outcome]:
    """The snapshot in 'creating', size 0 and no claim, with its manage job; the size,
    quota and capacity come with the agent's answer (as for a managed volume)."""
    volume = await vflows.get(session, ctx, spec.volume_id, for_update=True)
    if volume.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} status must be available or in-use to "
            f"manage a snapshot of it, but current status is: {volume.status}."
        )
    if volume.host is None or volume.pool_id is None:
        raise BadRequest(f"Invalid volume: Volume {volume.id} is on no backend.")
    vtype, _ = await vflows.provisioning(session, volume)
    if vtype is not None:
        # The size is not known until the agent has looked: the claim decides capacity.
        skip = vflows.PLACEMENT_ONLY_FILTERS
        why = await _pool_refuses(session, runtime, volume, vtype, 0, skip)
        if why is not None:
            raise BadRequest(f"Host {volume.host} is not valid: {why}.")
    adopt = await adoption.adopts(session, spec.ref, Snapshot)
    snapshot = await new_snapshot(session, ctx, volume, spec, 0)
    outcome = Outcome()
    payload = jobkinds.ManageSnapshotPayload(
        snapshot=snapshot_ref(snapshot),
        volume=vflows.volume_ref(volume),
        ref=spec.ref,
        adopt=adopt or None,
    )
    _queue(
        session,
        runtime,
        snapshot,
        volume,
        jobkinds.MANAGE_SNAPSHOT,
        payload,
        outcome,
        ctx.request_id,
    )
    return snapshot, outcome


# --- the agent's answer (registered in app/volumes/results.py) ----------------------------


SnapshotEnd = Callable[
    Concatenate[AsyncSession, Runtime, Job, Snapshot, Volume, Outcome, More], Awaitable[None]
]


def on_snapshot(
    end: SnapshotEnd[More],
) -> Callable[Concatenate[AsyncSession, Runtime, Job, More], Awaitable[Outcome]]:
    """A job end that locks the job's snapshot and its volume (volume first, the lock
    order), then applies `end`; nothing when either is gone."""

    async def apply(
        session: AsyncSession, runtime: Runtime, job: Job, *more: More.args, **kw: More.kwargs
    ) -> Outcome:
        outcome = Outcome()
        found = await session.get(Snapshot, job.resource_id)
        if found is None:
            return outcome
        volume = await repository.VOLUMES.lock(session, found.volume_id)
        snapshot = await SNAPSHOTS.lock(session, job.resource_id)
        if snapshot is None or volume is None:
            return outcome
        await end(session, runtime, job, snapshot, volume, outcome, *more, **kw)
        return outcome

    return apply


def gone_when(status: str) -> SnapshotEnd[[jobkinds.NoResult]]:
    """The end of a job that removes the snapshot (a delete; an unmanage, which keeps
    the storage): its row, quota and claim go, if it is still in `status`; the last
    member of a group snapshot takes the group snapshot with it."""

    async def gone(
        session: AsyncSession,
        runtime: Runtime,
        job: Job,
        snapshot: Snapshot,
        volume: Volume,
        outcome: Outcome,
        _result: jobkinds.NoResult,
    ) -> None:
        if snapshot.status != status:
            return
        group_snapshot = await snapshot_members.member_leaving(session, snapshot)
        await finish_delete(session, runtime, snapshot, volume, outcome, job.request_id)
        if group_snapshot is not None:  # its last member: it goes with it
            await session.delete(group_snapshot)
            await session.flush()

    return gone


async def _created(
    session: AsyncSession,
    _rt: Runtime,
    _job: Job,
    snapshot: Snapshot,
    _volume: Volume,
    _o: Outcome,
    result: jobkinds.Created,
) -> None:
    if snapshot.status == SnapshotStatus.CREATING:
        await snapshot_members.member_created(session, snapshot, SnapshotStatus.AVAILABLE)
    await _available(session, snapshot, result.provider_location)


async def _available(
    session: AsyncSession, snapshot: Snapshot, location: str | None, **values: Any
) -> None:
    """The agent made (or took over) the snapshot: ready, where the agent says it is."""
    await lifecycle.move(
        session,
        snapshot,
        {"status": SnapshotStatus.CREATING},
        status=SnapshotStatus.AVAILABLE,
        progress="100%",
        provider_location=location,
        **values,
    )


async def _create_failed(
    session: AsyncSession,
    _rt: Runtime,
    job: Job,
    snapshot: Snapshot,
    _volume: Volume,
    outcome: Outcome,
) -> None:
    """The claim goes back at once; the quota with the snapshot's delete (as a volume
    whose create failed). Its delete still asks the agent: a create that outlived its
    lease may have finished the file after all."""
    if snapshot.status != SnapshotStatus.CREATING:
        return
    await snapshot_members.member_created(session, snapshot, SnapshotStatus.ERROR)
    if snapshot.pool_id is not None:
        key = await pool_key(session, snapshot.pool_id)
        outcome.ledgers[key] = await claims.release(session, snapshot.pool_id, snapshot.size)
    await lifecycle.move(
        session,
        snapshot,
        {"status": SnapshotStatus.CREATING},
        status=SnapshotStatus.ERROR,
        pool_id=None,
    )
    await messages.about(
        session,
        snapshot,
        Action.SNAPSHOT_CREATE,
        Detail.DRIVER_FAILED,
        jobs.failure_reason(job),
        job.request_id,
    )


async def _delete_failed(
    session: AsyncSession,
    _rt: Runtime,
    job: Job,
    snapshot: Snapshot,
    volume: Volume,
    _o: Outcome,
) -> None:
    if not await lifecycle.move(
        session, snapshot, {"status": SnapshotStatus.DELETING}, status=SnapshotStatus.ERROR_DELETING
    ):
        return
    await snapshot_members.member_delete_failed(session, snapshot)
    await messages.about(
        session,
        snapshot,
        Action.SNAPSHOT_DELETE,
        Detail.DRIVER_FAILED,
        jobs.failure_reason(job),
        job.request_id,
    )
    if await _waiting_volume(session, volume):
        # Its cascade cannot finish: the volume leaves 'deleting' and may be deleted again.
        await lifecycle.move(
            session,
            volume,
            {"status": VolumeStatus.DELETING},
            status=VolumeStatus.ERROR_DELETING,
        )
        # A group being deleted with it stops too, or it would wait for it forever.
        await group_members.member_delete_failed(session, volume)
        await messages.about_volume(
            session,
            volume,
            Action.DELETE_VOLUME,
            Detail.DRIVER_FAILED,
            f"Snapshot {snapshot.id} could not be deleted: {jobs.failure_reason(job)}",
            job.request_id,
        )


async def _managed(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    snapshot: Snapshot,
    volume: Volume,
    outcome: Outcome,
    result: jobkinds.Managed,
) -> None:
    """The agent took the storage over: claim quota, then capacity, at its size (a
    result without a valid size is the job's failure: app/volumes/results.py)."""
    if snapshot.status != SnapshotStatus.CREATING:
        return
    size, location = result.size_gb, result.provider_location
    why = await _claim_managed(session, runtime, snapshot, volume, size, outcome)
    if why is not None:
        detail, reason = why
        # The storage stays renamed, as in Cinder: delete the snapshot to remove it.
        await _manage_failed(
            session, job, snapshot, reason, detail=detail, provider_location=location
        )
        return
    await _available(session, snapshot, location, size=size, pool_id=volume.pool_id)


async def _claim_managed(
    session: AsyncSession,
    runtime: Runtime,
    snapshot: Snapshot,
    volume: Volume,
    size: int,
    outcome: Outcome,
) -> tuple[Detail, str] | None:
    """Quota (gigabytes +size, snapshots +1), then the volume pool's capacity; all or
    nothing. None when all are taken, else why not."""
    project = snapshot.project_id
    settings = runtime.settings
    # One resource at a time, so a refusal of the second gives back exactly the first
    # (this transaction also records the job's end: it cannot be rolled back).
    try:
        await quotas.consume(session, settings, project, {"gigabytes": size}, volume_size=0)
    except OverQuota as exc:
        return Detail.QUOTA_EXCEED, exc.message
    try:
        await quotas.consume(session, settings, project, {"snapshots": 1}, volume_size=0)
    except OverQuota as exc:
        await quotas.release(session, project, {"gigabytes": size})
        return Detail.QUOTA_EXCEED, exc.message
    allocated, _ = await vflows.claim_in_place(session, volume, size)
    if allocated is None or volume.host is None:
        await quotas.release(session, project, {"snapshots": 1, "gigabytes": size})
        return (
            Detail.NO_BACKEND_AVAILABLE,
            f"Pool {volume.host} has no room for the {size} GB of the managed snapshot.",
        )
    outcome.ledgers[vflows.split_host(volume.host)] = allocated
    return None


async def _not_managed(
    session: AsyncSession,
    _rt: Runtime,
    job: Job,
    snapshot: Snapshot,
    _volume: Volume,
    _o: Outcome,
) -> None:
    await _manage_failed(session, job, snapshot, jobs.failure_reason(job))


async def _manage_failed(
    session: AsyncSession,
    job: Job,
    snapshot: Snapshot,
    reason: str,
    *,
    detail: Detail = Detail.DRIVER_FAILED,
    **values: Any,
) -> None:
    if await lifecycle.move(
        session,
        snapshot,
        {"status": SnapshotStatus.CREATING},
        status=SnapshotStatus.ERROR,
        **values,
    ):
        await messages.about(
            session,
            snapshot,
            Action.MANAGE_EXISTING_SNAPSHOT,
            detail,
            reason,
            job.request_id,
        )


# How each snapshot job ends (registered per kind in app/volumes/results.py).
created, create_failed = on_snapshot(_created), on_snapshot(_create_failed)
deleted = on_snapshot(gone_when(SnapshotStatus.DELETING))
delete_failed = on_snapshot(_delete_failed)
managed, manage_failed = on_snapshot(_managed), on_snapshot(_not_managed)
