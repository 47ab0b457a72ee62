"""An agent is its token's user: it reports for, claims on and finishes jobs of only the
hosts bound to it; results carry the attempt they hold; reports are checked against the
database's clock and ordered by the agent's sequence number; an admin moves hosts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.db.models import Agent, Backend
from app.volumes import reaper
from tests.api.helpers import (
    claim,
    expire_all_leases,
    file_pool,
    finish,
    new_volume,
    next_seq,
    report,
)
from tests.api.helpers import register_backup_service as register
from tests.api.helpers import volume_status as status_of
from tests.conftest import Caller, MakeCaller

pytestmark = pytest.mark.both_databases  # the database's clock, sequence order, host binding

HOST = "node1@file"


@pytest.fixture
async def other_agent(make_caller: MakeCaller) -> Caller:
    """A second agent: its own user with the service role on project 'service'."""
    caller: Caller = await make_caller("service", ("service",), user_name="agent2")
    return caller


def report_body(host: str = HOST, **fields: Any) -> dict[str, Any]:
    return {
        "host": host,
        "availability_zone": "nova",
        "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "seq": next_seq(),
        "capabilities": {"volume_backend_name": "file", "pools": [file_pool()]},
        **fields,
    }


async def post_report(client: httpx.AsyncClient, caller: Caller, **fields: Any) -> httpx.Response:
    return await client.post(
        "/agent/v1/capabilities", json=report_body(**fields), headers=caller.headers()
    )


async def heartbeat(
    client: httpx.AsyncClient, caller: Caller, job_id: int, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/agent/v1/jobs/{job_id}/heartbeat", json=body, headers=caller.headers()
    )


async def result(
    client: httpx.AsyncClient, caller: Caller, job_id: int, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/agent/v1/jobs/{job_id}/result", json=body, headers=caller.headers())


async def claim_status(client: httpx.AsyncClient, caller: Caller, hosts: list[str]) -> int:
    r = await client.post(
        "/agent/v1/jobs/claim", json={"backends": hosts, "wait": 0}, headers=caller.headers()
    )
    return r.status_code


# --- hosts are bound to the agent that reported them first ------------------------------


async def test_another_agent_cannot_report_claim_heartbeat_or_finish_a_bound_backend(
    client: httpx.AsyncClient, member: Caller, service: Caller, other_agent: Caller
) -> None:
    await report(client, service)  # binds node1@file to the agent of `service`
    r = await post_report(client, other_agent, agent_id="agent")  # a name in the body: ignored
    assert r.status_code == 403 and "forbidden" in r.json()

    volume_id = await new_volume(client, member)
    assert await claim_status(client, other_agent, [HOST]) == 403
    assert await claim_status(client, other_agent, ["node2@file", HOST]) == 403
    job = await claim(client, service, [HOST])
    assert job is not None
    attempt = {"attempt": job["attempts"]}
    assert (await heartbeat(client, other_agent, job["id"], attempt)).status_code == 403
    r = await result(
        client,
        other_agent,
        job["id"],
        {**attempt, "ok": True, "result": {"provider_location": "/x"}},
    )
    assert r.status_code == 403
    # A volume goes available only on its own agent's word.
    assert await status_of(client, member, volume_id) == "creating"
    assert (await heartbeat(client, service, job["id"], attempt)).status_code == 200
    r = await finish(client, service, job, result={"provider_location": "/x"})
    assert r.status_code == 200, r.text
    assert await status_of(client, member, volume_id) == "available"


async def test_a_backup_service_is_bound_to_its_first_agent(
    client: httpx.AsyncClient, service: Caller, other_agent: Caller
) -> None:
    assert (await register(client, service, "node1@backup")).status_code == 200
    assert (await register(client, other_agent, "node1@backup")).status_code == 403
    assert await claim_status(client, other_agent, ["node1@backup"]) == 403
    assert await claim_status(client, service, ["node1@backup"]) == 200


async def test_a_host_bound_to_no_agent_gives_its_jobs_to_none(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, other_agent: Caller
) -> None:
    await report(client, service)
    await new_volume(client, member)
    # As after the upgrade that dropped the names reports used to give themselves.
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(update(Backend).values(agent_id=None))
    assert await claim(client, other_agent, [HOST, "node9@file"]) is None
    # Until its agent reports again, which binds it.
    await report(client, service)
    assert await claim_status(client, other_agent, [HOST]) == 403
    assert await claim(client, service, [HOST]) is not None


# --- who is an agent -------------------------------------------------------------------------


async def test_the_service_role_on_a_tenant_project_is_not_an_agent(
    client: httpx.AsyncClient, make_caller: MakeCaller, admin: Caller
) -> None:
    tenant_service = await make_caller("demo", ("member", "service"))
    for caller in (tenant_service, admin):
        assert (await post_report(client, caller)).status_code == 403
        assert await claim_status(client, caller, [HOST]) == 403
        assert (await heartbeat(client, caller, 1, {"attempt": 1})).status_code == 403


async def test_a_service_user_is_registered_as_an_agent_on_its_first_call(
    app: FastAPI, client: httpx.AsyncClient, service: Caller
) -> None:
    await report(client, service)
    async with app.state.runtime.sessionmaker() as session:
        agent = (await session.scalars(select(Agent))).one()
        backend = (await session.scalars(select(Backend))).one()
    assert (agent.name, agent.user_id) == ("agent", service.user_id)
    assert backend.agent_id == "agent"


# --- attempts --------------------------------------------------------------------------------


async def test_results_and_heartbeats_need_the_attempt_they_hold(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    await new_volume(client, member)
    job = await claim(client, service, [HOST])
    assert job is not None and job["attempts"] == 1
    done = {"ok": True, "result": {"provider_location": "/x"}}
    assert (await heartbeat(client, service, job["id"], {"progress": 5})).status_code == 400
    assert (await result(client, service, job["id"], done)).status_code == 400

    # The lease runs out and the job is claimed again: attempt 1 is stale.
    await expire_all_leases(app)
    assert await reaper.reap_once(app.state.runtime) == 1
    again = await claim(client, service, [HOST])
    assert again is not None and again["attempts"] == 2
    r = await heartbeat(client, service, job["id"], {"attempt": 1})
    assert r.status_code == 409 and "conflictingRequest" in r.json()
    assert (await result(client, service, job["id"], {**done, "attempt": 1})).status_code == 409
    assert (await result(client, service, job["id"], {**done, "attempt": 2})).status_code == 200


# --- clocks and order ------------------------------------------------------------------------


async def test_a_report_dated_ahead_of_the_database_clock_is_refused_and_pins_nothing(
    app: FastAPI, client: httpx.AsyncClient, service: Caller
) -> None:
    await report(client, service, pools=[file_pool(total=10)])
    r = await post_report(client, service, timestamp="2099-01-01T00:00:00")
    assert r.status_code == 400 and "ahead" in r.json()["badRequest"]["message"]
    ahead = datetime.now(UTC) + timedelta(seconds=app.state.runtime.settings.report_max_clock_skew)
    r = await post_report(client, service, timestamp=(ahead + timedelta(minutes=5)).isoformat())
    assert r.status_code == 400
    # The owner's next current report is taken.
    assert (await report(client, service, pools=[file_pool(total=20)]))["accepted"] is True
    assert app.state.runtime.cache.pool(HOST, "pool").total_capacity_gb == 20


async def test_reports_are_ordered_by_sequence_not_by_the_agents_clock(
    app: FastAPI, client: httpx.AsyncClient, service: Caller
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    first, second = next_seq(), next_seq()
    # The agent's clock went back between two reports: the later report still wins.
    newer_clock = now.isoformat()
    older_clock = (now - timedelta(hours=1)).isoformat()
    r = await report(client, service, pools=[file_pool(total=10)], seq=first, timestamp=newer_clock)
    assert r["accepted"] is True
    r = await report(
        client, service, pools=[file_pool(total=20)], seq=second, timestamp=older_clock
    )
    assert r == {"accepted": True, "seq": second}
    # A report delayed in transit (a lower number) is not applied, whatever its date.
    r = await report(client, service, pools=[file_pool(total=30)], seq=first, timestamp=newer_clock)
    assert r == {"accepted": False, "seq": second}
    assert app.state.runtime.cache.pool(HOST, "pool").total_capacity_gb == 20
    async with app.state.runtime.sessionmaker() as session:
        backend = (await session.scalars(select(Backend))).one()
    # Stored with the database's time of acceptance, not the agent's date.
    assert backend.reported_at > now - timedelta(minutes=30)


# --- moving a host is an admin act ----------------------------------------------------------


async def test_an_admin_reassign_moves_a_backend_and_its_running_jobs(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    other_agent: Caller,
) -> None:
    await report(client, service, seq=10**12)
    await report(client, other_agent, host="node2@file")  # registers agent2
    volume_id = await new_volume(client, member)
    job = await claim(client, service, [HOST])
    assert job is not None

    url = f"/agent/v1/hosts/{HOST}/reassign"
    r = await client.post(url, json={"agent": "agent2"}, headers=service.headers())
    assert r.status_code == 403
    r = await client.post(url, json={"agent": "nobody"}, headers=admin.headers())
    assert r.status_code == 404
    r = await client.post(
        "/agent/v1/hosts/node7@file/reassign", json={"agent": "agent2"}, headers=admin.headers()
    )
    assert r.status_code == 404
    r = await client.post(url, json={"agent": "agent2"}, headers=admin.headers())
    assert r.status_code == 200 and r.json() == {"host": HOST, "agent": "agent2"}

    # The previous agent is refused; the new one's numbering starts afresh.
    assert (await post_report(client, service)).status_code == 403
    assert (
        await finish(client, service, job, result={"provider_location": "/x"})
    ).status_code == 403
    assert (await report(client, other_agent, seq=1))["accepted"] is True
    # The job the previous agent held is given back and retried by the new one.
    assert await reaper.reap_once(app.state.runtime) == 1
    again = await claim(client, other_agent, [HOST])
    assert again is not None and again["id"] == job["id"] and again["attempts"] == 2
    r = await finish(client, other_agent, again, result={"provider_location": "/x"})
    assert r.status_code == 200
    assert await status_of(client, member, volume_id) == "available"


async def test_reassign_moves_only_the_host_it_names(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller, other_agent: Caller
) -> None:
    await report(client, service)
    await report(client, service, host="node3@file")
    await report(client, other_agent, host="node2@file")
    r = await client.post(
        f"/agent/v1/hosts/{HOST}/reassign", json={"agent": "agent2"}, headers=admin.headers()
    )
    assert r.status_code == 200
    async with app.state.runtime.sessionmaker() as session:
        owners = dict((await session.execute(select(Backend.host, Backend.agent_id))).all())
    assert owners == {HOST: "agent2", "node3@file": "agent", "node2@file": "agent2"}
