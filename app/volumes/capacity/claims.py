"""Atomic capacity claims on a pool: one guarded UPDATE, so the database, not any
replica's cache, decides whether a placement fits (docs/CONTRACTS.md)."""

from __future__ import annotations

from sqlalchemy import case, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.db.models import Pool

# Other replicas learn a pool's new ledger from this PostgreSQL channel; the message
# is delivered when the claiming transaction commits, in commit order.
CHANNEL = "pumice_capacity"


async def announce(session: AsyncSession, message: str) -> None:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :message)"), {"channel": CHANNEL, "message": message}
        )


def ledger_message(pool_id: int, allocated_gb: float) -> str:
    return f"ledger {pool_id} {allocated_gb!r}"


def report_message(backend_id: int) -> str:
    return f"report {backend_id}"


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
    metrics.claimed(row is not None)
    if row is None:
        return None
    await announce(session, ledger_message(pool_id, float(row[0])))
    return float(row[0])


async def release(session: AsyncSession, pool_id: int, size_gb: float) -> float:
    result = await session.execute(
        update(Pool)
        .where(Pool.id == pool_id)
        .values(allocated_gb=Pool.allocated_gb - size_gb)
        .returning(Pool.allocated_gb)
    )
    allocated = float(result.scalar_one())
    await announce(session, ledger_message(pool_id, allocated))
    return allocated
