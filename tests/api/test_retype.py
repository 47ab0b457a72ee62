"""os-retype: in place when the pool satisfies the new type, refused clearly otherwise."""

from __future__ import annotations

import httpx

from tests.api.helpers import file_pool, make_type, report, retype, run_jobs
from tests.conftest import Caller, MakeCaller


async def test_retype(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
) -> None:
    other_agent = await make_caller("service", ("service",), user_name="agent2")
    await report(client, service, host="n1@ssd", pools=[file_pool(disk_type="ssd")])
    await report(client, other_agent, host="n2@hdd", pools=[file_pool(disk_type="hdd")])
    await make_type(client, admin, "ssd", {"disk_type": "ssd"})
    await make_type(client, admin, "fast-ssd", {"disk_type": "ssd", "tier": "<in> gold"})
    await make_type(client, admin, "hdd", {"disk_type": "hdd"})
    r = await client.post(
        f"/v3/{member.project_id}/volumes",
        headers=member.headers(),
        json={"volume": {"size": 1, "volume_type": "ssd"}},
    )
    volume_id = r.json()["volume"]["id"]
    await run_jobs(client, service, ["n1@ssd"])

    r = await retype(client, member, volume_id, new_type="ssd")
    assert r.status_code == 400 and "different" in r.json()["badRequest"]["message"]
    r = await retype(client, member, volume_id, new_type="nope")
    assert r.status_code == 404
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="never")
    assert r.status_code == 400
    assert "CapabilitiesFilter" in r.json()["badRequest"]["message"]
    r = await retype(client, member, volume_id, new_type="hdd", migration_policy="on-demand")
    # The one pool that suits 'hdd' is another agent's: no data path between agents yet.
    message = r.json()["badRequest"]["message"]
    assert r.status_code == 400 and "n2@hdd#pool" in message and "agent" in message
    r = await retype(client, member, volume_id, new_type="fast-ssd", migration_policy="x")
    assert r.status_code == 400

    # The pool reports no 'tier': the type's spec fails there.
    r = await retype(client, member, volume_id, new_type="fast-ssd")
    assert r.status_code == 400
    await make_type(client, admin, "ssd2", {"disk_type": "<in> ss"})
    r = await retype(client, member, volume_id, new_type="ssd2")
    assert r.status_code == 202, r.text
    r = await client.get(f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers())
    assert r.json()["volume"]["volume_type"] == "ssd2"
    assert r.json()["volume"]["status"] == "available"
