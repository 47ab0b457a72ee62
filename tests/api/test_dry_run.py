"""The dry-run endpoint and get_pools filters."""

from __future__ import annotations

import httpx

from tests.api.helpers import file_pool, report
from tests.conftest import Caller


async def setup_pools(client: httpx.AsyncClient, admin: Caller, service: Caller) -> None:
    await report(
        client,
        service,
        host="n1@ssd",
        pools=[
            file_pool("a", total=100, disk_type="ssd"),
            file_pool("b", total=10, disk_type="ssd"),
        ],
    )
    await report(client, service, host="n2@hdd", pools=[file_pool("c", total=500, disk_type="hdd")])
    r = await client.post(
        f"/v3/{admin.project_id}/types",
        headers=admin.headers(),
        json={"volume_type": {"name": "fast", "extra_specs": {"disk_type": "ssd"}}},
    )
    assert r.status_code == 200, r.text


async def test_dry_run_ranks_and_explains(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await setup_pools(client, admin, service)
    url = f"/v3/{admin.project_id}/scheduler-stats/dry-run"
    r = await client.post(
        url, headers=admin.headers(), json={"volume": {"size": 20, "volume_type": "fast"}}
    )
    assert r.status_code == 200, r.text
    run = r.json()["dry_run"]
    assert [c["pool"] for c in run["candidates"]] == ["n1@ssd#a"]
    steps = {s["name"]: s for s in run["filters"]}
    assert steps["CapabilitiesFilter"]["summary"] == "CapabilitiesFilter removed 1 of 2 pools"
    assert steps["CapacityFilter"]["summary"] == "CapacityFilter removed 1 of 3 pools"
    r = await client.post(url, headers=admin.headers(), json={"volume": {"size": 5000}})
    assert r.json()["dry_run"]["candidates"] == []
    assert "CapacityFilter removed 3 of 3" in r.json()["dry_run"]["reason"]
    # Nothing was created or claimed.
    r = await client.get(f"/v3/{admin.project_id}/volumes", headers=admin.headers())
    assert r.json()["volumes"] == []
    r = await client.post(url, headers=member.headers(), json={"volume": {"size": 1}})
    assert r.status_code == 403
    r = await client.post(url, headers=admin.headers(), json={"volume": {"size": "x"}})
    assert r.status_code == 400


async def test_get_pools_filters(client: httpx.AsyncClient, admin: Caller, service: Caller) -> None:
    await setup_pools(client, admin, service)
    base = f"/v3/{admin.project_id}/scheduler-stats/get_pools"
    r = await client.get(f"{base}?volume_type=fast", headers=admin.headers("3.35"))
    assert sorted(p["name"] for p in r.json()["pools"]) == ["n1@ssd#a", "n1@ssd#b"]
    r = await client.get(f"{base}?name=n2@hdd%23c", headers=admin.headers())
    assert [p["name"] for p in r.json()["pools"]] == ["n2@hdd#c"]
    r = await client.get(f"{base}?volume_type=nope", headers=admin.headers("3.35"))
    assert r.status_code == 404
