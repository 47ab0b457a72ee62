"""The database's clock: one clock every replica shares, where the agents' clocks and the
replicas' own may disagree."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def database_now(session: AsyncSession) -> datetime:
    """The database's current time, naive UTC (as every stored timestamp)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        # clock_timestamp(), not now(): now() is when the transaction began, and a report
        # may wait on a row lock for a while after that.
        value = await session.scalar(select(func.clock_timestamp()))
        assert isinstance(value, datetime)
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    # SQLite's 'now' is UTC; CURRENT_TIMESTAMP would drop the fraction of a second.
    text = await session.scalar(select(func.strftime("%Y-%m-%d %H:%M:%f", "now")))
    return datetime.fromisoformat(str(text))
