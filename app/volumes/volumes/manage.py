"""Manage existing: take storage that already exists on a backend under a new volume.

Cinder's flow, with Pumice's claims. The API validates the host the admin names (the
scheduler's filters on that one pool: Cinder's "validate the given host") and creates
the volume in 'creating' with size 0 on that pool, with a `manage_volume` job in the
same transaction. The agent renames the storage to the volume's name and reports its
size; then, in one transaction, the project's quota and the pool's capacity are claimed
(quota first: the lock order of every flow) and the volume becomes 'available'. If
either claim fails, or the agent does, the volume goes to 'error_managing' with a user
message.

Quota accounting stays exact without a column of its own: a volume of size 0 has
consumed nothing (a created volume is at least 1 GB; a managed one gets its size only in
the transaction that consumes its quota and claims its capacity), so a failed manage
keeps size 0 and its delete has nothing to give back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import Job, Volume, VolumeMetadata, VolumeType, utcnow
from app.errors import BadRequest, OverQuota
from app.runtime import Runtime
from app.scheduler.request import VolumeRequest
from app.volumes.kernel import adoption, jobs, lifecycle, messages, quotas
from app.volumes.kernel.messages import Action, Detail
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.repository import VOLUMES
from app.volumes.kernel.states import VolumeStatus
from app.volumes.types import types as vtypes
from app.volumes.volumes.flows import claim_in_place, queue_job, split_host, volume_ref

# The size is not known until the agent reports it: the claim decides capacity then.
SKIPPED_FILTERS = ("CapacityFilter",)


@dataclass(frozen=True)
class ManageVolume:
    host: str
    ref: dict[str, Any]
    name: str | None = None
    description: str | None = None
    volume_type: str | None = None
    availability_zone: str | None = None
    bootable: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """The pool the volume will live on, validated."""

    key: str  # 'node@backend#pool'
    pool_id: int
    availability_zone: str


def resolve_host(runtime: Runtime, host: str) -> str:
    """'node@backend#pool', or 'node@backend' of a backend with one pool, as a pool key;
    BadRequest saying why the host is not valid otherwise."""
    backend_host, _, pool_name = host.partition("#")
    if pool_name:
        return host
    backend = runtime.cache.backend(backend_host)
    if backend is None:
        raise invalid_host(host, f"no backend {backend_host} has reported")
    pools = list(backend.pools)
    if len(pools) != 1:
        raise invalid_host(
            host,
            f"backend {backend_host} has {len(pools)} pools "
            f"({', '.join(pools) or 'none'}): name one as {backend_host}#<pool>",
        )
    return f"{backend_host}#{pools[0]}"


def invalid_host(host: str, reason: str) -> BadRequest:
    return BadRequest(f"Host {host} is not valid: {reason}.")


def validate_target(
    runtime: Runtime, host: str, vtype: VolumeType, zone: str | None, project_id: str
) -> Target:
    """The scheduler's own verdict on the one pool named: up, enabled, and passing the
    filters (zone, the type's extra specs...) except capacity, unknown until the agent
    has looked."""
    key = resolve_host(runtime, host)
    specs = vtypes.specs_of(vtype)
    request = VolumeRequest(
        size_gb=0,
        availability_zone=zone,
        extra_specs=specs,
        volume_type_id=vtype.id,
        volume_type_name=vtype.name,
        project_id=project_id,
        multiattach=vtypes.is_multiattach(vtype),
    )
    why = runtime.scheduler.pool_passes(key, request, skip=SKIPPED_FILTERS)
    if why is not None:
        raise invalid_host(host, why)
    pool_id = runtime.pools.id_of(key)
    backend_host, _, pool_name = key.partition("#")
    pool = runtime.cache.pool(backend_host, pool_name)
    if pool_id is None or pool is None:
        raise invalid_host(host, f"no pool {key} has been reported")
    return Target(key, pool_id, pool.availability_zone)


async def manage_existing(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, spec: ManageVolume
) -> tuple[Volume, VolumeType, Outcome]:
    """The volume in 'creating' on the given pool, size 0, and its manage job."""
    if spec.volume_type:
        vtype = await vtypes.get(session, ctx, spec.volume_type)
    else:
        vtype = await vtypes.default(session, runtime.settings.default_volume_type)
    target = validate_target(runtime, spec.host, vtype, spec.availability_zone, ctx.project_id)
    adopt = await adoption.adopts(session, spec.ref, Volume)
    volume = Volume(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=spec.name,
        description=spec.description,
        size=0,
        status=VolumeStatus.CREATING,
        availability_zone=target.availability_zone,
        volume_type_id=vtype.id,
        pool_id=target.pool_id,
        host=target.key,
        bootable=spec.bootable,
        multiattach=vtypes.is_multiattach(vtype),
        volume_metadata=[VolumeMetadata(key=k, value=v) for k, v in spec.metadata.items()],
    )
    session.add(volume)
    await session.flush()
    outcome = Outcome()
    payload = jobkinds.ManageVolumePayload(
        volume=volume_ref(volume), ref=spec.ref, adopt=adopt or None
    )
    queue_job(session, runtime, volume, jobkinds.MANAGE_VOLUME, payload, outcome, ctx.request_id)
    return volume, vtype, outcome


# --- the agent's answer (app/volumes/volumes/results.py) --------------------------------------


async def _locked_if_managing(session: AsyncSession, volume: Volume) -> bool:
    """Lock the volume row (job, volume, quota, pool: the one lock order) and say
    whether it still waits for its manage job (not force-deleted meanwhile)."""
    locked = await VOLUMES.lock(session, volume.id)
    return locked is not None and locked.status == VolumeStatus.CREATING


async def _error_managing(
    session: AsyncSession, job: Job, volume: Volume, detail: Detail, reason: str, **values: Any
) -> None:
    if not await lifecycle.move(
        session,
        volume,
        {"status": VolumeStatus.CREATING},
        status=VolumeStatus.ERROR_MANAGING,
        **values,
    ):
        return
    await messages.about_volume(
        session, volume, Action.MANAGE_EXISTING_VOLUME, detail, reason, job.request_id
    )


async def managed(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    volume: Volume,
    outcome: Outcome,
    result: jobkinds.Managed,
) -> None:
    """The agent took the storage over: claim quota, then capacity, at its size (a
    result without a valid size is the job's failure: app/volumes/results.py)."""
    if not await _locked_if_managing(session, volume):
        return
    size, location = result.size_gb, result.provider_location
    why = await _claim(session, runtime, volume, size, outcome)
    if why is not None:
        detail, reason = why
        # The storage stays renamed, as in Cinder: delete the volume to remove it.
        await _error_managing(session, job, volume, detail, reason, provider_location=location)
        return
    volume.size = size
    volume.status = VolumeStatus.AVAILABLE
    volume.provider_location = location
    volume.launched_at = volume.updated_at = utcnow()
    await session.flush()


async def _claim(
    session: AsyncSession, runtime: Runtime, volume: Volume, size: int, outcome: Outcome
) -> tuple[Detail, str] | None:
    """Quota (volumes +1, gigabytes +size), then the pool's capacity; all or nothing.
    None when both are taken, else why not."""
    settings = runtime.settings
    project = volume.project_id
    # One resource at a time, so a refusal of the second gives back exactly the first.
    try:
        await quotas.consume(session, settings, project, {"gigabytes": size})
    except OverQuota as exc:
        return Detail.QUOTA_EXCEED, exc.message
    try:
        await quotas.consume(session, settings, project, {"volumes": 1})
    except OverQuota as exc:
        await quotas.release(session, project, {"gigabytes": size})
        return Detail.QUOTA_EXCEED, exc.message
    allocated, thin = await claim_in_place(session, volume, size)
    if allocated is None:
        await quotas.release(session, project, {"volumes": 1, "gigabytes": size})
        kind = "thin" if thin else "thick"
        return (
            Detail.NO_BACKEND_AVAILABLE,
            f"Pool {volume.host} has no room for the {size} GB ({kind}) of the managed volume.",
        )
    outcome.ledgers[split_host(volume.host or "")] = allocated
    return None


async def manage_failed(
    session: AsyncSession, _rt: Runtime, job: Job, volume: Volume, _o: Outcome
) -> None:
    """The agent could not take the storage over: nothing was claimed."""
    await _error_managing(
        session,
        job,
        volume,
        Detail.DRIVER_FAILED,
        jobs.failure_reason(job),
    )
