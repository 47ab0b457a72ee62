"""User messages: kept for their time to live, then purged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Message, utcnow
from app.volumes.kernel import messages


async def test_expired_messages_are_purged_and_live_ones_kept(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    async with sessionmaker() as session, session.begin():
        for name, expires in (
            ("old", now - timedelta(seconds=1)),
            ("live", now + timedelta(days=1)),
        ):
            session.add(
                Message(
                    project_id="p",
                    resource_type="VOLUME",
                    event_id="VOLUME_VOLUME_001_002",
                    action_id="001",
                    detail_id="002",
                    user_message=name,
                    created_at=now - timedelta(days=30),
                    expires_at=expires,
                )
            )
    async with sessionmaker() as session, session.begin():
        assert await messages.purge_expired(session, now) == 1
    async with sessionmaker() as session:
        assert list(await session.scalars(select(Message.user_message))) == ["live"]
    async with sessionmaker() as session, session.begin():
        assert await messages.purge_expired(session, now) == 0
