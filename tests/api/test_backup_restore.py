"""Restoring backups through the API (the agent's side spoken as the backup agent does):
into a new volume or the caller's own, a volume created from a backup (3.47), where a
new volume may land, failures and the reaper, force delete during a restore,
incremental backups and their dependents, and export/import of backup records. The
tests marked both_databases (claims, quotas, locks) run on PostgreSQL too."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update

from app.db.models import Backup, BackupService, Job, utcnow
from app.volumes import reaper
from tests.api.helpers import (
    BACKUP_HOST,
    assert_ledgers_exact,
    available_backup,
    available_volume,
    claim,
    create_backup,
    create_volume,
    expire_all_leases,
    fault,
    file_pool,
    finish,
    messages_about,
    register_backup_service,
    report,
    restore_backup,
    run_jobs,
    show_volume,
    volume_action,
)
from tests.api.helpers import show_backup as show
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases


async def usage(client: httpx.AsyncClient, caller: Caller) -> tuple[int, int]:
    r = await client.get(f"/v3/{caller.project_id}/limits", headers=caller.headers())
    absolute = r.json()["limits"]["absolute"]
    return absolute["totalVolumesUsed"], absolute["totalGigabytesUsed"]


async def restore_job(client: httpx.AsyncClient, service: Caller) -> dict[str, Any]:
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["kind"] == "restore_backup", job
    return job


async def backed_up_volume(
    client: httpx.AsyncClient, member: Caller, service: Caller, size: int = 2
) -> tuple[str, str]:
    """(volume id, backup id): a volume on node1@file and an available backup of it."""
    await register_backup_service(client, service)
    volume_id = await available_volume(client, member, service, size=size)
    return volume_id, await available_backup(client, member, service, volume_id)


async def test_restore_to_a_new_volume_places_claims_and_ends_available(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    _, backup_id = await backed_up_volume(client, member, service)
    before = await usage(client, member)
    r = await client.post(
        f"/v3/{member.project_id}/backups/{backup_id}/restore", json={}, headers=member.headers()
    )
    assert "Missing required element 'restore'" in fault(r, 400, "badRequest")
    r = await restore_backup(client, member, backup_id)  # {"restore": null}: a new volume
    assert r.status_code == 202, r.text
    answer = r.json()["restore"]
    assert answer["backup_id"] == backup_id
    assert answer["volume_name"] == f"restore_backup_{backup_id}"  # Cinder's name
    new_id = answer["volume_id"]
    volume = await show_volume(client, member, new_id)
    assert (volume["status"], volume["size"]) == ("restoring-backup", 2)
    assert volume["description"] == "auto-created_from_restore_from_backup"
    assert (await show(client, member, backup_id))["status"] == "restoring"
    assert await usage(client, member) == (before[0] + 1, before[1] + 2)
    await assert_ledgers_exact(app.state.runtime.sessionmaker, member.project_id)

    job = await restore_job(client, service)
    payload = job["payload"]
    assert payload["create"] is True and payload["backup"]["id"] == backup_id
    assert payload["volume"]["id"] == new_id and payload["volume"]["host"] == "node1@file#pool"
    assert (await finish(client, service, job)).status_code == 200
    volume = await show_volume(client, member, new_id)
    assert volume["status"] == "available" and volume["name"] == f"restore_backup_{backup_id}"
    assert (await show(client, member, backup_id))["status"] == "available"

    # With a name this time.
    r = await restore_backup(client, member, backup_id, {"name": "mine"})
    assert r.status_code == 202 and r.json()["restore"]["volume_name"] == "mine"


async def test_restore_onto_an_existing_volume_checks_it_and_keeps_its_name(
    client: httpx.AsyncClient, member: Caller, service: Caller, make_caller: Any
) -> None:
    volume_id, backup_id = await backed_up_volume(client, member, service)
    small = await available_volume(client, member, service, size=1, name="small")
    r = await restore_backup(client, member, backup_id, {"volume_id": small})
    assert "too small to restore backup of size 2" in fault(r, 400, "badRequest")
    other = await make_caller("other-project")
    r = await restore_backup(client, other, backup_id, {"volume_id": small})
    assert r.status_code == 404

    target = await available_volume(client, member, service, size=3, name="target")
    r = await restore_backup(client, member, backup_id, {"volume_id": target})
    assert r.status_code == 202, r.text
    assert r.json()["restore"] == {
        "backup_id": backup_id,
        "volume_id": target,
        "volume_name": "target",
    }
    assert (await show_volume(client, member, target))["status"] == "restoring-backup"
    # Busy: the backup is restoring, the volume restoring-backup.
    r = await restore_backup(client, member, backup_id, {"volume_id": volume_id})
    assert "Backup status must be available" in fault(r, 400, "badRequest")
    r = await client.delete(f"/v3/{member.project_id}/volumes/{target}", headers=member.headers())
    assert r.status_code == 400
    job = await restore_job(client, service)
    assert job["payload"]["create"] is False and job["payload"]["volume"]["id"] == target
    await finish(client, service, job)
    volume = await show_volume(client, member, target)
    assert (volume["status"], volume["name"], volume["size"]) == ("available", "target", 3)

    # The volume must be available (an in-use or errored one is refused).
    assert (await volume_action(client, member, target, "os-reserve")).status_code == 202
    r = await restore_backup(client, member, backup_id, {"volume_id": target})
    assert "must be available" in fault(r, 400, "badRequest")


async def test_a_failed_restore_leaves_the_backup_available_and_the_volume_in_error(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    _, backup_id = await backed_up_volume(client, member, service)
    r = await restore_backup(client, member, backup_id)
    new_id = r.json()["restore"]["volume_id"]
    job = await restore_job(client, service)
    why = f"backup {backup_id}: object chunk-00000000.zst is corrupt (sha256 differs)"
    assert (await finish(client, service, job, ok=False, error=why)).status_code == 200
    assert (await show(client, member, backup_id))["status"] == "available"
    assert (await show_volume(client, member, new_id))["status"] == "error"
    [message] = await messages_about(client, member, new_id)
    assert message.startswith("VOLUME_VOLUME_015_026: restore backup: Backup driver failed")
    assert why in message
    # The volume in error is the user's to delete; its delete removes what was written.
    r = await client.delete(f"/v3/{member.project_id}/volumes/{new_id}", headers=member.headers())
    assert r.status_code == 202


async def test_the_reaper_and_a_force_delete_end_a_restore_cleanly(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    runtime = app.state.runtime
    _, backup_id = await backed_up_volume(client, member, service)
    new_id = (await restore_backup(client, member, backup_id)).json()["restore"]["volume_id"]
    for _ in range(runtime.settings.job_max_attempts):
        await restore_job(client, service)
        await expire_all_leases(app)
        assert await reaper.reap_once(runtime) == 1
    assert (await show(client, member, backup_id))["status"] == "available"
    assert (await show_volume(client, member, new_id))["status"] == "error"
    assert any("stopped responding" in m for m in await messages_about(client, member, new_id))

    # A reset of the volume under a restore in flight is refused; a force delete of the
    # backup ends the restore: the volume goes to error, the backup goes.
    new_id = (await restore_backup(client, member, backup_id)).json()["restore"]["volume_id"]
    url = f"/v3/{admin.project_id}/volumes/{new_id}/action"
    r = await client.post(
        url, json={"os-reset_status": {"status": "available"}}, headers=admin.headers()
    )
    assert "being read by backup" in fault(r, 400, "badRequest")
    r = await client.post(
        f"/v3/{admin.project_id}/backups/{backup_id}/action",
        json={"os-reset_status": {"status": "available"}},
        headers=admin.headers(),
    )
    assert "restore_backup in flight" in fault(r, 400, "badRequest")
    r = await client.post(
        f"/v3/{admin.project_id}/backups/{backup_id}/action",
        json={"os-force_delete": {}},
        headers=admin.headers(),
    )
    assert r.status_code == 202, r.text
    assert (await show_volume(client, member, new_id))["status"] == "error"
    assert any("force-deleted" in m for m in await messages_about(client, member, new_id))
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["kind"] == "delete_backup"


async def test_restore_refusals(client: httpx.AsyncClient, member: Caller, service: Caller) -> None:
    await register_backup_service(client, service)
    volume_id = await available_volume(client, member, service)
    r = await create_backup(client, member, volume_id)
    creating = r.json()["backup"]["id"]
    r = await restore_backup(client, member, creating)
    assert 'current status is "creating"' in fault(r, 400, "badRequest")
    await run_jobs(client, service, [BACKUP_HOST])
    r = await client.post(
        f"/v3/{member.project_id}/backups/{creating}/restore",
        json={"restore": "x"},
        headers=member.headers(),
    )
    assert r.status_code == 400
    # The only backup service no longer reaches the volume's backend: nowhere to restore.
    await register_backup_service(client, service, reaches=[])
    r = await restore_backup(client, member, creating)
    assert "No pool that a backup service reading backup" in fault(r, 400, "badRequest")
    r = await restore_backup(client, member, creating, {"volume_id": volume_id})
    assert "reaches the backend of volume" in fault(r, 400, "badRequest")


async def test_a_new_volume_lands_only_where_a_reader_of_the_backup_reaches(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    _, backup_id = await backed_up_volume(client, member, service)
    # A second backend with far more room, which no backup service reaches.
    await report(client, service, host="node2@file", pools=[file_pool(total=10000.0)])
    for _ in range(3):
        r = await restore_backup(client, member, backup_id)
        assert r.status_code == 202, r.text
        job = await restore_job(client, service)
        assert job["payload"]["volume"]["host"].startswith("node1@file#")
        await finish(client, service, job)
    # Another backup service of the same repository takes over when the backup's is down.
    await register_backup_service(client, service, host="node2@backup", reaches=["node2@file"])
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(BackupService)
            .where(BackupService.host == BACKUP_HOST)
            .values(heard_at=utcnow().replace(year=2000))
        )
    r = await restore_backup(client, member, backup_id)
    assert r.status_code == 202, r.text
    taken = await claim(client, service, ["node2@backup"])
    assert taken is not None and taken["payload"]["volume"]["host"].startswith("node2@file#")


async def test_create_a_volume_from_a_backup_3_47(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    _, backup_id = await backed_up_volume(client, member, service)
    r = await create_volume(client, member, 1, "3.47", backup_id=backup_id)
    assert "cannot be smaller than the backup size 2GB" in fault(r, 400, "badRequest")
    r = await create_volume(client, member, 4, "3.47", backup_id=backup_id, name="from-b")
    assert r.status_code == 202, r.text
    volume = r.json()["volume"]
    assert (volume["status"], volume["size"], volume["name"]) == ("restoring-backup", 4, "from-b")
    job = await restore_job(client, service)
    assert job["payload"]["create"] is True and job["payload"]["volume"]["size_gb"] == 4
    await finish(client, service, job)
    assert (await show_volume(client, member, volume["id"]))["status"] == "available"
    # No size: the backup's (Cinder's).
    r = await create_volume(client, member, None, "3.47", backup_id=backup_id)
    assert r.status_code == 202 and r.json()["volume"]["size"] == 2
    await finish(client, service, await restore_job(client, service))
    # Before 3.47 backup_id is ignored, as Cinder: an empty volume.
    r = await create_volume(client, member, 1, "3.46", backup_id=backup_id)
    assert r.status_code == 202 and r.json()["volume"]["status"] == "creating"
    r = await create_volume(client, member, 2, "3.47", backup_id="no-such-backup")
    assert r.status_code == 404


async def test_incremental_backups_need_a_parent_and_keep_it(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await register_backup_service(client, service)
    volume_id = await available_volume(client, member, service)
    r = await create_backup(client, member, volume_id, incremental=True)
    assert "No backups available to do an incremental backup" in fault(r, 400, "badRequest")
    full = await available_backup(client, member, service, volume_id)
    r = await create_backup(client, member, volume_id, incremental=True)
    assert r.status_code == 202, r.text
    child = r.json()["backup"]["id"]
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["payload"]["parent"]["id"] == full
    # The parent is the latest, and must be available: this one is still creating.
    r = await create_backup(client, member, volume_id, incremental=True)
    assert "parent backup must be available" in fault(r, 400, "badRequest")
    await finish(client, service, job)
    parent, shown = await show(client, member, full), await show(client, member, child)
    assert (parent["is_incremental"], parent["has_dependent_backups"]) == (False, True)
    assert (shown["is_incremental"], shown["has_dependent_backups"]) == (True, False)
    r = await client.get(f"/v3/{member.project_id}/backups/detail", headers=member.headers())
    flags = {b["id"]: b["has_dependent_backups"] for b in r.json()["backups"]}
    assert flags == {full: True, child: False}
    # The full backup stays while an incremental one builds on it (force or not).
    r = await client.delete(f"/v3/{member.project_id}/backups/{full}", headers=member.headers())
    assert "Incremental backups exist for this backup." in fault(r, 400, "badRequest")
    r = await client.post(
        f"/v3/{admin.project_id}/backups/{full}/action",
        json={"os-force_delete": {}},
        headers=admin.headers(),
    )
    assert "Incremental backups exist" in fault(r, 400, "badRequest")
    r = await client.delete(f"/v3/{member.project_id}/backups/{child}", headers=member.headers())
    assert r.status_code == 202
    await run_jobs(client, service, [BACKUP_HOST])
    assert (await show(client, member, full))["has_dependent_backups"] is False


async def test_export_and_import_a_backup_record(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    _, backup_id = await backed_up_volume(client, member, service)
    export = f"/v3/{admin.project_id}/backups/{backup_id}/export_record"
    r = await client.get(
        f"/v3/{member.project_id}/backups/{backup_id}/export_record", headers=member.headers()
    )
    assert r.status_code == 403
    r = await client.get(export, headers=admin.headers())
    assert r.status_code == 200, r.text
    record = r.json()["backup-record"]
    assert record["backup_service"] == "posix:/srv/backups"
    url = f"/v3/{admin.project_id}/backups/import_record"
    r = await client.post(url, json={"backup-record": record}, headers=admin.headers())
    assert "already exists" in fault(r, 400, "badRequest")
    r = await client.post(
        url,
        json={"backup-record": {**record, "backup_url": "bm90IGEgcmVjb3Jk"}},
        headers=admin.headers(),
    )
    assert "Can't parse backup record" in fault(r, 400, "badRequest")
    r = await client.post(url, json={"backup-record": record}, headers=member.headers())
    assert r.status_code == 403

    # The row is lost (another deployment, a restored database): the record brings it back.
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(delete(Backup).where(Backup.id == backup_id))
    r = await client.post(url, json={"backup-record": record}, headers=admin.headers())
    assert r.status_code == 201, r.text
    assert r.json()["backup"]["id"] == backup_id
    assert (await show(client, admin, backup_id))["status"] == "creating"
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["kind"] == "import_backup"
    assert job["payload"]["backup"]["id"] == backup_id
    await finish(client, service, job, result={"object_count": 3, "size_bytes": 2 << 30})
    shown = await show(client, admin, backup_id)
    assert (shown["status"], shown["object_count"], shown["size"]) == ("available", 3, 2)

    # Under another id (as tempest imports it): the data is found in its own folder.
    other_id = str(uuid.uuid4())
    data = json.loads(base64.b64decode(record["backup_url"]))
    renamed = base64.b64encode(json.dumps({**data, "id": other_id}).encode()).decode()
    r = await client.post(
        url, json={"backup-record": {**record, "backup_url": renamed}}, headers=admin.headers()
    )
    assert r.status_code == 201 and r.json()["backup"]["id"] == other_id, r.text
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["payload"]["backup"] == {
        "id": other_id,
        "container": "volumebackups",
        "volume_id": data["volume_id"],
        "folder": backup_id,
    }
    await finish(client, service, job)
    r = await client.get(
        f"/v3/{admin.project_id}/backups/{other_id}/export_record", headers=admin.headers()
    )
    assert json.loads(base64.b64decode(r.json()["backup-record"]["backup_url"]))["folder"] == (
        backup_id
    )
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(delete(Backup).where(Backup.id == other_id))

    # Data missing in the repository: the imported backup is in error, its quota back.
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(delete(Backup).where(Backup.id == backup_id))
        await session.execute(delete(Job).where(Job.resource_id == backup_id))
    r = await client.post(url, json={"backup-record": record}, headers=admin.headers())
    assert r.status_code == 201, r.text
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None
    why = f"backup {backup_id} has no manifest: it does not exist or never completed"
    await finish(client, service, job, ok=False, error=why)
    shown = await show(client, admin, backup_id)
    assert shown["status"] == "error" and why in shown["fail_reason"]
    async with app.state.runtime.sessionmaker() as session:
        assert (await session.scalars(select(Backup.id))).all() == [backup_id]
