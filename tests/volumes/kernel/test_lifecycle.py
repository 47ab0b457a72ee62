"""The one conditional update every status change goes through."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import jobkinds
from app.db.models import Job, Volume, VolumeType
from app.errors import BadRequest
from app.volumes.kernel import jobs, lifecycle

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


async def _queue_job(session: AsyncSession, volume_id: str) -> Job:
    job = jobs.enqueue(
        session,
        kind=jobkinds.DELETE_VOLUME,
        payload=jobkinds.VolumeJob(volume=jobkinds.VolumeRef(id=volume_id, size_gb=1)),
        backend="node@b",
        resource_id=volume_id,
        max_attempts=1,
    )
    await session.flush()
    return job


# (status, force, deletes): the volume's state table, as the generic delete reads it.
DELETE_CASES = [
    ("available", False, True),
    ("error_extending", False, True),
    ("creating", False, False),
    ("in-use", False, False),
    ("creating", True, True),
    ("in-use", True, True),
    ("maintenance", True, False),
]


@pytest.mark.parametrize(("status", "force", "deletes"), DELETE_CASES)
async def test_a_delete_starts_only_from_a_status_the_state_table_allows(
    sessionmaker: async_sessionmaker[AsyncSession], status: str, force: bool, deletes: bool
) -> None:
    volume_id = await _volume(sessionmaker, status)
    async with sessionmaker() as session, session.begin():
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        if deletes:
            await lifecycle.start_delete(session, volume, force=force, previous_status=status)
        else:
            with pytest.raises(BadRequest):
                await lifecycle.start_delete(session, volume, force=force)
    async with sessionmaker() as session:
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        assert volume.status == ("deleting" if deletes else status)
        assert volume.previous_status == (status if deletes else None)


async def test_a_force_delete_cancels_the_jobs_in_flight_and_hands_them_back(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await _volume(sessionmaker, "extending")
    async with sessionmaker() as session, session.begin():
        queued = await _queue_job(session, volume_id)
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        cancelled = await lifecycle.start_delete(session, volume, force=True)
        assert [job.id for job in cancelled] == [queued.id]
        assert cancelled[0].state == jobs.FAILED
        assert await jobs.active(session, volume_id) == []
    assert await _status(sessionmaker, volume_id) == "deleting"


async def test_a_plain_delete_leaves_the_jobs_alone(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await _volume(sessionmaker, "error")
    async with sessionmaker() as session, session.begin():
        await _queue_job(session, volume_id)
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        assert await lifecycle.start_delete(session, volume) == []
        assert len(await jobs.active(session, volume_id)) == 1


# (from, to, resets): os-reset_status takes a volume to a resting status only.
RESET_CASES = [
    ("error", "available", True),
    ("creating", "error", True),
    ("available", "in-use", True),
    ("available", "creating", False),
    ("error", "deleting", False),
    ("error", "no-such-status", False),
]


@pytest.mark.parametrize(("status", "to", "resets"), RESET_CASES)
async def test_a_reset_goes_only_to_a_resting_status_and_keeps_the_previous_one(
    sessionmaker: async_sessionmaker[AsyncSession], status: str, to: str, resets: bool
) -> None:
    volume_id = await _volume(sessionmaker, status)
    async with sessionmaker() as session, session.begin():
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        if resets:
            await lifecycle.reset_status(session, volume, to)
        else:
            with pytest.raises(BadRequest):
                await lifecycle.reset_status(session, volume, to)
    async with sessionmaker() as session:
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        assert (volume.status, volume.previous_status) == (
            (to, status) if resets else (status, None)
        )


async def test_a_reset_is_refused_under_a_job_in_flight(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    volume_id = await _volume(sessionmaker, "deleting")
    async with sessionmaker() as session, session.begin():
        queued = await _queue_job(session, volume_id)
        volume = await session.get(Volume, volume_id)
        assert volume is not None
        with pytest.raises(BadRequest) as refused:
            await lifecycle.reset_status(session, volume, "available")
    assert f"job {queued.id}" in refused.value.message
    assert await _status(sessionmaker, volume_id) == "deleting"
