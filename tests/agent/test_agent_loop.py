"""The agent's loops over real HTTP against the fake API: reports, claims, driver work
in threads, heartbeats, results, re-authentication and an API restart."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app import jobkinds
from app.agent.config import AgentConfig, load_config
from app.agent.jobs import job_versions
from app.agent.service import Agent
from app.drivers import VolumeSpec, register_driver, registry
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB
from app.drivers.targets.address import primary_address
from tests.agent.conftest import agent_toml, eventually
from tests.agent.fake_api import FakeApiServer
from tests.conftest import free_port

BACKEND = "node1@file1"


class GatedFileDriver(FileDriver):
    """The file driver, but create_volume waits for the test to open the gate, so a job
    runs long enough to heartbeat."""

    gate = threading.Event()
    started = threading.Semaphore(0)

    def create_volume(self, volume: VolumeSpec) -> dict[str, Any]:
        self.started.release()
        if not self.gate.wait(timeout=20):
            raise TimeoutError("gate never opened")
        return super().create_volume(volume)


@pytest.fixture
def gated_driver() -> Iterator[type[GatedFileDriver]]:
    GatedFileDriver.gate = threading.Event()
    GatedFileDriver.started = threading.Semaphore(0)
    register_driver("gated-file", GatedFileDriver)
    try:
        yield GatedFileDriver
    finally:
        GatedFileDriver.gate.set()
        registry._DRIVERS.pop("gated-file", None)


def config_for(tmp_path: Path, api: FakeApiServer, **kwargs: Any) -> AgentConfig:
    path = tmp_path / "agent.toml"
    path.write_text(agent_toml(api.url, tmp_path / "file1", **kwargs))
    return load_config(path)


async def started_agent(config: AgentConfig) -> tuple[Agent, asyncio.Task[None]]:
    agent = Agent(config)
    return agent, asyncio.create_task(agent.run())


@pytest.fixture
async def stop_agents() -> AsyncIterator[list[tuple[Agent, asyncio.Task[None]]]]:
    running: list[tuple[Agent, asyncio.Task[None]]] = []
    yield running
    for agent, task in running:
        agent.stop()
        await asyncio.wait_for(task, 15)


async def driver_call_started(driver: type[GatedFileDriver]) -> None:
    """Wait (bounded) until a job's driver call is running in its thread."""
    assert await asyncio.to_thread(driver.started.acquire, timeout=10), "no driver call"


async def finish_abandoned_call(driver: type[GatedFileDriver], volume_file: Path) -> None:
    """Let an abandoned job's driver thread end inside the test (it still does its work)."""
    driver.gate.set()
    await eventually(volume_file.exists, "the abandoned driver call to finish")
    await asyncio.sleep(0.1)


def volume(volume_id: str, size_gb: int) -> dict[str, Any]:
    return {
        "id": volume_id,
        "size_gb": size_gb,
        "name": None,
        "pool": "file1",
        "host": f"{BACKEND}#file1",
        "provider_location": None,
    }


def allocated(report: dict[str, Any]) -> float:
    return float(report["capabilities"]["pools"][0]["allocated_capacity_gb"])


async def test_agent_serves_jobs_through_401_and_an_api_restart(
    tmp_path: Path,
    api: FakeApiServer,
    gated_driver: type[GatedFileDriver],
    stop_agents: list[tuple[Agent, asyncio.Task[None]]],
) -> None:
    state = api.state
    config = config_for(tmp_path, api, driver="gated-file")
    agent, task = await started_agent(config)
    stop_agents.append((agent, task))

    # It authenticates and reports its backend at start, in the contract's shape.
    await eventually(lambda: len(state.reports_for(BACKEND)) >= 1, "the first report")
    assert state.auth_requests == 1
    report = state.reports_for(BACKEND)[0]
    # The agent is its token's user: no name of its own in the body, and a sequence
    # number that orders its reports.
    assert "agent_id" not in report and isinstance(report["seq"], int)
    assert report["availability_zone"] == "az1"
    # Every job kind the agent runs (the list grows with the features).
    assert report["job_versions"] == job_versions()
    assert {"create_volume", "delete_volume", "extend_volume", "manage_volume"} <= set(
        report["job_versions"]
    )
    assert report["capabilities"]["volume_backend_name"] == "file1"
    assert report["capabilities"]["pools"][0]["total_capacity_gb"] == 100.0
    # The address other agents' exports for a copy admit: its target_ip_address.
    assert report["capabilities"][jobkinds.INITIATOR_IP] == primary_address()
    assert allocated(report) == 0.0
    # ... and keeps reporting every interval.
    await eventually(lambda: len(state.reports_for(BACKEND)) >= 3, "periodic reports")

    # A create job: claimed, run in a thread while the lease is heartbeated, posted.
    vol_id = "0d3f9c56-2b7e-4f59-9d4a-6f1c2a1b7e01"
    job_id = state.add_job(
        "create_volume", {"volume": volume(vol_id, 2)}, backend=BACKEND, lease_seconds=0.3
    )
    await eventually(lambda: state.heartbeats_for(job_id) >= 3, "heartbeats")
    assert state.heartbeats[0][1] == {"attempt": 1}
    assert job_id not in state.results
    gated_driver.gate.set()
    await eventually(lambda: job_id in state.results, "the create result")
    path = tmp_path / "file1" / f"volume-{vol_id}"
    assert state.results[job_id] == {
        "attempt": 1,
        "ok": True,
        "result": {"provider_location": str(path)},
    }
    assert path.stat().st_size == 2 * GiB
    assert path.stat().st_blocks * 512 < 1024 * 1024
    # A report with the new allocation follows the job.
    await eventually(
        lambda: allocated(state.reports_for(BACKEND)[-1]) == 2.0, "a report after the job"
    )

    # Tokens revoked (as after a key rotation): the agent logs in again and goes on.
    state.revoke_tokens()
    job_id = state.add_job(
        "extend_volume", {"volume": volume(vol_id, 2), "new_size_gb": 3}, backend=BACKEND
    )
    await eventually(lambda: job_id in state.results, "the extend result")
    assert state.results[job_id]["ok"] is True
    assert state.auth_requests == 2
    assert state.unauthorized >= 1
    assert path.stat().st_size == 3 * GiB

    # The API goes away for a while and comes back on the same port.
    api.stop()
    reports_before = len(state.reports_for(BACKEND))
    await asyncio.sleep(1.0)  # calls fail meanwhile and are retried with backoff
    assert len(state.reports_for(BACKEND)) == reports_before
    job_id = state.add_job("delete_volume", {"volume": volume(vol_id, 3)}, backend=BACKEND)
    api.start()
    await eventually(lambda: job_id in state.results, "the delete result after a restart")
    assert state.results[job_id]["ok"] is True
    assert not path.exists()
    await eventually(
        lambda: len(state.reports_for(BACKEND)) > reports_before + 1, "reports after the restart"
    )
    assert allocated(state.reports_for(BACKEND)[-1]) == 0.0

    agent.stop()
    await asyncio.wait_for(task, 15)
    assert agent.client._http.is_closed


async def test_failures_are_posted_with_a_readable_reason(
    tmp_path: Path,
    api: FakeApiServer,
    stop_agents: list[tuple[Agent, asyncio.Task[None]]],
) -> None:
    state = api.state
    stop_agents.append(await started_agent(config_for(tmp_path, api)))
    vol_id = "a7c1f3d2-5e4b-4c3a-8d2e-1f0a9b8c7d6e"
    first = state.add_job("create_volume", {"volume": volume(vol_id, 1)}, backend=BACKEND)
    await eventually(lambda: first in state.results, "the first create")
    # The same volume again with another size: the driver refuses.
    clash = state.add_job("create_volume", {"volume": volume(vol_id, 5)}, backend=BACKEND)
    shrink = state.add_job(
        "extend_volume", {"volume": volume(vol_id, 1), "new_size_gb": 0}, backend=BACKEND
    )
    broken = state.add_job("create_volume", {"nothing": True}, backend=BACKEND)
    unknown = state.add_job("resize_universe", {"volume": volume(vol_id, 1)}, backend=BACKEND)
    typo = state.add_job(
        "extend_volume", {"volume": volume(vol_id, 1), "new_size_gb": "2"}, backend=BACKEND
    )
    jobs = (clash, shrink, broken, unknown, typo)
    await eventually(lambda: all(j in state.results for j in jobs), "five failures")
    errors = {j: state.results[j] for j in jobs}
    assert all(r["ok"] is False for r in errors.values())
    assert errors[clash]["error"] == (
        f"volume file volume-{vol_id} already exists with size 1 GiB, not 5 GiB"
    )
    assert errors[shrink]["error"] == "cannot shrink volume from 1 GiB to 0 GiB"
    assert errors[broken]["error"] == "invalid job payload: no volume"
    assert errors[unknown]["error"] == "unsupported job resize_universe version 1"
    # A payload that does not fit its kind's model never reaches the driver.
    assert errors[typo]["error"] == "invalid job payload: new_size_gb must be an integer"


async def test_a_lost_lease_abandons_the_job(
    tmp_path: Path,
    api: FakeApiServer,
    gated_driver: type[GatedFileDriver],
    stop_agents: list[tuple[Agent, asyncio.Task[None]]],
) -> None:
    state = api.state
    stop_agents.append(await started_agent(config_for(tmp_path, api, driver="gated-file")))
    vol_id = "5b2e8c1a-9f3d-4e7b-a6c5-d4e3f2a1b0c9"
    job_id = state.add_job(
        "create_volume", {"volume": volume(vol_id, 1)}, backend=BACKEND, lease_seconds=0.3
    )
    await eventually(lambda: state.heartbeats_for(job_id) >= 1, "a heartbeat")
    state.lost_leases.add(job_id)  # the reaper gave the job to another agent
    beats = state.heartbeats_for(job_id)
    await eventually(lambda: state.heartbeats_for(job_id) > beats, "the refused heartbeat")
    await asyncio.sleep(0.5)
    assert state.heartbeats_for(job_id) == beats + 1  # no more heartbeats after the 409
    gated_driver.gate.set()
    # The agent is free for the next job and never posts the lost one.
    next_id = state.add_job("delete_volume", {"volume": volume(vol_id, 1)}, backend=BACKEND)
    await eventually(lambda: next_id in state.results, "the next job")
    assert job_id not in state.results


async def test_runs_up_to_max_concurrent_jobs(
    tmp_path: Path,
    api: FakeApiServer,
    gated_driver: type[GatedFileDriver],
    stop_agents: list[tuple[Agent, asyncio.Task[None]]],
) -> None:
    state = api.state
    config = config_for(tmp_path, api, driver="gated-file", agent_extra="max_concurrent_jobs = 2")
    stop_agents.append(await started_agent(config))
    ids = [
        state.add_job("create_volume", {"volume": volume(f"vol-{n}", 1)}, backend=BACKEND)
        for n in range(3)
    ]
    await eventually(lambda: len(state.claimed) == 2, "two claims")
    await asyncio.sleep(0.5)
    assert len(state.claimed) == 2  # the third waits for a free slot
    gated_driver.gate.set()
    await eventually(lambda: all(j in state.results for j in ids), "all three results")


async def test_shutdown_lets_a_running_job_finish(
    tmp_path: Path,
    api: FakeApiServer,
    gated_driver: type[GatedFileDriver],
) -> None:
    state = api.state
    agent, task = await started_agent(config_for(tmp_path, api, driver="gated-file"))
    job_id = state.add_job("create_volume", {"volume": volume("vol-x", 1)}, backend=BACKEND)
    await eventually(lambda: job_id in state.claimed, "the claim")
    await driver_call_started(gated_driver)
    agent.stop()
    await asyncio.sleep(0.2)
    assert not task.done()  # waiting for the job (shutdown_grace = 3 s)
    gated_driver.gate.set()
    await asyncio.wait_for(task, 15)
    assert state.results[job_id]["ok"] is True


async def test_shutdown_abandons_a_job_after_the_grace(
    tmp_path: Path,
    api: FakeApiServer,
    gated_driver: type[GatedFileDriver],
) -> None:
    state = api.state
    config = config_for(tmp_path, api, driver="gated-file", shutdown_grace=0.2)
    agent, task = await started_agent(config)
    job_id = state.add_job("create_volume", {"volume": volume("vol-y", 1)}, backend=BACKEND)
    await eventually(lambda: job_id in state.claimed, "the claim")
    await driver_call_started(gated_driver)
    agent.stop()
    await asyncio.wait_for(task, 10)
    assert job_id not in state.results
    await finish_abandoned_call(gated_driver, tmp_path / "file1" / "volume-vol-y")


async def test_a_second_stop_abandons_at_once(
    tmp_path: Path,
    api: FakeApiServer,
    gated_driver: type[GatedFileDriver],
) -> None:
    state = api.state
    config = config_for(tmp_path, api, driver="gated-file", shutdown_grace=30)
    agent, task = await started_agent(config)
    job_id = state.add_job("create_volume", {"volume": volume("vol-z", 1)}, backend=BACKEND)
    await eventually(lambda: job_id in state.claimed, "the claim")
    await driver_call_started(gated_driver)
    agent.stop()
    await asyncio.sleep(0.2)
    assert not task.done()
    agent.stop()
    await asyncio.wait_for(task, 5)
    assert job_id not in state.results
    await finish_abandoned_call(gated_driver, tmp_path / "file1" / "volume-vol-z")


async def test_a_backend_that_fails_setup_is_served_once_it_recovers(
    tmp_path: Path,
    api: FakeApiServer,
    stop_agents: list[tuple[Agent, asyncio.Task[None]]],
) -> None:
    state = api.state
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the backend's parent folder should be")
    path = tmp_path / "agent.toml"
    path.write_text(agent_toml(api.url, blocker / "file1"))
    agent, task = await started_agent(load_config(path))
    stop_agents.append((agent, task))
    await asyncio.sleep(1.0)
    assert state.reports_for(BACKEND) == []
    assert state.claims == []
    assert "cannot create" in str(agent.backends[BACKEND].setup_error)

    blocker.unlink()  # the operator fixes the storage; no restart needed
    await eventually(lambda: len(state.reports_for(BACKEND)) >= 1, "a report after recovery")
    job_id = state.add_job("create_volume", {"volume": volume("vol-r", 1)}, backend=BACKEND)
    await eventually(lambda: job_id in state.results, "a job after recovery")
    assert state.results[job_id]["ok"] is True


async def test_an_agent_fails_over_to_another_replica_and_its_running_job_finishes(
    tmp_path: Path,
    api: FakeApiServer,
    gated_driver: type[GatedFileDriver],
    stop_agents: list[tuple[Agent, asyncio.Task[None]]],
) -> None:
    state = api.state
    # A second replica of the same API: the same state (its database), its own port.
    other = FakeApiServer(state, free_port())
    other.start()
    try:
        path = tmp_path / "agent.toml"
        path.write_text(agent_toml([api.url, other.url], tmp_path / "file1", driver="gated-file"))
        agent, task = await started_agent(load_config(path))
        stop_agents.append((agent, task))
        await eventually(lambda: len(state.reports_for(BACKEND)) >= 1, "the first report")
        assert agent.client.api_url == api.url

        vol_id = "5e0c2f3a-8d1b-4a6e-9f7c-2b3d4e5f6a71"
        job_id = state.add_job("create_volume", {"volume": volume(vol_id, 1)}, backend=BACKEND)
        await driver_call_started(gated_driver)
        api.stop()  # the replica the agent uses dies while its job runs
        state.closing = False  # (the other replica still serves long polls)
        gated_driver.gate.set()
        await eventually(lambda: job_id in state.results, "the result, through the other")
        assert state.results[job_id]["ok"] is True
        assert agent.client.api_url == other.url

        # Later jobs are claimed through the other replica, reports go on there.
        reports = len(state.reports_for(BACKEND))
        second = state.add_job("delete_volume", {"volume": volume(vol_id, 1)}, backend=BACKEND)
        await eventually(lambda: second in state.results, "a later job")
        await eventually(lambda: len(state.reports_for(BACKEND)) > reports, "later reports")
        assert state.auth_requests == 1  # a replica's token is every replica's
    finally:
        other.stop()
