"""Third review: snapshots, groups, migration and their shared wiring. Each test states an
invariant an earlier version broke."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.helpers import claim, finish
from tests.api.test_migration import A, B, ledgers, migrate, show, two_backends, volume_on
from tests.api.test_retype import make_type
from tests.conftest import Caller


async def test_no_migration_while_an_old_copy_is_still_being_removed(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # A failed copy to B queues the removal of B's copy. A new migration to B while that
    # removal is queued (or retried) would let it delete the volume's new, live copy on B:
    # the agent runs several jobs at once, and the removal names only B's file.
    await two_backends(client, service)
    await make_type(client, admin, "any", {})
    volume_id = await volume_on(client, admin, member, service, "any", 2)
    assert (await show(client, admin, volume_id))["os-vol-host-attr:host"] == f"{A}#pool"
    assert (await migrate(client, admin, volume_id, host=f"{B}#pool")).status_code == 202
    job = await claim(client, service, [A, B], agent="n1")
    assert job is not None and job["kind"] == "migrate_volume"
    assert (await finish(client, service, job, agent="n1", ok=False)).status_code == 200

    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 400, r.text
    assert "copy" in r.text
    assert await ledgers(sessionmaker) == {A: 2, B: 0}

    cleanup = await claim(client, service, [A, B], agent="n1")
    assert cleanup is not None and cleanup["kind"] == "delete_volume_copy"
    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 400, r.text  # still running: it may yet be retried
    assert (await finish(client, service, cleanup, agent="n1")).status_code == 200

    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 202, r.text
    assert await ledgers(sessionmaker) == {A: 2, B: 2}
