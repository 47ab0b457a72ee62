"""The one repository shape every resource is found through."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.context import RequestContext
from app.db.models import Volume, VolumeType
from app.errors import NotFound
from app.volumes.kernel.repository import VOLUMES

# Row locks: FOR UPDATE is rendered on PostgreSQL only.
pytestmark = pytest.mark.both_databases


async def _volume(maker: async_sessionmaker[AsyncSession], project: str) -> str:
    async with maker() as session, session.begin():
        vtype = VolumeType(name=f"t-{uuid.uuid4().hex[:8]}")
        session.add(vtype)
        await session.flush()
        volume = Volume(
            project_id=project,
            user_id="u",
            size=1,
            status="available",
            availability_zone="nova",
            volume_type_id=vtype.id,
        )
        session.add(volume)
        await session.flush()
        return volume.id


async def test_a_project_finds_only_its_own_rows_and_a_lock_finds_any(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await _volume(sessionmaker, "owner")
    other = RequestContext(user_id="u", project_id="other")
    async with sessionmaker() as session, session.begin():
        with pytest.raises(NotFound):
            await VOLUMES.get(session, other, volume_id, for_update=True)
        locked = await VOLUMES.lock(session, volume_id)
        assert locked is not None and locked.project_id == "owner"
        assert await VOLUMES.lock(session, "no-such-volume") is None


async def test_a_lock_reads_the_row_afresh_over_what_the_session_holds(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await _volume(sessionmaker, "p")
    async with sessionmaker() as session, session.begin():
        held = await session.get(Volume, volume_id)
        assert held is not None and held.status == "available"
        # Changed in the database behind the loaded row's back.
        await session.execute(
            update(Volume)
            .where(Volume.id == volume_id)
            .values(status="error")
            .execution_options(synchronize_session=False)
        )
        assert held.status == "available"
        locked = await VOLUMES.lock(session, volume_id)
        assert locked is held and held.status == "error"
