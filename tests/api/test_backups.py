"""Backups through the API, on SQLite (the tests marked both_databases on PostgreSQL too):
backup services, the create_backup scheduling, views, quotas, policies, delete, the
admin actions and the reaper."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.db.models import BackupService, Job, utcnow
from app.volumes import reaper
from tests.api.helpers import (
    BACKUP_HOST,
    available_volume,
    backup_answer,
    claim,
    create_backup,
    create_snapshot,
    expire_all_leases,
    fault,
    finish,
    next_seq,
    run_jobs,
    set_quota,
    snapshot_status,
)
from tests.api.helpers import register_backup_service as register
from tests.api.helpers import show_backup as show
from tests.api.helpers import volume_status as status_of
from tests.conftest import Caller, MakeCaller


async def set_service(app: FastAPI, host: str, **values: Any) -> None:
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(BackupService).where(BackupService.host == host).values(**values)
        )


async def backup_usage(client: httpx.AsyncClient, caller: Caller) -> tuple[int, int]:
    r = await client.get(f"/v3/{caller.project_id}/limits", headers=caller.headers())
    absolute = r.json()["limits"]["absolute"]
    return absolute["totalBackupsUsed"], absolute["totalBackupGigabytesUsed"]


async def action(
    client: httpx.AsyncClient, caller: Caller, backup_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/backups/{backup_id}/action", json=body, headers=caller.headers()
    )


async def messages_of(client: httpx.AsyncClient, caller: Caller) -> list[dict[str, Any]]:
    r = await client.get(f"/v3/{caller.project_id}/messages", headers=caller.headers("3.3"))
    found: list[dict[str, Any]] = r.json()["messages"]
    return found


# --- backup services -----------------------------------------------------------------------


async def test_backup_services_register_and_show_in_os_services(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    first = next_seq()
    r = await register(client, service, seq=next_seq())
    assert r.status_code == 200 and r.json()["accepted"] is True
    # An older report does not replace the newer one (but proves the agent alive).
    r = await register(client, service, reaches=[], seq=first)
    assert r.json() == {"accepted": False, "seq": first + 1}

    url = f"/v3/{admin.project_id}/os-services"
    r = await client.get(f"{url}?binary=cinder-backup", headers=admin.headers())
    [entry] = r.json()["services"]
    assert entry["binary"] == "cinder-backup" and entry["host"] == BACKUP_HOST
    assert (entry["zone"], entry["status"], entry["state"]) == ("nova", "enabled", "up")
    assert entry["updated_at"] is not None
    r = await client.get(f"{url}?binary=cinder-volume", headers=admin.headers())
    assert all(s["binary"] == "cinder-volume" for s in r.json()["services"])

    await set_service(app, BACKUP_HOST, heard_at=utcnow() - timedelta(minutes=5), disabled=True)
    r = await client.get(f"{url}?host=node1", headers=admin.headers())
    [entry] = [s for s in r.json()["services"] if s["binary"] == "cinder-backup"]
    assert (entry["status"], entry["state"]) == ("disabled", "down")

    assert (await client.get(url, headers=member.headers())).status_code == 403
    r = await register(client, member)
    assert r.status_code == 403
    r = await register(client, service, host="bad#host")
    assert r.status_code == 400 and "badRequest" in r.json()


# --- create, the scheduling, results --------------------------------------------------------


async def test_backup_is_created_by_the_backup_service_and_deleted(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service, size=2)
    r = await create_backup(client, member, volume_id, name="b1", description="first")
    assert r.status_code == 202, r.text
    created = r.json()["backup"]
    assert set(created) == {"id", "name", "links"} and created["name"] == "b1"
    backup_id = created["id"]
    assert created["links"][0]["href"].endswith(f"/v3/{member.project_id}/backups/{backup_id}")

    assert await status_of(client, member, volume_id) == "backing-up"
    assert (await show(client, member, backup_id))["status"] == "creating"
    assert await backup_usage(client, member) == (1, 2)
    # The volume cannot be backed up again (or deleted) while it is read.
    r = await create_backup(client, member, volume_id)
    assert "must be available or in-use" in fault(r, 400, "badRequest")

    assert await claim(client, service, ["node1@file"]) is None  # not a volume job
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["kind"] == "create_backup"
    assert job["resource_type"] == "backup" and job["resource_id"] == backup_id
    assert job["payload"]["backup"] == {
        "id": backup_id,
        "container": "volumebackups",
        "volume_id": volume_id,
    }
    assert job["payload"]["volume"]["host"] == "node1@file#pool"
    r = await finish(client, service, job, result=backup_answer(3, 2 << 30))
    assert r.status_code == 200, r.text

    backup = await show(client, member, backup_id)
    assert backup["status"] == "available" and backup["object_count"] == 3
    assert backup["size"] == 2 and backup["volume_id"] == volume_id
    assert backup["data_timestamp"] == backup["created_at"]
    assert await status_of(client, member, volume_id) == "available"

    r = await client.delete(
        f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers()
    )
    assert r.status_code == 202
    assert (await show(client, member, backup_id))["status"] == "deleting"
    assert await backup_usage(client, member) == (1, 2)  # held until the objects are gone
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["kind"] == "delete_backup"
    assert job["payload"]["backup"]["id"] == backup_id
    assert (await finish(client, service, job)).status_code == 200
    r = await client.get(f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers())
    assert "could not be found" in fault(r, 404, "itemNotFound")
    assert await backup_usage(client, member) == (0, 0)


async def test_no_backup_service_leaves_an_error_backup_and_the_volume_untouched(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service)
    r = await create_backup(client, member, volume_id)
    assert r.status_code == 202, r.text
    backup_id = r.json()["backup"]["id"]
    backup = await show(client, member, backup_id)
    assert backup["status"] == "error" and "No backup service" in backup["fail_reason"]
    assert await status_of(client, member, volume_id) == "available"
    assert await backup_usage(client, member) == (0, 0)
    [message] = await messages_of(client, member)
    assert message["resource_type"] == "VOLUME_BACKUP"
    assert message["resource_uuid"] == backup_id
    assert message["event_id"] == "VOLUME_VOLUME_BACKUP_013_024"
    assert message["user_message"].startswith("create backup: Backup failed to schedule.")
    assert await claim(client, service, [BACKUP_HOST]) is None

    # It never stored anything: deleting it needs no agent.
    r = await client.delete(
        f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers()
    )
    assert r.status_code == 202
    r = await client.get(f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers())
    assert r.status_code == 404


async def test_selection_reaches_enabled_up_zone_and_load(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    volume_id = await available_volume(client, member, service, size=1)
    await register(client, service, "other@backup", reaches=["other@file"])
    await register(client, service, "disabled@backup")
    await register(client, service, "down@backup")
    await register(client, service, "far@backup", zone="az2")
    await set_service(app, "disabled@backup", disabled=True)
    await set_service(app, "down@backup", heard_at=utcnow() - timedelta(minutes=5))

    async def chosen(version: str | None = None, **extra: Any) -> str | None:
        r = await create_backup(client, member, volume_id, version, **extra)
        assert r.status_code == 202, r.text
        job = await claim(
            client,
            service,
            [
                "other@backup",
                "disabled@backup",
                "down@backup",
                "far@backup",
                "near@backup",
                "near2@backup",
            ],
        )
        if job is None:
            return None
        # Let it fail so the volume is available for the next round.
        assert (await finish(client, service, job, ok=False)).status_code == 200
        host: str = job["backend"]
        return host

    # Only a service in another zone can read it: better than none.
    assert await chosen() == "far@backup"
    await register(client, service, "near@backup")
    assert await chosen() == "near@backup"  # the volume's own zone first
    assert await chosen("3.51", availability_zone="az2") == "far@backup"
    assert await chosen("3.51", availability_zone="az9") is None  # none there: error
    r = await create_backup(client, member, volume_id, availability_zone="az2")
    assert "availability_zone" in fault(r, 400, "badRequest")  # before 3.51

    # The least busy of equals: near@backup has a queued job, near2@backup none.
    await register(client, service, "near2@backup")
    other_volume = await available_volume(client, member, service, size=1)
    async with app.state.runtime.sessionmaker() as session, session.begin():
        session.add(
            Job(
                kind="create_backup",
                backend="near@backup",
                resource_type="backup",
                resource_id="00000000-0000-4000-8000-000000000000",
                payload={},
                state="pending",
            )
        )
    r = await create_backup(client, member, other_volume)
    backup = await show(client, member, r.json()["backup"]["id"])
    async with app.state.runtime.sessionmaker() as session:
        job = (await session.scalars(select(Job).where(Job.resource_id == backup["id"]))).one()
    assert job.backend == "near2@backup"


async def test_create_is_validated(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service)
    base = f"/v3/{member.project_id}/backups"
    r = await create_backup(client, member, volume_id, incremental=True)
    assert "No backups available to do an incremental backup" in fault(r, 400, "badRequest")
    r = await create_backup(client, member, volume_id, snapshot_id="x")
    assert "Snapshot x could not be found" in fault(r, 404, "itemNotFound")
    r = await client.post(base, json={"backup": {"name": "x"}}, headers=member.headers())
    assert "'volume_id' is a required property" in fault(r, 400, "badRequest")
    r = await client.post(base, json={"nope": {}}, headers=member.headers())
    assert r.status_code == 400
    for container in ("../etc", "a/b", ".x"):
        r = await create_backup(client, member, volume_id, container=container)
        assert "container" in fault(r, 400, "badRequest")
    r = await create_backup(client, member, volume_id, metadata={"k": "v"})
    assert "metadata" in fault(r, 400, "badRequest")  # before 3.43
    r = await create_backup(client, member, volume_id, force="maybe")
    assert r.status_code == 400
    r = await create_backup(client, member, "00000000-0000-4000-8000-00000000dead")
    assert r.status_code == 404

    other = await make_caller("other-project")
    r = await create_backup(client, other, volume_id)
    assert "could not be found" in fault(r, 404, "itemNotFound")
    r = await client.post(
        f"/v3/{member.project_id}/backups",
        json={"backup": {"volume_id": volume_id}},
        headers=other.headers(),
    )
    assert r.status_code == 403
    assert await status_of(client, member, volume_id) == "available"
    assert await backup_usage(client, member) == (0, 0)


async def test_quota_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service, size=5)
    assert (await set_quota(client, admin, member.project_id, backups=0)).status_code == 200
    r = await create_backup(client, member, volume_id)
    assert "backups" in fault(r, 413, "overLimit")
    await set_quota(client, admin, member.project_id, backups=10, backup_gigabytes=4)
    r = await create_backup(client, member, volume_id)
    assert "backup_gigabytes" in fault(r, 413, "overLimit")
    r = await client.get(f"/v3/{member.project_id}/backups", headers=member.headers())
    assert r.json()["backups"] == []
    assert await status_of(client, member, volume_id) == "available"
    assert await backup_usage(client, member) == (0, 0)


# --- views, lists, policies --------------------------------------------------------------------


async def test_views_lists_and_microversions(
    client: httpx.AsyncClient,
    admin: Caller,
    member: Caller,
    service: Caller,
    make_caller: MakeCaller,
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service)
    ids = []
    for name in ("a", "b", "c"):
        r = await create_backup(client, member, volume_id, "3.43", name=name, metadata={"n": name})
        assert r.status_code == 202, r.text
        ids.append(r.json()["backup"]["id"])
        await run_jobs(client, service, [BACKUP_HOST])  # each ends before the next starts

    old = await show(client, member, ids[0])
    # encryption_key_id: Cinder shows it only for an encrypted volume's backup.
    assert {
        "metadata",
        "user_id",
        "os-backup-project-attr:project_id",
        "encryption_key_id",
    }.isdisjoint(old)
    for key in (
        "id",
        "name",
        "description",
        "status",
        "availability_zone",
        "volume_id",
        "snapshot_id",
        "container",
        "size",
        "object_count",
        "fail_reason",
        "created_at",
        "updated_at",
        "data_timestamp",
        "is_incremental",
        "has_dependent_backups",
        "links",
    ):
        assert key in old, key
    assert old["is_incremental"] is False
    new = await show(client, member, ids[0], "3.56")
    assert new["metadata"] == {"n": "a"}
    assert {"user_id", "os-backup-project-attr:project_id"}.isdisjoint(new)  # admin only
    as_admin = await show(client, admin, ids[0], "3.56")
    assert as_admin["os-backup-project-attr:project_id"] == member.project_id
    assert as_admin["user_id"] == member.user_id

    base = f"/v3/{member.project_id}/backups"
    r = await client.get(base, headers=member.headers())
    assert [set(b) for b in r.json()["backups"]] == [{"id", "name", "links"}] * 3
    assert [b["id"] for b in r.json()["backups"]] == ids[::-1]  # newest first
    r = await client.get(f"{base}/detail?name=b", headers=member.headers())
    assert [b["id"] for b in r.json()["backups"]] == [ids[1]]
    r = await client.get(
        f"{base}/detail?volume_id={volume_id}&status=available", headers=member.headers()
    )
    assert len(r.json()["backups"]) == 3
    r = await client.get(f"{base}?sort=name:asc&limit=2", headers=member.headers())
    page = r.json()
    assert [b["name"] for b in page["backups"]] == ["a", "b"]
    next_href = page["backups_links"][0]["href"]
    assert "marker=" in next_href
    r = await client.get(f"{base}?sort=name:asc&limit=2&marker={ids[1]}", headers=member.headers())
    assert [b["name"] for b in r.json()["backups"]] == ["c"]
    r = await client.get(f"{base}?with_count=true", headers=member.headers("3.45"))
    assert r.json()["count"] == 3
    r = await client.get(f"{base}?sort=bogus", headers=member.headers())
    assert r.status_code == 400

    other = await make_caller("other-project")
    r = await client.get(f"/v3/{other.project_id}/backups?all_tenants=1", headers=other.headers())
    assert r.json()["backups"] == []
    r = await client.get(f"/v3/{other.project_id}/backups/{ids[0]}", headers=other.headers())
    assert r.status_code == 404
    r = await client.delete(f"/v3/{other.project_id}/backups/{ids[0]}", headers=other.headers())
    assert r.status_code == 404
    r = await client.get(f"/v3/{admin.project_id}/backups?all_tenants=1", headers=admin.headers())
    assert len(r.json()["backups"]) == 3
    r = await client.get(f"/v3/{admin.project_id}/backups", headers=admin.headers())
    assert r.json()["backups"] == []


# --- admin actions, failures, the reaper --------------------------------------------------------


async def test_reset_status_and_force_delete(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service, size=3)
    backup_id = (await create_backup(client, member, volume_id)).json()["backup"]["id"]

    r = await action(client, member, backup_id, {"os-reset_status": {"status": "error"}})
    assert "volume_extension:backup_admin_actions:reset_status" in fault(r, 403, "forbidden")
    r = await action(client, member, backup_id, {"os-force_delete": {}})
    assert r.status_code == 403
    r = await action(client, admin, backup_id, {"os-reset_status": {"status": "error"}})
    assert "in flight" in fault(r, 400, "badRequest")
    r = await client.delete(
        f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers()
    )
    assert "must be available or error" in fault(r, 400, "badRequest")

    # Force delete overrides the running create: the volume is given back, the agent's
    # late result is refused, and the delete job removes whatever was written.
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None
    r = await action(client, admin, backup_id, {"os-force_delete": {}})
    assert r.status_code == 202, r.text
    assert await status_of(client, member, volume_id) == "available"
    assert (await show(client, member, backup_id))["status"] == "deleting"
    assert (await finish(client, service, job)).status_code == 409
    delete_job = await claim(client, service, [BACKUP_HOST])
    assert delete_job is not None and delete_job["kind"] == "delete_backup"
    assert (await finish(client, service, delete_job)).status_code == 200
    assert (
        await client.get(f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers())
    ).status_code == 404
    assert await backup_usage(client, member) == (0, 0)

    # Reset moves the quota with it: an error backup holds none.
    backup_id = (await create_backup(client, member, volume_id)).json()["backup"]["id"]
    await run_jobs(client, service, [BACKUP_HOST])
    assert await backup_usage(client, member) == (1, 3)
    r = await action(client, admin, backup_id, {"os-reset_status": {"status": "error"}})
    assert r.status_code == 202
    assert await backup_usage(client, member) == (0, 0)
    r = await action(client, admin, backup_id, {"os-reset_status": {"status": "creating"}})
    assert r.status_code == 400
    r = await action(client, admin, backup_id, {"os-reset_status": {"status": "available"}})
    assert r.status_code == 202
    assert await backup_usage(client, member) == (1, 3)
    r = await action(client, admin, backup_id, {"os-bogus": {}})
    assert r.status_code == 400


async def test_failed_create_and_delete_results(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service, size=2)
    backup_id = (await create_backup(client, member, volume_id)).json()["backup"]["id"]
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None
    r = await finish(client, service, job, ok=False, error="repository full")
    assert r.json() == {"state": "failed"}
    backup = await show(client, member, backup_id)
    assert backup["status"] == "error" and backup["fail_reason"] == "repository full"
    assert await status_of(client, member, volume_id) == "available"
    assert await backup_usage(client, member) == (0, 0)
    [message] = await messages_of(client, member)
    assert message["event_id"] == "VOLUME_VOLUME_BACKUP_013_020"
    assert "repository full" in message["user_message"]

    # It reached a service, which may hold partial objects: deleting asks it; a failed
    # delete of an error backup returns it to error (it still holds no quota).
    r = await client.delete(
        f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers()
    )
    assert r.status_code == 202
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["payload"]["quota_held"] is False
    await finish(client, service, job, ok=False, error="permission denied")
    assert (await show(client, member, backup_id))["status"] == "error"
    # Deleting again, then forcing it while the delete is queued: the new delete job
    # still knows this backup holds no quota, so its success gives none back.
    r = await client.delete(
        f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers()
    )
    assert r.status_code == 202
    r = await action(client, admin, backup_id, {"os-force_delete": {}})
    assert r.status_code == 202
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["payload"]["quota_held"] is False
    assert await claim(client, service, [BACKUP_HOST]) is None  # the first was cancelled
    held_by_other = (await create_backup(client, member, volume_id)).json()["backup"]["id"]
    await finish(client, service, job)
    assert await backup_usage(client, member) == (1, 2)  # only the new backup's
    await run_jobs(client, service, [BACKUP_HOST])
    assert (await show(client, member, held_by_other))["status"] == "available"
    await client.delete(
        f"/v3/{member.project_id}/backups/{held_by_other}", headers=member.headers()
    )
    await run_jobs(client, service, [BACKUP_HOST])

    # A failed delete of an available backup: error_deleting, still counted.
    backup_id = (await create_backup(client, member, volume_id)).json()["backup"]["id"]
    await run_jobs(client, service, [BACKUP_HOST])
    await client.delete(f"/v3/{member.project_id}/backups/{backup_id}", headers=member.headers())
    assert await run_jobs(client, service, [BACKUP_HOST], ok=False) == 1
    backup = await show(client, member, backup_id)
    assert backup["status"] == "error_deleting" and backup["fail_reason"] == "disk on fire"
    assert await backup_usage(client, member) == (1, 2)
    events = {m["event_id"] for m in await messages_of(client, member)}
    assert "VOLUME_VOLUME_BACKUP_014_025" in events


@pytest.mark.both_databases
async def test_the_reaper_ends_backups_whose_agent_died_or_whose_service_is_down(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    runtime = app.state.runtime
    await register(client, service)
    volume_id = await available_volume(client, member, service)
    backup_id = (await create_backup(client, member, volume_id)).json()["backup"]["id"]
    for attempt in range(1, runtime.settings.job_max_attempts + 1):
        job = await claim(client, service, [BACKUP_HOST])
        assert job is not None and job["attempts"] == attempt
        await expire_all_leases(app)
        assert await reaper.reap_once(runtime) == 1
    backup = await show(client, member, backup_id)
    assert backup["status"] == "error" and "stopped responding" in backup["fail_reason"]
    assert await status_of(client, member, volume_id) == "available"
    assert await backup_usage(client, member) == (0, 0)

    # A queued backup on a service that went down is failed, not left creating.
    backup_id = (await create_backup(client, member, volume_id)).json()["backup"]["id"]
    await set_service(app, BACKUP_HOST, heard_at=utcnow() - timedelta(minutes=5))
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(Job)
            .where(Job.resource_id == backup_id)
            .values(created_at=utcnow() - timedelta(minutes=5))
        )
    assert await reaper.reap_once(runtime) >= 1
    backup = await show(client, member, backup_id)
    assert backup["status"] == "error" and "down" in backup["fail_reason"]
    assert await status_of(client, member, volume_id) == "available"


async def test_update_name_description_and_metadata(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: MakeCaller
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service)
    backup_id = (await create_backup(client, member, volume_id, name="old")).json()["backup"]["id"]
    url = f"/v3/{member.project_id}/backups/{backup_id}"
    body = {"backup": {"name": "new", "description": "d"}}
    r = await client.put(url, json=body, headers=member.headers())
    assert r.status_code == 404  # before 3.9 there is no update
    r = await client.put(url, json=body, headers=member.headers("3.9"))
    assert r.status_code == 200, r.text
    assert r.json()["backup"]["name"] == "new" and set(r.json()["backup"]) == {
        "id",
        "name",
        "links",
    }
    r = await client.put(
        url, json={"backup": {"metadata": {"a": "b"}}}, headers=member.headers("3.9")
    )
    assert "metadata" in fault(r, 400, "badRequest")
    r = await client.put(
        url, json={"backup": {"metadata": {"a": "b"}}}, headers=member.headers("3.43")
    )
    assert r.status_code == 200
    shown = await show(client, member, backup_id, "3.43")
    assert (shown["name"], shown["description"], shown["metadata"]) == ("new", "d", {"a": "b"})
    r = await client.put(url, json={"backup": {}}, headers=member.headers("3.9"))
    assert r.status_code == 400
    other = await make_caller("other-project")
    r = await client.put(
        f"/v3/{other.project_id}/backups/{backup_id}", json=body, headers=other.headers("3.9")
    )
    assert r.status_code == 404


@pytest.mark.both_databases
async def test_parallel_backups_are_exact(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    """Ten parallel backups of one volume: one wins the volume. Then one each of six
    volumes against a quota of three: exactly three are taken."""
    await register(client, service)
    volume_id = await available_volume(client, member, service, size=1)
    answers = await asyncio.gather(*(create_backup(client, member, volume_id) for _ in range(10)))
    assert sorted(r.status_code for r in answers) == [202] + [400] * 9
    assert await backup_usage(client, member) == (1, 1)
    assert await run_jobs(client, service, [BACKUP_HOST]) == 1

    await set_quota(client, admin, member.project_id, backups=4)
    volumes = [await available_volume(client, member, service, size=1) for _ in range(6)]
    answers = await asyncio.gather(*(create_backup(client, member, v) for v in volumes))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] * 3 + [413] * 3, [r.text for r in answers]
    assert await backup_usage(client, member) == (4, 4)
    assert await run_jobs(client, service, [BACKUP_HOST]) == 3
    statuses = [await status_of(client, member, v) for v in volumes]
    assert statuses == ["available"] * 6


async def test_backup_of_a_snapshot_reads_the_snapshot_and_leaves_the_volume_alone(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await register(client, service)
    volume_id = await available_volume(client, member, service, size=1)
    other_volume = await available_volume(client, member, service, size=1)
    snapshot = await create_snapshot(client, member, volume_id)
    r = await create_backup(client, member, volume_id, snapshot_id=snapshot["id"])
    assert "must be available" in fault(r, 400, "badRequest")  # still creating
    await run_jobs(client, service, ["node1@file"])
    r = await create_backup(client, member, other_volume, snapshot_id=snapshot["id"])
    assert "is not a snapshot of volume" in fault(r, 400, "badRequest")

    r = await create_backup(client, member, volume_id, snapshot_id=snapshot["id"])
    assert r.status_code == 202, r.text
    backup_id = r.json()["backup"]["id"]
    assert await snapshot_status(client, member, snapshot["id"]) == "backing-up"
    assert await status_of(client, member, volume_id) == "available"
    backup = await show(client, member, backup_id)
    assert backup["snapshot_id"] == snapshot["id"]
    assert backup["data_timestamp"] == snapshot["created_at"]
    # The snapshot is busy: it cannot be deleted, nor backed up twice at once.
    r = await client.delete(
        f"/v3/{member.project_id}/snapshots/{snapshot['id']}", headers=member.headers()
    )
    assert r.status_code == 400
    r = await create_backup(client, member, volume_id, snapshot_id=snapshot["id"])
    assert r.status_code == 400

    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["payload"]["snapshot"]["id"] == snapshot["id"]
    assert job["payload"]["volume"]["id"] == volume_id
    assert (await finish(client, service, job, result=backup_answer())).status_code == 200
    assert await snapshot_status(client, member, snapshot["id"]) == "available"
    assert (await show(client, member, backup_id))["status"] == "available"

    # A force delete of a running snapshot backup gives the snapshot back.
    r = await create_backup(client, member, volume_id, snapshot_id=snapshot["id"])
    backup_id = r.json()["backup"]["id"]
    assert await claim(client, service, [BACKUP_HOST]) is not None
    r = await action(client, admin, backup_id, {"os-force_delete": {}})
    assert r.status_code == 202
    assert await snapshot_status(client, member, snapshot["id"]) == "available"
    assert await run_jobs(client, service, [BACKUP_HOST]) == 1
    assert await backup_usage(client, member) == (1, 1)


async def test_no_reset_of_a_volume_or_snapshot_a_backup_is_reading(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    # The backup's job is the backup's, not the volume's: a reset found no job in flight
    # and let the volume (or snapshot) be deleted, extended or backed up again while the
    # first backup still read it, whose end then put a second backup's source back.
    volume_id = await available_volume(client, member, service)
    assert (await register(client, service)).status_code == 200
    assert (await create_backup(client, member, volume_id)).status_code == 202
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert r.status_code == 400, r.text
    assert "backup" in r.text
    assert (await run_jobs(client, service, [BACKUP_HOST])) == 1

    r = await client.post(
        f"/v3/{member.project_id}/snapshots",
        json={"snapshot": {"volume_id": volume_id}},
        headers=member.headers(),
    )
    snapshot_id = r.json()["snapshot"]["id"]
    await run_jobs(client, service, ["node1@file"])
    r = await create_backup(client, member, volume_id, snapshot_id=snapshot_id)
    assert r.status_code == 202, r.text
    r = await client.post(
        f"/v3/{admin.project_id}/snapshots/{snapshot_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert r.status_code == 400, r.text
    assert "backup" in r.text
    # The volume itself is not read by that backup: it may be reset.
    r = await client.post(
        f"/v3/{admin.project_id}/volumes/{volume_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
