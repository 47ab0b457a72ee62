"""Test helpers that speak the agent protocol to the API, as a real agent does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Caller

_clock = datetime.now(UTC).replace(tzinfo=None)


_seq = 0


def next_timestamp() -> str:
    """Strictly increasing report timestamps, whatever the wall clock does."""
    global _clock
    _clock += timedelta(milliseconds=1)
    return _clock.isoformat()


def next_seq() -> int:
    """Strictly increasing report sequence numbers, as an agent sends them."""
    global _seq
    _seq += 1
    return _seq


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
    seq: int | None = None,
    **backend: Any,
) -> dict[str, Any]:
    """Post a backend's report as `service` (the agent of the caller's user)."""
    body = {
        "host": host,
        "availability_zone": zone,
        "timestamp": timestamp or next_timestamp(),
        "seq": seq if seq is not None else next_seq(),
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
    wait: float = 0,
    *,
    removals: bool = False,
) -> dict[str, Any] | None:
    """The next job, as the agent of `service` claims it. Removals of leftover copies
    (queued when a create fails, or by a migration) are done on the way unless `removals`
    asks for them."""
    while True:
        r = await client.post(
            "/agent/v1/jobs/claim",
            headers=service.headers(),
            json={"backends": backends, "wait": wait},
        )
        assert r.status_code == 200, r.text
        job: dict[str, Any] | None = r.json()["job"]
        if job is None or removals or job["kind"] != "delete_volume_copy":
            return job
        done = await finish(client, service, job)
        assert done.status_code == 200, done.text


async def finish(
    client: httpx.AsyncClient,
    service: Caller,
    job: dict[str, Any],
    *,
    ok: bool = True,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> httpx.Response:
    """Post a job's result for the attempt the claim gave (or `attempt`)."""
    body: dict[str, Any] = {"attempt": attempt or job["attempts"], "ok": ok}
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
    ok: bool = True,
) -> int:
    """Claim and complete every queued job of these backends; how many."""
    done = 0
    while (job := await claim(client, service, backends)) is not None:
        r = await finish(
            client,
            service,
            job,
            ok=ok,
            result={"provider_location": f"/fake/{job['resource_id']}"},
        )
        assert r.status_code == 200, r.text
        done += 1
    return done
