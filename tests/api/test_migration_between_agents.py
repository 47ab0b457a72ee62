"""Migration and retype by migration to a pool of another agent: the source's agent
exports the volume for the copy first (its own CHAP account, sealed in the jobs table,
its ACL the target agent's address), then the target's agent pulls it; every failure
gives the target's claim back, brings the volume's status back and removes the export
(and whatever the target holds); the volume keeps its id throughout."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import jobkinds
from app.db.models import Job
from app.volumes import reaper
from tests.api.helpers import (
    COPY_EXPORT_ANSWER,
    claim,
    create_volume,
    expire_all_leases,
    file_pool,
    finish,
    ledgers,
    make_type,
    migrate,
    report,
    retype,
    run_jobs,
)
from tests.api.helpers import show_volume as show
from tests.conftest import Caller, MakeCaller

pytestmark = pytest.mark.both_databases  # claims on two agents' pools, sealed payloads

A, B = "n1@a", "n2@b"  # two agents: A's is `service`, B's is `agent2`
A_IP, B_IP = "192.0.2.1", "192.0.2.2"
COPY_KINDS = {kind.name: [kind.version] for kind in jobkinds.CATALOG.values()}


async def stored_payload(sm: async_sessionmaker[AsyncSession], job_id: int) -> dict[str, Any]:
    async with sm() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return dict(job.payload)


async def pending_kinds(sm: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    async with sm() as session:
        rows = await session.execute(
            select(Job.kind, Job.backend).where(Job.state == "pending").order_by(Job.id)
        )
        return [(kind, backend) for kind, backend in rows]


async def two_agents(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
    *,
    size: int = 3,
    b_versions: dict[str, list[int]] | None = None,
) -> tuple[Caller, str]:
    """A volume of type "ssd" on A (the first agent's); B, another agent's, has hdd
    disks. The second agent and the volume's id."""
    agent2 = await make_caller("service", ("service",), user_name="agent2")
    await report(
        client,
        service,
        host=A,
        pools=[file_pool(disk_type="ssd")],
        job_versions=COPY_KINDS,
        initiator_ip=A_IP,  # jobkinds.INITIATOR_IP
    )
    await make_type(client, admin, "ssd", {"disk_type": "ssd"})
    await make_type(client, admin, "hdd", {"disk_type": "hdd"})
    await make_type(client, admin, "any", {})
    r = await create_volume(client, member, size, volume_type="ssd")
    assert r.status_code == 202, r.text
    volume_id: str = r.json()["volume"]["id"]
    await run_jobs(client, service, [A])
    await report(
        client,
        agent2,
        host=B,
        pools=[file_pool(disk_type="hdd")],
        job_versions=b_versions or COPY_KINDS,
        initiator_ip=B_IP,
    )
    return agent2, volume_id


async def back_on_a(
    client: httpx.AsyncClient, admin: Caller, volume_id: str, vtype: str = "ssd"
) -> None:
    """The copy failed: the volume is where and as it was, its migration in error."""
    volume = await show(client, admin, volume_id)
    assert volume["status"] == "available" and volume["volume_type"] == vtype
    assert volume["os-vol-host-attr:host"] == f"{A}#pool"
    assert volume["os-vol-mig-status-attr:migstat"] == "error"


async def test_a_migration_to_another_agent_exports_then_pulls_then_swaps(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    agent2, volume_id = await two_agents(client, admin, member, service, make_caller)
    assert (await retype(client, member, volume_id, new_type="any")).status_code == 202
    r = await migrate(client, admin, volume_id, host=f"{B}#pool", force_host_copy=True)
    assert r.status_code == 202, r.text
    volume = await show(client, admin, volume_id)
    assert volume["status"] == "maintenance"
    assert volume["os-vol-mig-status-attr:migstat"] == "migrating"
    assert await ledgers(sessionmaker) == {A: 3, B: 3}
    assert await claim(client, agent2, [B]) is None  # nothing to pull yet

    # 1. The source's agent exports the volume, read by B's agent's address only.
    export = await claim(client, service, [A])
    assert export is not None and export["kind"] == "export_for_copy"
    payload = export["payload"]
    assert payload["volume"]["host"] == f"{A}#pool" and payload["initiators"] == [B_IP]
    assert payload["migration"]["target"]["host"] == f"{B}#pool"
    secret = payload["chap_secret"]
    assert payload["chap_user"].startswith("copy-") and len(secret) >= 12
    stored = await stored_payload(sessionmaker, export["id"])
    assert stored["chap_secret"] != secret and secret not in str(stored)
    r = await finish(client, service, export)
    assert r.status_code == 200, r.text
    assert (await show(client, admin, volume_id))["status"] == "maintenance"

    # 2. B's agent pulls it through that export.
    pull = await claim(client, agent2, [B])
    assert pull is not None and pull["kind"] == "migrate_volume"
    source = pull["payload"]["source_export"]
    assert source == {
        "target_portal": COPY_EXPORT_ANSWER["target_portal"],
        "target_iqn": COPY_EXPORT_ANSWER["target_iqn"],
        "target_lun": 1,
        "chap_user": payload["chap_user"],
        "sha256": COPY_EXPORT_ANSWER["sha256"],
        "bytes": COPY_EXPORT_ANSWER["bytes"],
    }
    assert pull["payload"]["source_chap_secret"] == secret
    stored = await stored_payload(sessionmaker, pull["id"])
    assert secret not in str(stored)
    result = {"provider_location": "/b/v", "sha256": source["sha256"], "bytes": source["bytes"]}
    r = await finish(client, agent2, pull, result=result)
    assert r.status_code == 200, r.text

    volume = await show(client, admin, volume_id)
    assert volume["id"] == volume_id and volume["status"] == "available"
    assert volume["os-vol-host-attr:host"] == f"{B}#pool"
    assert volume["os-vol-mig-status-attr:migstat"] == "success"
    assert await ledgers(sessionmaker) == {A: 0, B: 3}
    # 3. The source's agent removes the export with the old copy.
    cleanup = await claim(client, service, [A], removals=True)
    assert cleanup is not None and cleanup["kind"] == "delete_volume_copy"
    assert cleanup["payload"]["unexport"] is True
    assert cleanup["payload"]["keep"]["host"] == f"{B}#pool"
    assert (await finish(client, service, cleanup)).status_code == 200
    assert await pending_kinds(sessionmaker) == []


async def test_a_failed_export_gives_the_claim_back_and_removes_the_export(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    _, volume_id = await two_agents(client, admin, member, service, make_caller, size=2)
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    assert r.status_code == 202, r.text
    assert (await show(client, admin, volume_id))["status"] == "retyping"
    export = await claim(client, service, [A])
    assert export is not None and export["kind"] == "export_for_copy"
    assert export["payload"]["migration"]["new_type_id"] is not None
    r = await finish(client, service, export, ok=False, error="tgtd is not running")
    assert r.status_code == 200, r.text

    await back_on_a(client, admin, volume_id)
    assert await ledgers(sessionmaker) == {A: 2, B: 0}
    # Nothing was made on B; the export (if any) goes.
    assert await pending_kinds(sessionmaker) == [("unexport_for_copy", A)]
    r = await client.get(f"/v3/{admin.project_id}/messages", headers=admin.headers("3.3"))
    texts = [m["user_message"] for m in r.json()["messages"]]
    assert any("retype volume" in t and "tgtd is not running" in t for t in texts), texts

    # No new copy while the old export's removal is pending: it names the same target.
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    assert r.status_code == 400 and "removed" in r.text
    unexport = await claim(client, service, [A])
    assert unexport is not None and unexport["kind"] == "unexport_for_copy"
    assert (await finish(client, service, unexport)).status_code == 200
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    assert r.status_code == 202, r.text
    assert await ledgers(sessionmaker) == {A: 2, B: 2}


async def test_a_failed_pull_removes_the_partial_copy_and_the_export(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    agent2, volume_id = await two_agents(client, admin, member, service, make_caller, size=2)
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    assert r.status_code == 202, r.text
    # The new type is in use while the copy is on its way, from its first job on.
    types = await client.get(f"/v3/{admin.project_id}/types", headers=admin.headers())
    hdd = next(t["id"] for t in types.json()["volume_types"] if t["name"] == "hdd")
    r = await client.delete(f"/v3/{admin.project_id}/types/{hdd}", headers=admin.headers())
    assert r.status_code == 400, r.text

    export = await claim(client, service, [A])
    assert export is not None
    assert (await finish(client, service, export)).status_code == 200
    pull = await claim(client, agent2, [B])
    assert pull is not None and pull["kind"] == "migrate_volume"
    r = await finish(client, agent2, pull, ok=False, error="iSCSI login: Authentication failure")
    assert r.status_code == 200, r.text

    await back_on_a(client, admin, volume_id)
    assert await ledgers(sessionmaker) == {A: 2, B: 0}
    assert sorted(await pending_kinds(sessionmaker)) == [
        ("delete_volume_copy", B),
        ("unexport_for_copy", A),
    ]
    removal = await claim(client, agent2, [B], removals=True)
    assert removal is not None and removal["payload"]["keep"]["host"] == f"{A}#pool"


async def test_another_agent_that_cannot_copy_is_refused_up_front(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    old = {"create_volume": [1], "migrate_volume": [1]}
    _, volume_id = await two_agents(client, admin, member, service, make_caller, b_versions=old)
    assert (await retype(client, member, volume_id, new_type="any")).status_code == 202
    r = await migrate(client, admin, volume_id, host=f"{B}#pool")
    assert r.status_code == 400 and "cannot copy from another agent" in r.text
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    assert r.status_code == 400 and "upgrade" in r.text
    assert await ledgers(sessionmaker) == {A: 3, B: 0}
    assert await pending_kinds(sessionmaker) == []


async def test_a_source_agent_that_dies_during_the_export_ends_the_copy_cleanly(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    _, volume_id = await two_agents(client, admin, member, service, make_caller, size=2)
    assert (await retype(client, member, volume_id, new_type="any")).status_code == 202
    assert (await migrate(client, admin, volume_id, host=f"{B}#pool")).status_code == 202
    # Every attempt's lease runs out: the reaper's verdict is the export's failure.
    while (job := await claim(client, service, [A])) is not None:
        if job["kind"] != "export_for_copy":
            break
        await expire_all_leases(app)
        await reaper.reap_once(app.state.runtime)
    # Then the source's agent (back) removes whatever export it made.
    assert job is not None and job["kind"] == "unexport_for_copy"

    await back_on_a(client, admin, volume_id, "any")
    assert await ledgers(sessionmaker) == {A: 2, B: 0}
    assert await pending_kinds(sessionmaker) == []
