"""Atomic capacity claims on a pool: one guarded UPDATE, so the database, not any
replica's cache, decides whether a placement fits (docs/CONTRACTS.md)."""

from __future__ import annotations

from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Pool


async def claim(session: AsyncSession, pool_id: int, size_gb: float, *, thin: bool) -> float | None:
    """Add `size_gb` to the pool's ledger if it fits; the new ledger value, or None."""
    limit = Pool.limit_gb if thin else Pool.limit_thick_gb
    held = case(
        (Pool.allocated_gb > Pool.reported_allocated_gb, Pool.allocated_gb),
        else_=Pool.reported_allocated_gb,
    )
    result = await session.execute(
        update(Pool)
        .where(Pool.id == pool_id, Pool.present.is_(True), held + size_gb <= limit)
        .values(allocated_gb=Pool.allocated_gb + size_gb)
        .returning(Pool.allocated_gb)
    )
    row = result.first()
    return None if row is None else float(row[0])


async def release(session: AsyncSession, pool_id: int, size_gb: float) -> float:
    result = await session.execute(
        update(Pool)
        .where(Pool.id == pool_id)
        .values(allocated_gb=Pool.allocated_gb - size_gb)
        .returning(Pool.allocated_gb)
    )
    return float(result.scalar_one())
