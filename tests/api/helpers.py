"""Test helpers that speak the agent protocol to the API, as a real agent does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Caller

_clock = datetime.now(UTC).replace(tzinfo=None)


def next_timestamp() -> str:
    """Strictly increasing report timestamps, whatever the wall clock does."""
    global _clock
    _clock += timedelta(milliseconds=1)
    return _clock.isoformat()


def file_pool(
    name: str = "pool",
    total: float = 100.0,
    *,
    thin: bool = False,
    allocated: float = 0.0,
    mosr: str = "1.0",
    reserved: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "pool_name": name,
        "total_capacity_gb": total,
        "free_capacity_gb": total - allocated,
        "allocated_capacity_gb": allocated,
        "provisioned_capacity_gb": allocated,
        "thin_provisioning_support": thin,
        "thick_provisioning_support": not thin,
        "max_over_subscription_ratio": mosr,
        "reserved_percentage": reserved,
        "multiattach": True,
        "QoS_support": False,
        **extra,
    }


async def report(
    client: httpx.AsyncClient,
    service: Caller,
    host: str = "node1@file",
    pools: list[dict[str, Any]] | None = None,
    zone: str = "nova",
    timestamp: str | None = None,
    **backend: Any,
) -> dict[str, Any]:
    body = {
        "agent_id": host.split("@")[0],
        "host": host,
        "availability_zone": zone,
        "timestamp": timestamp or next_timestamp(),
        "job_versions": {"create_volume": [1], "delete_volume": [1], "extend_volume": [1]},
        "capabilities": {
            "volume_backend_name": host.split("@")[1],
            "vendor_name": "Pumice",
            "driver_version": "1.0",
            "storage_protocol": "file",
            "pools": pools if pools is not None else [file_pool()],
            **backend,
        },
    }
    r = await client.post("/agent/v1/capabilities", json=body, headers=service.headers())
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def claim(
    client: httpx.AsyncClient,
    service: Caller,
    backends: list[str],
    agent: str = "node1",
    wait: float = 0,
    *,
    removals: bool = False,
) -> dict[str, Any] | None:
    """The next job, as an agent claims it. Removals of leftover copies (queued when a
    create fails, or by a migration) are done on the way unless `removals` asks for them."""
    while True:
        r = await client.post(
            "/agent/v1/jobs/claim",
            headers=service.headers(),
            json={"agent_id": agent, "backends": backends, "wait": wait},
        )
        assert r.status_code == 200, r.text
        job: dict[str, Any] | None = r.json()["job"]
        if job is None or removals or job["kind"] != "delete_volume_copy":
            return job
        done = await finish(client, service, job, agent=agent)
        assert done.status_code == 200, done.text


async def finish(
    client: httpx.AsyncClient,
    service: Caller,
    job: dict[str, Any],
    *,
    ok: bool = True,
    agent: str = "node1",
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"agent_id": agent, "ok": ok}
    if ok:
        body["result"] = result or {}
    else:
        body["error"] = error or "disk on fire"
    return await client.post(
        f"/agent/v1/jobs/{job['id']}/result", json=body, headers=service.headers()
    )


async def run_jobs(
    client: httpx.AsyncClient,
    service: Caller,
    backends: list[str],
    agent: str = "node1",
    ok: bool = True,
) -> int:
    """Claim and complete every queued job of these backends; how many."""
    done = 0
    while (job := await claim(client, service, backends, agent)) is not None:
        r = await finish(
            client,
            service,
            job,
            ok=ok,
            agent=agent,
            result={"provider_location": f"/fake/{job['resource_id']}"},
        )
        assert r.status_code == 200, r.text
        done += 1
    return done
