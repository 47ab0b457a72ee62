"""Volume flows: create (quota, schedule, claim, job), update, metadata, delete, extend.

Each flow is one transaction: the status change, the quota and pool claims and the job
that asks an agent to act commit together or not at all. The caller commits, then calls
`Outcome.after_commit()` (app/volumes/kernel/outcome.py) so this replica's cache and
waiting agents learn of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Job, Volume, VolumeMetadata, VolumeType, utcnow
from app.errors import BadRequest
from app.runtime import Runtime
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState
from app.volumes.capacity import claims
from app.volumes.groups import members as group_members
from app.volumes.kernel import jobs, lifecycle, messages, quotas, repository
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.metadata import MAX_METADATA_ITEMS, MetadataStore
from app.volumes.kernel.outcome import JobEnd as JobEnd  # importable here as before
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import VolumeStatus
from app.volumes.types import qos_specs
from app.volumes.types import types as vtypes

# How many ranked candidates one request tries in the database before giving up: the
# cache may be a moment behind the ledger, never by more than a few claims per pool.
MAX_CLAIM_TRIES = 8


P = TypeVar("P", bound=jobkinds.Wire)


@dataclass(frozen=True)
class CreateVolume:
    size: int
    name: str | None = None
    description: str | None = None
    volume_type: str | None = None
    availability_zone: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    multiattach: bool = False
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    group_id: str | None = None


def split_host(host: str) -> tuple[str, str]:
    backend, _, pool = host.partition("#")
    return backend, pool


def volume_ref(volume: Volume) -> jobkinds.VolumeRef:
    """The volume as an agent sees it (the VOL of job payloads)."""
    _, pool = split_host(volume.host or "")
    return jobkinds.VolumeRef(
        id=volume.id,
        size_gb=volume.size,
        name=volume.name,
        pool=pool,
        host=volume.host,
        provider_location=volume.provider_location,
    )


def copy_ref(volume: Volume, host: str) -> jobkinds.VolumeRef:
    """The volume as it is (or is to be) on pool `host`: same id and size, another place."""
    return volume_ref(volume).model_copy(
        update={"host": host, "pool": split_host(host)[1], "provider_location": None}
    )


def queue_job(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    kind: jobkinds.JobKind[P, Any],
    payload: P,
    outcome: Outcome,
    request_id: str | None,
    *,
    resource_id: str | None = None,
) -> Job:
    """Ask the agent of the volume's backend to act on it (or on `resource_id`, a
    snapshot of it), in the caller's transaction."""
    backend, _ = split_host(volume.host or "")
    job = jobs.enqueue(
        session,
        kind=kind,
        payload=payload,
        backend=backend,
        resource_id=resource_id or volume.id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=request_id,
        sealer=runtime.sealer,
    )
    outcome.job_queued = True
    return job


def queue_delete(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    payload = jobkinds.VolumeJob(volume=volume_ref(volume))
    queue_job(session, runtime, volume, jobkinds.DELETE_VOLUME, payload, outcome, request_id)


def queue_copy_removal(
    session: AsyncSession,
    runtime: Runtime,
    volume_id: str,
    remove: jobkinds.VolumeRef,
    keep: jobkinds.VolumeRef | None,
    outcome: Outcome,
    request_id: str | None,
) -> None:
    """Ask the agent of `remove`'s backend to delete that copy of the volume (what a
    failed create or clone may have left, a migration's old or partial copy), never the
    storage of `keep`, the copy the volume lives on (None: it lives nowhere). The agent
    runs it after any operation of the same volume still running on that backend."""
    jobs.enqueue(
        session,
        kind=jobkinds.REMOVE_VOLUME_COPY,
        payload=jobkinds.RemoveVolumeCopyPayload(volume=remove, keep=keep),
        backend=split_host(remove.host or "")[0],
        resource_id=volume_id,
        max_attempts=runtime.settings.job_max_attempts,
        request_id=request_id,
    )
    outcome.job_queued = True


def validate_metadata(metadata: object) -> dict[str, str]:
    if not isinstance(metadata, dict):
        raise BadRequest("Malformed metadata: it must be an object of strings.")
    if len(metadata) > MAX_METADATA_ITEMS:
        raise BadRequest(f"Too many metadata items (at most {MAX_METADATA_ITEMS}).")
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            raise BadRequest("Metadata keys must be strings of 1 to 255 characters.")
        if not isinstance(value, str) or len(value) > 255:
            raise BadRequest(
                f"Metadata value for {key} must be a string of at most 255 characters."
            )
        out[key] = value
    return out


VOLUMES = repository.VOLUMES
visible = VOLUMES.visible


async def get(
    session: AsyncSession,
    ctx: RequestContext,
    volume_id: str,
    *,
    for_update: bool = False,
    with_jobs: bool = False,
) -> Volume:
    """The caller's volume. `with_jobs` (a force delete, which cancels them) first locks
    the volume's in-flight jobs: the lock order is job, then volume, as for a result."""
    if with_jobs:
        await jobs.active(session, volume_id, lock=True)
    return await VOLUMES.get(session, ctx, volume_id, for_update=for_update)


async def create(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: CreateVolume
) -> tuple[Volume, Outcome]:
    settings = runtime.settings
    if spec.volume_type:
        vtype = await vtypes.get(session, ctx, spec.volume_type)
    else:
        vtype = await vtypes.default(session, settings.default_volume_type)
    zone = spec.availability_zone
    check_zone(runtime, zone)
    if spec.group_id is not None:
        await group_members.check_new_member(session, ctx, spec.group_id, vtype.id)
    await quotas.consume(session, settings, ctx.project_id, {"volumes": 1, "gigabytes": spec.size})
    volume = await new_volume(
        session, ctx, spec, vtype, zone=zone or settings.default_availability_zone
    )
    request = await volume_request(
        session, volume, vtype, zone=zone, hints=spec.scheduler_hints, tried=set()
    )
    outcome = Outcome()
    await schedule(session, runtime, volume, request, outcome, ctx.request_id, previous=[])
    return volume, outcome


async def new_volume(
    session: AsyncSession,
    ctx: RequestContext,
    spec: CreateVolume,
    vtype: VolumeType,
    *,
    zone: str,
    **placed: Any,
) -> Volume:
    """The caller's new volume as `spec` asks, 'creating' (`placed`: more columns, such
    as the host and pool of a volume placed at once, or its source), flushed."""
    volume = Volume(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=spec.name,
        description=spec.description,
        size=spec.size,
        status=VolumeStatus.CREATING,
        availability_zone=zone,
        volume_type_id=vtype.id,
        # Cinder takes multiattach from the type (the body's flag is its older spelling).
        multiattach=spec.multiattach or vtypes.is_multiattach(vtype),
        volume_metadata=[VolumeMetadata(key=k, value=v) for k, v in spec.metadata.items()],
        group_id=spec.group_id,
        **placed,
    )
    session.add(volume)
    await session.flush()
    return volume


async def volume_request(
    session: AsyncSession,
    volume: Volume,
    vtype: VolumeType,
    *,
    zone: str | None,
    hints: dict[str, Any],
    tried: set[str],
) -> VolumeRequest:
    request = await scheduling_request(
        session,
        size=volume.size,
        project_id=volume.project_id,
        volume_id=volume.id,
        multiattach=volume.multiattach,
        vtype=vtype,
        zone=zone,
        hints=hints,
        tried=tried,
    )
    if volume.group_id is not None:
        # A group's volumes live on the group's pool, first placement and retries alike.
        request.only_pool = await group_members.pool_of(session, volume.group_id)
    return request


async def scheduling_request(
    session: AsyncSession,
    *,
    size: int,
    project_id: str,
    volume_id: str | None,
    multiattach: bool,
    vtype: VolumeType,
    zone: str | None,
    hints: dict[str, Any],
    tried: set[str],
) -> VolumeRequest:
    request = VolumeRequest(
        size_gb=size,
        availability_zone=zone,
        extra_specs=vtypes.specs_of(vtype),
        volume_type_id=vtype.id,
        volume_type_name=vtype.name,
        scheduler_hints=hints,
        project_id=project_id,
        resource_id=volume_id,
        multiattach=multiattach,
        ignore_hosts=tried,
        qos_specs=await qos_specs.for_type(session, vtype.id, qos_specs.CONSUMERS) or {},
    )
    wanted = request.affinity_volume_ids()
    if wanted:
        # The affinity hints name volumes of the same project (Cinder looks them up in
        # the caller's context); unknown ids simply match nothing.
        rows = await session.execute(
            select(Volume.id, Volume.host).where(
                Volume.id.in_(wanted), Volume.project_id == project_id
            )
        )
        request.resolved_hints = {i: h for i, h in rows if h}
    return request


async def dry_run(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: CreateVolume
) -> dict[str, Any]:
    """Where a create like this would land now, and what each filter removed: the
    scheduler's own account, with nothing claimed."""
    if spec.volume_type:
        vtype = await vtypes.get(session, ctx, spec.volume_type)
    else:
        vtype = await vtypes.default(session, runtime.settings.default_volume_type)
    request = await scheduling_request(
        session,
        size=spec.size,
        project_id=ctx.project_id,
        volume_id=None,
        multiattach=spec.multiattach,
        vtype=vtype,
        zone=spec.availability_zone,
        hints=spec.scheduler_hints,
        tried=set(),
    )
    explained = runtime.scheduler.explain(request)
    for step in explained["filters"]:
        step["summary"] = f"{step['name']} removed {step['removed']} of {step['before']} pools"
    if not explained["candidates"]:
        explained["reason"] = runtime.scheduler.no_valid_backend_reason(request)
    explained["volume_type"] = {"id": vtype.id, "name": vtype.name}
    return explained


async def schedule(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    request: VolumeRequest,
    outcome: Outcome,
    request_id: str | None,
    previous: list[tuple[str, str]],
) -> bool:
    """Place the volume and queue its create job, or put it in error with a message that
    says why (and why each earlier attempt failed)."""
    placed = await place(session, runtime, request, outcome)
    if placed is None:
        volume.status = VolumeStatus.ERROR
        volume.updated_at = utcnow()
        reason = runtime.scheduler.no_valid_backend_reason(request)
        if previous:
            reason += " Earlier attempts: " + "; ".join(f"{b}: {e}" for b, e in previous)
        await messages.about_volume(
            session,
            volume,
            Action.SCHEDULE_ALLOCATE_VOLUME,
            Detail.NO_BACKEND_AVAILABLE,
            reason,
            request_id,
        )
        return False
    key, pool_id, zone_of_pool = placed
    volume.host, volume.pool_id = key, pool_id
    volume.availability_zone = zone_of_pool
    payload = jobkinds.CreateVolumePayload(
        volume=volume_ref(volume),
        request=jobkinds.PlacementRequest(
            availability_zone=request.availability_zone,
            scheduler_hints=request.scheduler_hints,
        ),
        qos_specs=await qos_specs.for_type(session, volume.volume_type_id),
    )
    queue_job(session, runtime, volume, jobkinds.CREATE_VOLUME, payload, outcome, request_id)
    return True


async def place(
    session: AsyncSession, runtime: Runtime, request: VolumeRequest, outcome: Outcome
) -> tuple[str, int, str] | None:
    """Claim the best candidate the database accepts: (pool key, pool id, zone)."""
    candidates = [
        pool
        for pool in runtime.scheduler.select(request, limit=MAX_CLAIM_TRIES)
        # A retry never goes back to a backend that failed it.
        if pool.host not in request.ignore_hosts and pool.key not in request.ignore_hosts
    ]
    claimed = await claim_first(session, runtime, candidates, request, outcome)
    if claimed is None:
        return None
    pool, pool_id = claimed
    return pool.key, pool_id, pool.availability_zone


async def claim_first(
    session: AsyncSession,
    runtime: Runtime,
    candidates: Iterable[PoolState],
    request: VolumeRequest,
    outcome: Outcome,
) -> tuple[PoolState, int] | None:
    """Claim the request's size on the first candidate the database accepts (the cache
    may be behind the ledgers: a refused claim moves on to the next)."""
    for pool in candidates:
        pool_id = runtime.pools.id_of(pool.key)
        if pool_id is None:
            continue
        allocated = await claims.claim(session, pool_id, request.size_gb, thin=request.thin)
        if allocated is not None:
            outcome.ledgers[(pool.host, pool.name)] = allocated
            return pool, pool_id
    return None


def known_zones(runtime: Runtime) -> set[str]:
    zones = {b.availability_zone for b in runtime.cache.backends()}
    zones.add(runtime.settings.default_availability_zone)
    return zones


def check_zone(runtime: Runtime, zone: str | None) -> None:
    """A zone asked for (of a new volume or group) must be a backend's or the default."""
    if zone is not None and zone not in known_zones(runtime):
        raise BadRequest(f"Invalid input received: Availability zone '{zone}' is invalid.")


async def update_volume(session: AsyncSession, volume: Volume, changes: dict[str, Any]) -> None:
    for key in ("name", "description"):
        if key in changes:
            setattr(volume, key, changes[key])
    if "metadata" in changes:
        await replace_metadata(session, volume, changes["metadata"])
    volume.updated_at = utcnow()


VOLUME_METADATA = MetadataStore(VolumeMetadata, "volume_id", "volume_metadata", "volume")
replace_metadata = VOLUME_METADATA.replace
merge_metadata = VOLUME_METADATA.merge
delete_metadata_key = VOLUME_METADATA.delete_key


async def reset_status(session: AsyncSession, volume: Volume, status: object) -> None:
    """os-reset_status (admin): only to a resting status, and never under an operation in
    flight: its job would later find a status it does not expect, and what it claimed
    would never be given back. A stuck volume is force-deleted instead."""
    await lifecycle.reset_status(session, volume, status)


async def release_extension(
    session: AsyncSession, volume: Volume, job: Job, outcome: Outcome
) -> None:
    """Give back what an extend that will not happen had claimed (quota, then pool)."""
    delta = jobkinds.EXTEND_VOLUME.load(job.payload).new_size_gb - volume.size
    await quotas.release(session, volume.project_id, {"gigabytes": delta})
    if volume.pool_id is not None and volume.host:
        outcome.ledgers[split_host(volume.host)] = await claims.release(
            session, volume.pool_id, delta
        )


async def finish_delete(
    session: AsyncSession, volume: Volume, outcome: Outcome, runtime: Runtime
) -> None:
    """The volume is gone: its row, its quota and its claim go in this transaction.
    Rows are locked in one order everywhere (job, volume, quota usage, pool) so that
    concurrent flows on PostgreSQL queue behind each other instead of deadlocking."""
    # The last member of a group being deleted takes the group with it (locked first:
    # the group row comes before quota usage and pool in the lock order).
    emptied = await group_members.leaving(session, volume)
    # A group holds its quota while it has a pool (one that failed placement gave it back).
    released = {"groups": 1} if emptied is not None and emptied.host else {}
    if volume.size > 0:  # size 0: a manage that never succeeded consumed nothing
        released.update({"volumes": 1, "gigabytes": volume.size})
    await quotas.release(session, volume.project_id, released)
    if volume.pool_id is not None and volume.host:
        allocated = await claims.release(session, volume.pool_id, volume.size)
        outcome.ledgers[split_host(volume.host)] = allocated
    await session.delete(volume)
    if emptied is not None:
        await session.flush()  # the volume row first: it refers to the group
        await session.delete(emptied)


async def extend(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    new_size: int,
    *,
    attached: bool = False,
) -> Outcome:
    """os-extend: an available volume, or (`attached`, 3.42) an in-use one, whose
    export then shows the new size too (app/volumes/volumes/extend.py)."""
    if new_size <= volume.size:
        raise BadRequest(
            f"Invalid input received: New size for extend must be greater than "
            f"current size. (current: {volume.size}, extended: {new_size})."
        )
    # A clone being copied from this volume would find its source larger than itself.
    await group_members.check_not_cloning(session, volume, "extend")
    resting = VolumeStatus.IN_USE if attached else VolumeStatus.AVAILABLE
    await lifecycle.transition(
        session, volume, (resting,), VolumeStatus.EXTENDING, "extend", previous_status=resting
    )
    delta = new_size - volume.size
    await quotas.consume(
        session, runtime.settings, volume.project_id, {"gigabytes": delta}, volume_size=new_size
    )
    outcome = Outcome()
    allocated, _ = await claim_in_place(session, volume, delta)
    if allocated is None:
        await quotas.release(session, volume.project_id, {"gigabytes": delta})
        volume.status = resting
        await messages.about_volume(
            session,
            volume,
            Action.EXTEND_VOLUME,
            Detail.NO_BACKEND_AVAILABLE,
            f"Pool {volume.host} has no room for {delta} GB more.",
            ctx.request_id,
        )
        return outcome
    outcome.ledgers[split_host(volume.host or "")] = allocated
    payload = jobkinds.ExtendVolumePayload(
        volume=volume_ref(volume), new_size_gb=new_size, attached=attached
    )
    queue_job(session, runtime, volume, jobkinds.EXTEND_VOLUME, payload, outcome, ctx.request_id)
    return outcome


async def provisioning(session: AsyncSession, volume: Volume) -> tuple[VolumeType | None, bool]:
    """The volume's type, and whether what is made of it is thin (unless it says thick)."""
    vtype = await session.get(VolumeType, volume.volume_type_id)
    thin = vtype is None or vtypes.specs_of(vtype).get("provisioning:type") != "thick"
    return vtype, thin


async def claim_in_place(
    session: AsyncSession, volume: Volume, size: int
) -> tuple[float | None, bool]:
    """Claim `size` GB more on the pool the volume is on (for it, or a snapshot of it),
    thin or thick as its type says: the pool's allocation after it, None when the pool
    has no room (or the volume no pool); and whether the claim was thin."""
    _, thin = await provisioning(session, volume)
    if volume.pool_id is None:
        return None, thin
    return await claims.claim(session, volume.pool_id, size, thin=thin), thin


async def count(session: AsyncSession, query: Select[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


# Filters that judge a new placement, not whether a pool can keep a volume it holds.
PLACEMENT_ONLY_FILTERS = (
    "CapacityFilter",
    "IgnoreAttemptedHostsFilter",
    "SameBackendFilter",
    "DifferentBackendFilter",
    "JsonFilter",
)
MIGRATION_POLICIES = ("never", "on-demand")


async def retype(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    new_type: str,
    policy: str,
) -> tuple[VolumeType, str] | None:
    """Change the volume's type in place when its pool satisfies the new type (the
    scheduler's find_retype_backend, in place). Otherwise, under 'on-demand', the new
    type and why the pool does not suit it: the caller migrates (app/volumes/volumes/migrate.py)."""
    if policy not in MIGRATION_POLICIES:
        raise BadRequest(f"Invalid migration_policy {policy!r}; use 'never' or 'on-demand'.")
    if not new_type:
        raise BadRequest("Invalid input: os-retype needs a 'new_type'.")
    vtype = await vtypes.get(session, ctx, new_type)
    if vtype.id == volume.volume_type_id:
        raise BadRequest(
            "Invalid volume type: New volume type must be different from the original."
        )
    if volume.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} status must be available or "
            f"in-use to retype, but current status is: {volume.status}."
        )
    if volume.host is None:
        raise BadRequest(f"Invalid volume: Volume {volume.id} has no backend to retype on.")
    await group_members.check_retype(session, volume, vtype.id)
    request = await volume_request(
        session, volume, vtype, zone=volume.availability_zone, hints={}, tried=set()
    )
    why = runtime.scheduler.pool_passes(volume.host, request, skip=PLACEMENT_ONLY_FILTERS)
    if why is None:
        volume.volume_type_id = vtype.id
        volume.updated_at = utcnow()
        return None
    if policy == "never":
        raise BadRequest(
            f"Retype to {vtype.name} needs a migration ({why}) and migration_policy is 'never'."
        )
    if volume.group_id is not None:
        raise BadRequest(
            f"Retype to {vtype.name} needs a migration ({why}), and volume {volume.id} is "
            f"in group {volume.group_id}, which keeps its volumes on its pool."
        )
    return vtype, why
