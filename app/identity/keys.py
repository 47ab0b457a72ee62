"""The token signing key, created once and shared by every replica through the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import SystemSecret
from app.db.upsert import insert_ignore
from app.identity.tokens import new_signing_key

SIGNING_KEY = "token-signing-key"


async def signing_key(session: AsyncSession) -> str:
    """The shared key; the first replica to start writes it, and a replica racing it
    keeps the winner's (INSERT ... ON CONFLICT DO NOTHING, then read back)."""
    await session.execute(
        insert_ignore(session, SystemSecret, {"name": SIGNING_KEY, "value": new_signing_key()})
    )
    result = await session.execute(
        select(SystemSecret.value).where(SystemSecret.name == SIGNING_KEY)
    )
    return result.scalar_one()
