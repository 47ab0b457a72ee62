"""Volume types and their extra specs."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.context import RequestContext
from app.db.models import (
    GroupVolumeType,
    Job,
    Volume,
    VolumeType,
    VolumeTypeExtraSpec,
    VolumeTypeProject,
    utcnow,
)
from app.db.upsert import insert_ignore
from app.volumes.kernel import jobs
from app.volumes.types.specs import SpecStore, TypeCatalog

DEFAULT_TYPE_DESCRIPTION = "Default Volume Type"


async def ensure_default_type(session: AsyncSession, name: str) -> None:
    await session.execute(
        insert_ignore(
            session,
            VolumeType,
            {
                "id": str(uuid.uuid4()),
                "name": name,
                "description": DEFAULT_TYPE_DESCRIPTION,
                "is_public": True,
                "created_at": utcnow(),
            },
        )
    )


def _visible(ctx: RequestContext):  # type: ignore[no-untyped-def]
    if ctx.is_admin:
        return True
    granted = select(VolumeTypeProject.volume_type_id).where(
        VolumeTypeProject.project_id == ctx.project_id
    )
    return or_(VolumeType.is_public.is_(True), VolumeType.id.in_(granted))


async def in_use(session: AsyncSession, type_id: str) -> bool:
    """Used by a volume, or listed by a group (Cinder's volume_type_destroy checks both)."""
    count = await session.scalar(
        select(func.count()).select_from(Volume).where(Volume.volume_type_id == type_id)
    )
    listed = await session.scalar(
        select(func.count())
        .select_from(GroupVolumeType)
        .where(GroupVolumeType.volume_type_id == type_id)
    )
    return bool(count or listed) or await _migration_target(session, type_id)


async def _migration_target(session: AsyncSession, type_id: str) -> bool:
    """Whether a retype by migration in flight moves a volume to this type: the volume
    takes it when the copy is done, so it must still exist then."""
    rows = await session.execute(
        select(Job.kind, Job.payload).where(
            Job.kind.in_((jobkinds.MIGRATE_VOLUME.name, jobkinds.EXPORT_FOR_COPY.name)),
            Job.state.in_((jobs.PENDING, jobs.RUNNING)),
        )
    )
    # A copy between agents starts with the source's export, which carries the migration.
    return any(
        (
            jobkinds.MIGRATE_VOLUME.load(payload)
            if kind == jobkinds.MIGRATE_VOLUME.name
            else jobkinds.EXPORT_FOR_COPY.load(payload).migration
        ).new_type_id
        == type_id
        for kind, payload in rows
    )


VOLUME_TYPES = TypeCatalog(
    VolumeType, "Volume type", "extra_specs", "extra spec", _visible, VolumeTypeExtraSpec, in_use
)
get = VOLUME_TYPES.get
# The configured default is found whatever its access.
default = VOLUME_TYPES.default


EXTRA_SPECS = SpecStore(
    VolumeTypeExtraSpec,
    "volume_type_id",
    "extra_specs",
    "Volume Type {type_id} has no extra specs with key {key}.",
)
specs_of = EXTRA_SPECS.of


def is_multiattach(vtype: VolumeType) -> bool:
    """A type whose volumes take several attachments at once (Cinder's spec
    `multiattach="<is> True"`)."""
    return specs_of(vtype).get("multiattach", "").strip().lower() == "<is> true"
