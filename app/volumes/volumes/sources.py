"""Volumes from volumes (Cinder's create from `snapshot_id` and from `source_volid`):
the new volume is made by the agent that holds its source's data, so it is placed on
the source's pool (`pick_pool`, the one place that chooses), claimed there with the
guarded claim, and charged to quota like any create. And how those jobs end.

Lock order, as every flow: job, volume (the source first, then the new one), snapshot,
group, quota usage, pool."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Snapshot, Volume, VolumeType
from app.errors import BadRequest
from app.runtime import Runtime
from app.scheduler.request import VolumeRequest
from app.volumes.capacity import claims
from app.volumes.groups import members as group_members
from app.volumes.kernel import quotas
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.states import SnapshotStatus, VolumeStatus
from app.volumes.snapshots import flows as snapshots
from app.volumes.types import qos_specs
from app.volumes.types import types as vtypes
from app.volumes.volumes import flows
from app.volumes.volumes.flows import CreateVolume

# Filters that judge where a new volume may go by hints, not whether a pool can hold
# it: the source's pool is given, and its capacity is exactly what is asked.
SKIPPED_FILTERS = tuple(f for f in flows.PLACEMENT_ONLY_FILTERS if f != "CapacityFilter")
# A clone reads a volume that is at rest, or attached (Cinder clones in-use volumes).
CLONABLE = (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE)


# The members of a create's body that name its source, and what each is.
SOURCE_KEYS = {"snapshot_id": "a snapshot", "source_volid": "another volume"}


@dataclass(frozen=True)
class Source:
    """What a new volume is made from: one of SOURCE_KEYS and the id it names."""

    key: str
    id: str


def source_of(body: Mapping[str, Any]) -> Source | None:
    """The source a create's body names (at most one, as Cinder: 400 for more)."""
    named = [key for key in SOURCE_KEYS if body.get(key) is not None]
    if len(named) > 1:
        raise BadRequest(
            "Invalid input received: a volume is made from at most one source, not from "
            f"{' and '.join(named)}."
        )
    if not named:
        return None
    value = body[named[0]]
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Invalid input for field/attribute {named[0]}: it must be an id.")
    return Source(named[0], value)


async def create_from(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    spec: CreateVolume,
    source: Source,
) -> tuple[Volume, Outcome]:
    if source.key == "snapshot_id":
        return await create_from_snapshot(session, runtime, ctx, spec, source.id)
    return await create_clone(session, runtime, ctx, spec, source.id)


@dataclass(frozen=True)
class Placement:
    """A pool a new volume is placed on, its size already claimed there."""

    host: str  # 'node@backend#pool'
    pool_id: int


# --- where --------------------------------------------------------------------------------


async def pick_pool(
    session: AsyncSession,
    runtime: Runtime,
    source: Volume,
    request: VolumeRequest,
    outcome: Outcome,
) -> Placement:
    """The pool a volume made from `source`'s data (a snapshot of it, or itself) goes
    to, with `request.size_gb` claimed there: the source's own pool, whose agent reads
    the data locally. 400 saying why when that pool's filters (but the hints') refuse
    the request or the guarded claim finds no room. This is the one place that
    chooses: a copy between agents would pick another pool here."""
    host, pool_id = source.host, source.pool_id
    if host is None or pool_id is None:
        raise BadRequest(f"Invalid volume: Volume {source.id} is on no pool to copy it from.")
    why = runtime.scheduler.pool_passes(host, request, skip=SKIPPED_FILTERS)
    if why is not None:
        raise BadRequest(f"No valid backend: pool {host} of volume {source.id} refuses: {why}.")
    allocated = await claims.claim(session, pool_id, request.size_gb, thin=request.thin)
    if allocated is None:
        kind = "thin" if request.thin else "thick"
        raise BadRequest(
            f"No valid backend: pool {host} of volume {source.id} has no room for "
            f"{request.size_gb} GB ({kind}) more."
        )
    outcome.ledgers[flows.split_host(host)] = allocated
    return Placement(host, pool_id)


# --- create from a snapshot ---------------------------------------------------------------


async def volume_from_snapshot(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    snapshot: Snapshot,
    spec: CreateVolume,
    vtype: VolumeType,
    place: Placement,
    outcome: Outcome,
) -> Volume:
    """One volume made from `snapshot` on `place`, in the caller's transaction: the row
    in 'creating' (placed, `snapshot_id` set) and its `create_volume_from_snapshot` job.
    The caller holds the snapshot's lock (its volume's before it), has checked that it
    is available and at most `spec.size` GB, took the quota and claimed `spec.size` on
    `place` (one claim for many volumes is fine: each gives back its own size).
    `spec.availability_zone` is the zone the volume is in (its source's)."""
    volume = await _placed(session, ctx, spec, vtype, place, snapshot_id=snapshot.id)
    payload = jobkinds.CreateFromSnapshotPayload(
        volume=flows.volume_ref(volume),
        snapshot=snapshots.snapshot_ref(snapshot),
        qos_specs=await qos_specs.for_type(session, volume.volume_type_id),
    )
    flows.queue_job(
        session,
        runtime,
        volume,
        jobkinds.CREATE_VOLUME_FROM_SNAPSHOT,
        payload,
        outcome,
        ctx.request_id,
    )
    return volume


async def create_from_snapshot(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    spec: CreateVolume,
    snapshot_id: str,
) -> tuple[Volume, Outcome]:
    """POST /volumes with `snapshot_id`: the caller's available snapshot; the size
    defaults to the snapshot's (smaller: 400; larger: made, then grown), the type to
    its volume's; placed and claimed on its volume's pool (pick_pool), quota taken as
    for any create. The snapshot cannot be deleted while the volume is 'creating'."""
    snapshot, source = await snapshots.get_locked(session, ctx, snapshot_id)
    if snapshot.status != SnapshotStatus.AVAILABLE:
        raise BadRequest(
            f"Invalid snapshot: Snapshot {snapshot.id} status must be available to create "
            f"a volume from it, but current status is: {snapshot.status}."
        )
    spec = _sized(spec, snapshot.size, f"snapshot {snapshot.id}")
    return await _create(
        session, runtime, ctx, spec, source, snapshot=snapshot, what=f"snapshot {snapshot.id}"
    )


# --- clone ----------------------------------------------------------------------------------


async def create_clone(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    spec: CreateVolume,
    source_volid: str,
) -> tuple[Volume, Outcome]:
    """POST /volumes with `source_volid`: a copy of the caller's volume, available or
    in-use (as Cinder); sizes and placement as from a snapshot. The source is neither
    deleted, extended, migrated nor reverted while the clone is 'creating'
    (group_members.check_not_cloning)."""
    source = await flows.get(session, ctx, source_volid, for_update=True)
    if source.status not in CLONABLE:
        raise BadRequest(
            f"Invalid volume: Volume {source.id} status must be {' or '.join(CLONABLE)} "
            f"to clone it, but current status is: {source.status}."
        )
    spec = _sized(spec, source.size, f"source volume {source.id}")
    return await _create(
        session, runtime, ctx, spec, source, snapshot=None, what=f"volume {source.id}"
    )


# --- shared ---------------------------------------------------------------------------------


def _sized(spec: CreateVolume, source_size: int, what: str) -> CreateVolume:
    """The size asked (0: not given, the source's), never smaller than the source."""
    if spec.size == 0:
        return replace(spec, size=source_size)
    if spec.size < source_size:
        raise BadRequest(
            f"Invalid input received: Volume size '{spec.size}'GB cannot be smaller than "
            f"the {what} size {source_size}GB. They must be >= original {what} size."
        )
    return spec


async def _create(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    spec: CreateVolume,
    source: Volume,
    *,
    snapshot: Snapshot | None,
    what: str,
) -> tuple[Volume, Outcome]:
    if spec.volume_type:
        vtype = await vtypes.get(session, ctx, spec.volume_type)
    else:
        found = await session.get(VolumeType, source.volume_type_id)
        if found is None:  # a type in use cannot be deleted; say so rather than crash
            raise BadRequest(f"Volume {source.id} has no volume type.")
        vtype = found
    zone = spec.availability_zone
    if zone is not None and zone != source.availability_zone:
        raise BadRequest(
            f"Invalid input received: Availability zone '{zone}' is not the zone of the "
            f"{what} ({source.availability_zone}): the volume is made where its source is."
        )
    spec = replace(spec, availability_zone=source.availability_zone)
    if spec.group_id is not None:
        await group_members.check_new_member(session, ctx, spec.group_id, vtype.id)
    await quotas.consume(
        session, runtime.settings, ctx.project_id, {"volumes": 1, "gigabytes": spec.size}
    )
    request = await flows.scheduling_request(
        session,
        size=spec.size,
        project_id=ctx.project_id,
        volume_id=None,
        multiattach=spec.multiattach or vtypes.is_multiattach(vtype),
        vtype=vtype,
        zone=source.availability_zone,
        hints=spec.scheduler_hints,
        tried=set(),
    )
    if spec.group_id is not None:
        pool = await group_members.pool_of(session, spec.group_id)
        if pool != source.host:
            raise BadRequest(
                f"Invalid input received: group {spec.group_id} keeps its volumes on pool "
                f"{pool or 'none'}, and a volume made from {what} is made on {source.host}."
            )
    outcome = Outcome()
    place = await pick_pool(session, runtime, source, request, outcome)
    if snapshot is not None:
        volume = await volume_from_snapshot(
            session, runtime, ctx, snapshot, spec, vtype, place, outcome
        )
        return volume, outcome
    volume = await _placed(session, ctx, spec, vtype, place, source_volid=source.id)
    payload = jobkinds.CloneVolumePayload(
        volume=flows.volume_ref(volume),
        source=flows.volume_ref(source),
        qos_specs=await qos_specs.for_type(session, volume.volume_type_id),
    )
    flows.queue_job(
        session, runtime, volume, jobkinds.CLONE_VOLUME, payload, outcome, ctx.request_id
    )
    return volume, outcome


async def _placed(
    session: AsyncSession,
    ctx: RequestContext,
    spec: CreateVolume,
    vtype: VolumeType,
    place: Placement,
    **source: str,
) -> Volume:
    return await flows.new_volume(
        session,
        ctx,
        spec,
        vtype,
        zone=spec.availability_zone or "",
        host=place.host,
        pool_id=place.pool_id,
        **source,
    )
