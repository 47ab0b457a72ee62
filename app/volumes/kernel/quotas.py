"""Quotas: limits (project value, else the default class, else the setting) and usage
counters that change only by guarded updates in the transaction that creates or removes
what they count, so concurrent requests can never take a project over its limit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Quota, QuotaClass, QuotaUsage
from app.db.upsert import insert_ignore
from app.errors import BadRequest, OverQuota

DEFAULT_CLASS = "default"
RESOURCES = (
    "volumes",
    "gigabytes",
    "snapshots",
    "backups",
    "backup_gigabytes",
    "groups",
    "per_volume_gigabytes",
)
# Resources that are a ceiling on one item, not a counter.
NOT_COUNTED = frozenset({"per_volume_gigabytes"})


def setting_defaults(settings: Settings) -> dict[str, int]:
    return {r: int(getattr(settings, f"quota_{r}")) for r in RESOURCES}


async def defaults(session: AsyncSession, settings: Settings) -> dict[str, int]:
    return await _with_class(session, setting_defaults(settings), DEFAULT_CLASS)


async def _with_class(
    session: AsyncSession, limits: dict[str, int], class_name: str
) -> dict[str, int]:
    """`limits` with a quota class's own values over them (where it has one)."""
    rows = await session.execute(
        select(QuotaClass.resource, QuotaClass.hard_limit).where(
            QuotaClass.class_name == class_name
        )
    )
    for resource, limit in rows:
        if resource in limits:
            limits[resource] = int(limit)
    return limits


async def limits(session: AsyncSession, settings: Settings, project_id: str) -> dict[str, int]:
    out = await defaults(session, settings)
    rows = await session.execute(
        select(Quota.resource, Quota.hard_limit).where(Quota.project_id == project_id)
    )
    for resource, limit in rows:
        if resource in out:
            out[resource] = int(limit)
    return out


async def usage(session: AsyncSession, project_id: str) -> dict[str, int]:
    out = {r: 0 for r in RESOURCES if r not in NOT_COUNTED}
    rows = await session.execute(
        select(QuotaUsage.resource, QuotaUsage.in_use).where(QuotaUsage.project_id == project_id)
    )
    for resource, in_use in rows:
        out[resource] = int(in_use)
    return out


@dataclass(frozen=True)
class QuotaExceeded:
    resource: str
    requested: int
    in_use: int
    limit: int


async def consume(
    session: AsyncSession,
    settings: Settings,
    project_id: str,
    deltas: dict[str, int],
    *,
    volume_size: int | None = None,
) -> None:
    """Take `deltas` of the project's quota or raise OverQuota; the caller's transaction
    makes it final together with the resource it counts. `volume_size` is the size the
    one volume concerned will have (an extend's new size), checked against
    per_volume_gigabytes; it defaults to the gigabytes delta (a create)."""
    project_limits = await limits(session, settings, project_id)
    per_volume = project_limits["per_volume_gigabytes"]
    size = deltas.get("gigabytes", 0) if volume_size is None else volume_size
    if per_volume >= 0 and size > per_volume:
        raise OverQuota(
            f"VolumeSizeExceedsLimit: Requested volume size {size}G is larger "
            f"than maximum allowed limit {per_volume}G."
        )
    for resource, delta in sorted(deltas.items()):
        if delta == 0:
            continue
        await session.execute(
            insert_ignore(
                session, QuotaUsage, {"project_id": project_id, "resource": resource, "in_use": 0}
            )
        )
        limit = project_limits.get(resource, -1)
        stmt = (
            update(QuotaUsage)
            .where(QuotaUsage.project_id == project_id, QuotaUsage.resource == resource)
            .values(in_use=QuotaUsage.in_use + delta)
        )
        if limit >= 0 and delta > 0:
            stmt = stmt.where(QuotaUsage.in_use + delta <= limit)
        result = await session.execute(stmt)
        if result.rowcount == 0:  # type: ignore[attr-defined]
            in_use = (
                await session.scalars(
                    select(QuotaUsage.in_use).where(
                        QuotaUsage.project_id == project_id, QuotaUsage.resource == resource
                    )
                )
            ).one()
            raise OverQuota(_exceeded_message(QuotaExceeded(resource, delta, int(in_use), limit)))


def _exceeded_message(e: QuotaExceeded) -> str:
    if e.resource == "gigabytes":
        return (
            f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
            f"gigabytes quota. Requested {e.requested}G, quota is {e.limit}G and "
            f"{e.in_use}G has been consumed."
        )
    return f"Maximum number of {e.resource} allowed ({e.limit}) exceeded for quota '{e.resource}'."


async def release(session: AsyncSession, project_id: str, deltas: dict[str, int]) -> None:
    for resource, delta in sorted(deltas.items()):
        if delta:
            await session.execute(
                update(QuotaUsage)
                .where(QuotaUsage.project_id == project_id, QuotaUsage.resource == resource)
                .values(in_use=QuotaUsage.in_use - delta)
            )


MAX_LIMIT = 0x7FFFFFFF  # Cinder's db.MAX_INT
MAX_NAME = 64  # the width of the project id column (class names are kept as narrow)


def validate_limits(values: dict[str, object]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, raw in values.items():
        if key not in RESOURCES:
            raise BadRequest(f"Bad key(s) in quota set: {key}")
        try:
            value = int(str(raw))
        except ValueError as exc:
            raise BadRequest(f"Quota limit {raw!r} for {key} must be an integer.") from exc
        if value < -1:
            raise BadRequest(f"Quota limit {value} for {key} must be -1 or greater.")
        if value > MAX_LIMIT:
            raise BadRequest(f"Quota limit {value} for {key} must be at most {MAX_LIMIT}.")
        out[key] = value
    return out


def validate_name(name: str, what: str) -> str:
    """A project id or quota class name that fits its column."""
    if not name or len(name) > MAX_NAME:
        raise BadRequest(f"Invalid {what} {name[:80]!r}: at most {MAX_NAME} characters.")
    return name


async def set_project_limits(
    session: AsyncSession, settings: Settings, project_id: str, values: dict[str, int]
) -> None:
    in_use = await usage(session, project_id)
    for resource, limit in values.items():
        if limit >= 0 and resource in in_use and in_use[resource] > limit:
            raise BadRequest(
                f"Quota limit {limit} for {resource} must be equal or greater than existing "
                f"resources. Current usage is {in_use[resource]}."
            )
        row = await session.get(Quota, (project_id, resource))
        if row is None:
            session.add(Quota(project_id=project_id, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit


async def reset_project_limits(session: AsyncSession, project_id: str) -> None:
    for row in await session.scalars(select(Quota).where(Quota.project_id == project_id)):
        await session.delete(row)


async def class_limits(
    session: AsyncSession, settings: Settings, class_name: str
) -> dict[str, int]:
    """A quota class's limits: its own values over the defaults. Projects use the
    default class; others are kept (and shown) as Cinder keeps them."""
    out = await defaults(session, settings)
    if class_name != DEFAULT_CLASS:
        out = await _with_class(session, out, class_name)
    return out


async def set_class_limits(
    session: AsyncSession, values: dict[str, int], class_name: str = DEFAULT_CLASS
) -> None:
    for resource, limit in values.items():
        row = await session.get(QuotaClass, (class_name, resource))
        if row is None:
            session.add(QuotaClass(class_name=class_name, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit
