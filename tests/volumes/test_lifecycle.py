"""The one conditional update every status change goes through."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Volume, VolumeType
from app.errors import BadRequest
from app.volumes.kernel import lifecycle

# The conditional update: row locks and returning differ by dialect.
pytestmark = pytest.mark.both_databases


async def _volume(maker: async_sessionmaker[AsyncSession], status: str = "available") -> str:
    async with maker() as session, session.begin():
        vtype = VolumeType(name=f"t-{uuid.uuid4().hex[:8]}")
        session.add(vtype)
        await session.flush()
        volume = Volume(
            project_id="p",
            user_id="u",
            size=1,
            status=status,
            availability_zone="nova",
            volume_type_id=vtype.id,
        )
        session.add(volume)
        await session.flush()
        return volume.id


async def _status(maker: async_sessionmaker[AsyncSession], volume_id: str) -> str:
    async with maker() as session:
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        return volume.status


async def test_a_move_happens_only_from_an_expected_state(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await _volume(sessionmaker)
    async with sessionmaker() as session, session.begin():
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        assert await lifecycle.move(
            session, volume, {"status": ("available", "error")}, status="extending", size=2
        )
        # The loaded row holds what the database returned, without another read.
        assert (volume.status, volume.size) == ("extending", 2)
        assert volume.updated_at is not None
        assert not await lifecycle.move(session, volume, {"status": "available"}, status="deleting")
        assert volume.status == "extending"
    assert await _status(sessionmaker, volume_id) == "extending"


async def test_a_refused_transition_names_the_status_the_row_has_now(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await _volume(sessionmaker, "in-use")
    async with sessionmaker() as session, session.begin():
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        with pytest.raises(BadRequest) as refused:
            await lifecycle.transition(
                session, volume, ("available", "error"), "deleting", "delete"
            )
    assert refused.value.message == (
        f"Invalid volume: Volume {volume_id} status must be available or error to delete, "
        "but current status is: in-use."
    )


async def test_a_row_gone_or_unknown_moves_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        moved = await lifecycle.conditional_update(
            session, Volume, "no-such-volume", {"status": "available"}, {"status": "deleting"}
        )
    assert moved is None


async def test_of_two_racing_moves_from_one_state_exactly_one_wins(
    sessionmaker: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    """Each racer read 'available' in its own transaction; the database lets one move."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite queues writers at BEGIN IMMEDIATE: they cannot both read first")
    volume_id = await _volume(sessionmaker)
    read = asyncio.Barrier(2)

    async def race(to: str) -> bool:
        async with sessionmaker() as session, session.begin():
            volume = await session.get(Volume, volume_id)
            assert volume is not None and volume.status == "available"
            await read.wait()
            return await lifecycle.move(session, volume, {"status": "available"}, status=to)

    results = await asyncio.gather(race("deleting"), race("extending"), return_exceptions=True)
    wins = [r for r in results if r is True]
    # PostgreSQL re-checks the loser's WHERE once the winner commits: it matches nothing.
    assert len(wins) == 1, results
    assert await _status(sessionmaker, volume_id) in ("deleting", "extending")
