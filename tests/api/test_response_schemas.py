"""Every Block Storage response carries exactly Cinder's fields at its microversion, for
an admin and for a project member: each body is validated against the JSON schema
OpenStack's conformance suite (tempest.lib.api_schema.response.volume) publishes for it,
picked by microversion as tempest's own clients pick it, and made strict
(additionalProperties false on every object that lists its properties).

Tempest's schemas list the fields a response may carry; where Cinder's field set at a
version is known exactly (the resources' views), the test also pins the set: the
schema's properties are cut to Cinder's fields at that version for that caller, and all
of them are required, so a field too many or missing fails. Where tempest is wrong or
looser than Cinder, a comment names the Cinder source the test follows instead."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import httpx
from sqlalchemy import delete
from tempest.lib.api_schema.response.volume import (
    capabilities,
    extensions,
    group_snapshots,
    group_types,
    groups,
    hosts,
    limits,
    manage_snapshot,
    manage_volume,
    messages,
    quotas,
    scheduler_stats,
    snapshots,
    versions,
    volume_types,
)
from tempest.lib.api_schema.response.volume import (
    volumes as volumes_base,
)
from tempest.lib.common.jsonschema_validator import FORMAT_CHECKER, JSONSCHEMA_VALIDATOR
from tempest.lib.services.volume.v3.backups_client import BackupsClient
from tempest.lib.services.volume.v3.services_client import ServicesClient
from tempest.lib.services.volume.v3.transfers_client import TransfersClient
from tempest.lib.services.volume.v3.volumes_client import VolumesClient

from app.api.microversion import APIVersion
from app.db.models import Backup
from tests.api.helpers import BACKUP_HOST, claim, finish, report, run_jobs
from tests.api.helpers import register_backup_service as register
from tests.conftest import Caller

BACKEND = "node1@file"
HOST = "node1@file#pool"
MAX = "3.71"

# --- schemas -------------------------------------------------------------------------------


def tempest_schema(client: type, version: str) -> ModuleType:
    """The schema module tempest's client validates a response at `version` with."""
    wanted = APIVersion.parse(version)
    for entry in client.schema_versions_info:  # type: ignore[attr-defined]
        low = APIVersion.parse(entry["min"]) if entry["min"] else None
        high = APIVersion.parse(entry["max"]) if entry["max"] else None
        if (low is None or low <= wanted) and (high is None or wanted <= high):
            module: ModuleType = entry["schema"]
            return module
    raise AssertionError(f"tempest has no schema for {version}")


def strict(schema: Any) -> Any:
    """A copy of `schema` where every object listing its properties allows no others
    (unless it already says what else it allows, as metadata maps do)."""
    schema = copy.deepcopy(schema)
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if (
                isinstance(item.get("properties"), dict)
                and "additionalProperties" not in item
                and "patternProperties" not in item
            ):
                item["additionalProperties"] = False
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return schema


def exactly(obj: dict[str, Any], fields: Iterable[str], **added: Any) -> dict[str, Any]:
    """An object schema with exactly `fields`, every one required: tempest's types for
    them, or `added` ones for fields tempest does not know (each with its reason)."""
    fields = set(fields)
    props = {**obj["properties"], **added}
    unknown = fields - props.keys()
    assert not unknown, f"no schema for {unknown}"
    return {
        **obj,
        "properties": {k: v for k, v in props.items() if k in fields},
        "required": sorted(fields),
        "additionalProperties": False,
    }


def check(response: httpx.Response, schema: dict[str, Any]) -> Any:
    """The response's status is the schema's and its body validates, strictly."""
    assert response.status_code in schema["status_code"], (response.status_code, response.text)
    if "response_body" not in schema:
        return None
    body = response.json()
    validator = JSONSCHEMA_VALIDATOR(strict(schema["response_body"]), format_checker=FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return body


def with_body(schema: dict[str, Any], key: str, obj: dict[str, Any]) -> dict[str, Any]:
    """`schema` whose body's `key` member is `obj`."""
    out = copy.deepcopy(schema)
    out["response_body"]["properties"][key] = obj
    return out


def with_items(schema: dict[str, Any], key: str, obj: dict[str, Any], **top: Any) -> dict[str, Any]:
    """`schema` whose body's `key` list holds `obj` items, plus top-level `top` fields."""
    out = copy.deepcopy(schema)
    out["response_body"]["properties"][key]["items"] = obj
    out["response_body"]["properties"].update(top)
    return out


def at_least(version: str, since: str) -> bool:
    return APIVersion.parse(version) >= APIVersion.parse(since)


# Fields tempest's schemas do not know, typed as Cinder returns them.
NULLABLE_STRING = {"type": ["string", "null"]}
# Cinder's _list_view adds `count` at the top of a list from 3.45 (with_count=true);
# tempest left it commented out, or (backups) put it in each item.
COUNT = {"type": "integer"}
# Tempest's backup metadata schema is {'^.+$': ...} with no keyword JSON Schema knows,
# so it accepts anything; Cinder's backup metadata is a string map.
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

# --- the world -----------------------------------------------------------------------------


async def volume_of(client: httpx.AsyncClient, caller: Caller, service: Caller) -> str:
    r = await client.post(
        f"/v3/{caller.project_id}/volumes",
        json={"volume": {"size": 1, "name": "v", "metadata": {"k": "v"}}},
        headers=caller.headers(),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [BACKEND])
    volume_id: str = r.json()["volume"]["id"]
    return volume_id


def url(caller: Caller, rest: str) -> str:
    return f"/v3/{caller.project_id}{rest}"


# --- volumes -------------------------------------------------------------------------------

VOLUME_VERSIONS = ("3.0", "3.12", "3.13", "3.21", "3.36", "3.45", "3.48", "3.60", "3.61")
VOLUME_VERSIONS_HIGH = ("3.63", "3.64", "3.65", "3.69", MAX)


def volume_fields(version: str, admin: bool, extended: bool) -> set[str]:
    """Cinder's volume detail view (cinder/api/v3/views/volumes.py legacy_detail and
    detail) and, on show and list detail only, the attributes of its extensions
    volume_tenant_attribute (project reader), volume_host_attribute and
    volume_mig_status_attribute (admin). encryption_key_id (3.64) shows only for an
    encrypted volume, volume_image_metadata only for one made from an image."""
    fields = {
        "id", "status", "size", "availability_zone", "created_at", "updated_at", "name",
        "description", "volume_type", "snapshot_id", "source_volid", "metadata", "links",
        "user_id", "bootable", "encrypted", "replication_status", "consistencygroup_id",
        "multiattach", "attachments",
    }  # fmt: skip
    if admin:
        fields.add("migration_status")
    if extended:
        fields.add("os-vol-tenant-attr:tenant_id")
        if admin:
            fields |= {
                "os-vol-host-attr:host",
                "os-vol-mig-status-attr:migstat",
                "os-vol-mig-status-attr:name_id",
            }
    gated = [
        ("3.13", "group_id", False),
        ("3.21", "provider_id", True),
        ("3.48", "shared_targets", False),
        ("3.48", "service_uuid", False),
        ("3.61", "cluster_name", True),
        ("3.63", "volume_type_id", False),
        ("3.65", "consumes_quota", False),
    ]
    for since, name, admin_only in gated:
        if at_least(version, since) and (admin or not admin_only):
            fields.add(name)
    return fields


def volume_schema(module: ModuleType, op: str) -> dict[str, Any]:
    """Tempest's schema of a volume in a response of `op`."""
    if op in ("create", "update"):
        # Tempest's client validates update with the 3.0 module whatever the version,
        # and its versioned modules copy update_volume from 3.0; Cinder's update answers
        # with the same detail view as create (cinder/api/v3/volumes.py update), so the
        # versioned create schema is the one that describes it.
        obj: dict[str, Any] = module.create_volume["response_body"]["properties"]["volume"]
        return obj
    return dict(module.common_show_volume)


async def test_volume_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    for caller, is_admin in ((member, False), (admin, True)):
        for version in VOLUME_VERSIONS + VOLUME_VERSIONS_HIGH:
            module = tempest_schema(VolumesClient, version)
            h = caller.headers(version)

            r = await client.post(
                url(caller, "/volumes"),
                json={"volume": {"size": 1, "name": "v", "metadata": {"k": "v"}}},
                headers=h,
            )
            created = volume_schema(module, "create")
            check(
                r,
                with_body(
                    module.create_volume,
                    "volume",
                    exactly(created, volume_fields(version, is_admin, extended=False)),
                ),
            )
            volume_id = r.json()["volume"]["id"]
            await run_jobs(client, service, [BACKEND])

            shown = volume_schema(module, "show")
            r = await client.get(url(caller, f"/volumes/{volume_id}"), headers=h)
            check(
                r,
                with_body(
                    module.show_volume,
                    "volume",
                    exactly(shown, volume_fields(version, is_admin, extended=True)),
                ),
            )
            r = await client.get(url(caller, "/volumes/detail"), headers=h)
            check(
                r,
                with_items(
                    module.list_volumes_with_detail,
                    "volumes",
                    exactly(shown, volume_fields(version, is_admin, extended=True)),
                ),
            )
            r = await client.put(
                url(caller, f"/volumes/{volume_id}"), json={"volume": {"name": "w"}}, headers=h
            )
            update = copy.deepcopy(module.create_volume)
            update["status_code"] = module.update_volume["status_code"]
            check(
                r,
                with_body(
                    update,
                    "volume",
                    exactly(created, volume_fields(version, is_admin, extended=False)),
                ),
            )

            r = await client.get(url(caller, "/volumes?with_count=true"), headers=h)
            listed = module.list_volumes_no_detail
            if at_least(version, "3.45"):
                listed = with_items(
                    listed, "volumes", listed["response_body"]["properties"]["volumes"]["items"],
                    count=COUNT,
                )  # fmt: skip
            body = check(r, listed)
            assert ("count" in body) == at_least(version, "3.45")

            r = await client.get(url(caller, "/volumes/summary"), headers=h)
            if not at_least(version, "3.12"):
                assert r.status_code == 404  # Cinder's VOLUME_SUMMARY
            else:
                summary = module.show_volume_summary
                obj = summary["response_body"]["properties"]["volume-summary"]
                # metadata from 3.36 (Cinder's VOLUME_SUMMARY_METADATA); tempest allows
                # it at every version.
                fields = {"total_size", "total_count"}
                if at_least(version, "3.36"):
                    fields.add("metadata")
                check(r, with_body(summary, "volume-summary", exactly(obj, fields)))

            base = url(caller, f"/volumes/{volume_id}/metadata")
            check(
                await client.post(base, json={"metadata": {"a": "1"}}, headers=h),
                module.create_volume_metadata,
            )
            check(await client.get(base, headers=h), module.show_volume_metadata)
            check(
                await client.put(base, json={"metadata": {"a": "2"}}, headers=h),
                module.update_volume_metadata,
            )
            check(
                await client.put(f"{base}/a", json={"meta": {"a": "3"}}, headers=h),
                module.update_volume_metadata_item,
            )
            check(await client.get(f"{base}/a", headers=h), volumes_base.show_volume_metadata_item)
            check(
                await client.delete(f"{base}/a", headers=h),
                volumes_base.delete_volume_metadata_item,
            )
            r = await client.post(
                url(caller, f"/volumes/{volume_id}/action"),
                json={"os-set_bootable": {"bootable": True}},
                headers=h,
            )
            check(r, module.set_bootable_volume)
            r = await client.post(
                url(caller, f"/volumes/{volume_id}/action"),
                json={"os-extend": {"new_size": 2}},
                headers=h,
            )
            check(r, module.extend_volume)
            await run_jobs(client, service, [BACKEND])
            check(await client.delete(url(caller, f"/volumes/{volume_id}"), headers=h),
                  module.delete_volume)  # fmt: skip
            await run_jobs(client, service, [BACKEND])


async def test_managed_volume_answer_is_cinders_base_view(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    """Cinder's volume_manage answers with the view builder's detail without the volumes
    controller's extensions, and with no field of a later microversion."""
    await report(client, service)
    for version in ("3.8", MAX):
        r = await client.post(
            url(admin, "/manageable_volumes"),
            json={"volume": {"host": HOST, "ref": {"source-name": f"old-{version}.img"}}},
            headers=admin.headers(version),
        )
        obj = manage_volume.manage_volume["response_body"]["properties"]["volume"]
        fields = volume_fields("3.0", admin=True, extended=False)
        check(r, with_body(manage_volume.manage_volume, "volume", exactly(obj, fields)))


# --- snapshots -----------------------------------------------------------------------------

SNAPSHOT_VERSIONS = ("3.0", "3.14", "3.41", "3.45", "3.65", MAX)


def snapshot_fields(version: str, *, detail: bool, extended: bool) -> set[str]:
    """Cinder's snapshot summary view (cinder/api/views/snapshots.py), its v3 detail
    (group_snapshot_id 3.14, user_id 3.41, consumes_quota 3.65: create, update, show,
    list detail) and the extended_snapshot_attributes extension (show, list detail)."""
    fields = {
        "id", "created_at", "updated_at", "name", "description", "volume_id", "status",
        "size", "metadata",
    }  # fmt: skip
    if detail:
        for since, name in (("3.14", "group_snapshot_id"), ("3.41", "user_id")):
            if at_least(version, since):
                fields.add(name)
        if at_least(version, "3.65"):
            fields.add("consumes_quota")
    if extended:
        fields |= {
            "os-extended-snapshot-attributes:progress",
            "os-extended-snapshot-attributes:project_id",
        }
    return fields


# Tempest's snapshot schemas stop at 3.0 (its TODO for user_id at 3.41).
SNAPSHOT_ADDED = {
    "group_snapshot_id": NULLABLE_STRING,
    "user_id": {"type": "string"},
    "consumes_quota": {"type": "boolean"},
}


async def test_snapshot_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    summary_obj = snapshots.common_snapshot_schema
    detail_obj = snapshots.common_snapshot_detail_schema
    for caller in (member, admin):
        volume_id = await volume_of(client, caller, service)
        for version in SNAPSHOT_VERSIONS:
            h = caller.headers(version)
            r = await client.post(
                url(caller, "/snapshots"),
                json={"snapshot": {"volume_id": volume_id, "metadata": {"k": "v"}}},
                headers=h,
            )
            fields = snapshot_fields(version, detail=True, extended=False)
            obj = exactly(summary_obj, fields, **SNAPSHOT_ADDED)
            check(r, with_body(snapshots.create_snapshot, "snapshot", obj))
            snapshot_id = r.json()["snapshot"]["id"]
            await run_jobs(client, service, [BACKEND])

            r = await client.put(
                url(caller, f"/snapshots/{snapshot_id}"),
                json={"snapshot": {"name": "s"}},
                headers=h,
            )
            check(r, with_body(snapshots.update_snapshot, "snapshot", obj))

            extended = exactly(
                detail_obj,
                snapshot_fields(version, detail=True, extended=True),
                **SNAPSHOT_ADDED,
            )
            r = await client.get(url(caller, f"/snapshots/{snapshot_id}"), headers=h)
            check(r, with_body(snapshots.show_snapshot, "snapshot", extended))
            r = await client.get(url(caller, "/snapshots/detail"), headers=h)
            check(r, with_items(snapshots.list_snapshots_with_detail, "snapshots", extended))

            summary = exactly(summary_obj, snapshot_fields(version, detail=False, extended=False))
            top = {"count": COUNT} if at_least(version, "3.45") else {}
            r = await client.get(url(caller, "/snapshots?with_count=true"), headers=h)
            body = check(
                r, with_items(snapshots.list_snapshots_no_detail, "snapshots", summary, **top)
            )
            assert ("count" in body) == at_least(version, "3.45")

            base = url(caller, f"/snapshots/{snapshot_id}/metadata")
            check(
                await client.post(base, json={"metadata": {"a": "1"}}, headers=h),
                snapshots.create_snapshot_metadata,
            )
            check(await client.get(base, headers=h), snapshots.show_snapshot_metadata)
            check(
                await client.put(base, json={"metadata": {"a": "2"}}, headers=h),
                snapshots.update_snapshot_metadata,
            )
            check(
                await client.put(f"{base}/a", json={"meta": {"a": "3"}}, headers=h),
                snapshots.update_snapshot_metadata_item,
            )
            check(await client.get(f"{base}/a", headers=h), snapshots.show_snapshot_metadata_item)
            check(
                await client.delete(f"{base}/a", headers=h),
                snapshots.delete_snapshot_metadata_item,
            )
            check(
                await client.delete(url(caller, f"/snapshots/{snapshot_id}"), headers=h),
                snapshots.delete_snapshot,
            )
            await run_jobs(client, service, [BACKEND])


async def test_managed_snapshot_answer_is_cinders_summary_view(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    """Cinder's snapshot_manage answers with the snapshots summary view at any version."""
    await report(client, service)
    volume_id = await volume_of(client, admin, service)
    for version in ("3.8", MAX):
        r = await client.post(
            url(admin, "/manageable_snapshots"),
            json={"snapshot": {"volume_id": volume_id, "ref": {"source-name": f"s-{version}"}}},
            headers=admin.headers(version),
        )
        schema = manage_snapshot.manage_snapshot
        obj = schema["response_body"]["properties"]["snapshot"]
        fields = snapshot_fields("3.0", detail=False, extended=False)
        check(r, with_body(schema, "snapshot", exactly(obj, fields)))


# --- backups -------------------------------------------------------------------------------

BACKUP_VERSIONS = ("3.0", "3.9", "3.18", "3.43", "3.45", "3.56", "3.63", "3.64", MAX)


def backup_fields(version: str, admin: bool) -> set[str]:
    """Cinder's backup detail view (cinder/api/views/backups.py, v3: metadata at 3.43),
    plus, on show and list detail, os-backup-project-attr:project_id (3.18) and user_id
    (3.56) for admins (backup:backup_project_attribute). encryption_key_id (3.64)
    shows only for the backup of an encrypted volume."""
    fields = {
        "id", "status", "size", "object_count", "availability_zone", "container",
        "created_at", "updated_at", "name", "description", "fail_reason", "volume_id",
        "links", "is_incremental", "has_dependent_backups", "snapshot_id", "data_timestamp",
    }  # fmt: skip
    if at_least(version, "3.43"):
        fields.add("metadata")
    if admin and at_least(version, "3.18"):
        fields.add("os-backup-project-attr:project_id")
    if admin and at_least(version, "3.56"):
        fields.add("user_id")
    return fields


async def test_backup_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (await register(client, service)).status_code == 200
    summary_fields = {"id", "name", "links"}
    for caller, is_admin in ((member, False), (admin, True)):
        volume_id = await volume_of(client, caller, service)
        for version in BACKUP_VERSIONS:
            module = tempest_schema(BackupsClient, version)
            h = caller.headers(version)
            r = await client.post(
                url(caller, "/backups"), json={"backup": {"volume_id": volume_id}}, headers=h
            )
            created = module.create_backup
            obj = created["response_body"]["properties"]["backup"]
            check(r, with_body(created, "backup", exactly(obj, summary_fields)))
            backup_id = r.json()["backup"]["id"]
            await run_jobs(client, service, [BACKUP_HOST])

            detail = exactly(
                module.common_show_backup, backup_fields(version, is_admin), metadata=STRING_MAP
            )
            r = await client.get(url(caller, f"/backups/{backup_id}"), headers=h)
            check(r, with_body(module.show_backup, "backup", detail))
            r = await client.get(url(caller, "/backups/detail"), headers=h)
            check(r, with_items(module.list_backups_with_detail, "backups", detail))

            listed = module.list_backups_no_detail
            item = exactly(
                listed["response_body"]["properties"]["backups"]["items"], summary_fields
            )
            top = {"count": COUNT} if at_least(version, "3.45") else {}
            r = await client.get(url(caller, "/backups?with_count=true"), headers=h)
            body = check(r, with_items(listed, "backups", item, **top))
            assert ("count" in body) == at_least(version, "3.45")

            if at_least(version, "3.9"):
                r = await client.put(
                    url(caller, f"/backups/{backup_id}"), json={"backup": {"name": "b"}}, headers=h
                )
                updated = module.update_backup
                obj = updated["response_body"]["properties"]["backup"]
                check(r, with_body(updated, "backup", exactly(obj, summary_fields)))
            check(
                await client.delete(url(caller, f"/backups/{backup_id}"), headers=h),
                module.delete_backup,
            )
            await run_jobs(client, service, [BACKUP_HOST])


async def test_backup_restore_and_record_responses_carry_cinder_fields(
    app: Any, client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (await register(client, service)).status_code == 200
    volume_id = await volume_of(client, admin, service)
    module = tempest_schema(BackupsClient, MAX)
    r = await client.post(
        url(admin, "/backups"), json={"backup": {"volume_id": volume_id}}, headers=admin.headers()
    )
    backup_id = r.json()["backup"]["id"]
    await run_jobs(client, service, [BACKUP_HOST])
    r = await client.post(
        url(admin, f"/backups/{backup_id}/restore"),
        json={"restore": {"name": "restored"}},
        headers=admin.headers(),
    )
    check(r, module.restore_backup)
    await run_jobs(client, service, [BACKUP_HOST])
    r = await client.get(url(admin, f"/backups/{backup_id}/export_record"), headers=admin.headers())
    record = check(r, module.export_backup)["backup-record"]
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(delete(Backup).where(Backup.id == backup_id))
    r = await client.post(
        url(admin, "/backups/import_record"),
        json={"backup-record": record},
        headers=admin.headers(),
    )
    check(r, module.import_backup)


# --- volume types --------------------------------------------------------------------------


async def test_volume_type_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller
) -> None:
    """Cinder's types view (cinder/api/v3/views/types.py) with qos_specs_id for admins on
    show and list; volume_type_access adds its attribute to show, list and create; an
    update answers with neither (Cinder's api-samples volume-type-update-response)."""
    h = admin.headers(MAX)
    base = {"id", "name", "is_public", "description", "extra_specs"}
    access = "os-volume-type-access:is_public"
    r = await client.post(
        url(admin, "/types"),
        json={"volume_type": {"name": "gold", "extra_specs": {"k": "v"}}},
        headers=h,
    )
    schema = volume_types.create_volume_type
    obj = schema["response_body"]["properties"]["volume_type"]
    check(r, with_body(schema, "volume_type", exactly(obj, base | {access})))
    type_id = r.json()["volume_type"]["id"]

    for caller, is_admin in ((member, False), (admin, True)):
        fields = base | {access} | ({"qos_specs_id"} if is_admin else set())
        shown = exactly(volume_types.common_show_volume_type, fields)
        for version in ("3.0", MAX):
            hc = caller.headers(version)
            r = await client.get(url(caller, f"/types/{type_id}"), headers=hc)
            check(r, with_body(volume_types.show_volume_type, "volume_type", shown))
            r = await client.get(url(caller, "/types"), headers=hc)
            check(r, with_items(volume_types.list_volume_types, "volume_types", shown))
            r = await client.get(url(caller, f"/types/{type_id}/extra_specs"), headers=hc)
            check(r, volume_types.list_volume_types_extra_specs)

    r = await client.put(
        url(admin, f"/types/{type_id}"), json={"volume_type": {"description": "d"}}, headers=h
    )
    schema = volume_types.update_volume_types
    obj = schema["response_body"]["properties"]["volume_type"]
    check(r, with_body(schema, "volume_type", exactly(obj, base)))

    specs = url(admin, f"/types/{type_id}/extra_specs")
    check(
        await client.post(specs, json={"extra_specs": {"a": "1"}}, headers=h),
        volume_types.create_volume_types_extra_specs,
    )
    check(await client.get(f"{specs}/a", headers=h), volume_types.show_volume_types_extra_specs)
    check(
        await client.put(f"{specs}/a", json={"a": "2"}, headers=h),
        volume_types.update_volume_type_extra_specs,
    )
    check(
        await client.delete(f"{specs}/a", headers=h), volume_types.delete_volume_types_extra_specs
    )

    r = await client.post(
        url(admin, "/types"),
        json={"volume_type": {"name": "private", access: False}},
        headers=h,
    )
    private = r.json()["volume_type"]["id"]
    r = await client.post(
        url(admin, f"/types/{private}/action"),
        json={"addProjectAccess": {"project": member.project_id}},
        headers=h,
    )
    check(r, volume_types.add_type_access)
    r = await client.get(url(admin, f"/types/{private}/os-volume-type-access"), headers=h)
    check(r, volume_types.list_type_access)
    check(await client.delete(url(admin, f"/types/{private}"), headers=h),
          volume_types.delete_volume_type)  # fmt: skip


# --- groups --------------------------------------------------------------------------------


def group_fields(version: str, admin: bool, list_volume: bool) -> set[str]:
    """Cinder's v3 groups view: group_snapshot_id and source_group_id (3.14), volumes
    when asked for (list_volume, 3.25), replication_status (3.38) and project_id (3.58)
    for admins (group:group_project_attribute)."""
    fields = {
        "id", "status", "availability_zone", "created_at", "name", "description",
        "group_type", "volume_types",
    }  # fmt: skip
    if at_least(version, "3.14"):
        fields |= {"group_snapshot_id", "source_group_id"}
    if list_volume and at_least(version, "3.25"):
        fields.add("volumes")
    if at_least(version, "3.38"):
        fields.add("replication_status")
    if admin and at_least(version, "3.58"):
        fields.add("project_id")
    return fields


async def test_group_and_group_type_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    h = admin.headers("3.11")
    r = await client.post(
        url(admin, "/group_types"),
        json={"group_type": {"name": "gt", "group_specs": {"a": "1"}}},
        headers=h,
    )
    # Group specs are shown to admins only (Cinder's group:access_group_types_specs).
    admin_type = exactly(
        group_types.common_show_group_type,
        {"id", "name", "description", "is_public", "group_specs"},
    )
    member_type = exactly(
        group_types.common_show_group_type, {"id", "name", "description", "is_public"}
    )
    check(r, with_body(group_types.create_group_type, "group_type", admin_type))
    gtype = r.json()["group_type"]["id"]
    for caller, obj in ((member, member_type), (admin, admin_type)):
        r = await client.get(url(caller, f"/group_types/{gtype}"), headers=caller.headers("3.11"))
        check(r, with_body(group_types.show_group_type, "group_type", obj))
        r = await client.get(url(caller, "/group_types"), headers=caller.headers(MAX))
        check(r, with_items(group_types.list_group_types, "group_types", obj))
    r = await client.put(
        url(admin, f"/group_types/{gtype}"), json={"group_type": {"description": "d"}}, headers=h
    )
    check(r, with_body(group_types.update_group_type, "group_type", admin_type))
    specs = url(admin, f"/group_types/{gtype}/group_specs")
    check(
        await client.post(specs, json={"group_specs": {"b": "2"}}, headers=h),
        group_types.create_or_update_group_type_specs,
    )
    check(await client.get(specs, headers=h), group_types.list_group_type_specs)
    check(await client.get(f"{specs}/b", headers=h), group_types.show_group_type_specs_item)
    check(
        await client.put(f"{specs}/b", json={"b": "3"}, headers=h),
        group_types.update_group_type_specs_item,
    )
    check(await client.delete(f"{specs}/b", headers=h), group_types.delete_group_type_specs_item)

    # Cinder's groups view gives project_id (3.58) to admins; tempest does not know it.
    added = {"project_id": {"type": "string"}}
    detail = groups.show_group["response_body"]["properties"]["group"]
    for caller, is_admin in ((member, False), (admin, True)):
        r = await client.post(
            url(caller, "/groups"),
            json={"group": {"group_type": gtype, "volume_types": ["__DEFAULT__"], "name": "g"}},
            headers=caller.headers("3.13"),
        )
        check(r, groups.create_group)
        group_id = r.json()["group"]["id"]
        for version in ("3.13", "3.14", "3.25", "3.38", "3.58", MAX):
            hc = caller.headers(version)
            for list_volume in (False, True):
                query = "?list_volume=true" if list_volume else ""
                obj = exactly(detail, group_fields(version, is_admin, list_volume), **added)
                r = await client.get(url(caller, f"/groups/{group_id}{query}"), headers=hc)
                check(r, with_body(groups.show_group, "group", obj))
                r = await client.get(url(caller, f"/groups/detail{query}"), headers=hc)
                check(r, with_items(groups.list_groups_with_detail, "groups", obj))
            r = await client.get(url(caller, "/groups"), headers=hc)
            check(r, groups.list_groups_no_detail)


async def test_group_snapshot_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    """Cinder's group snapshot views (cinder/api/v3/views/group_snapshots.py): a create
    answers with the summary and its group_type_id, a list's summary drops it
    (group_snapshots.py _get_group_snapshots); project_id (3.58) to admins only
    (group:group_snapshot_project_attribute), which tempest does not know."""
    await report(client, service)
    body = {"group_type": {"name": "gt"}}
    r = await client.post(url(admin, "/group_types"), json=body, headers=admin.headers("3.11"))
    gtype = r.json()["group_type"]["id"]
    r = await client.post(
        url(member, "/groups"),
        json={"group": {"group_type": gtype, "volume_types": ["__DEFAULT__"], "name": "g"}},
        headers=member.headers("3.13"),
    )
    group_id = r.json()["group"]["id"]
    r = await client.post(
        url(member, "/volumes"),
        json={"volume": {"size": 1, "group_id": group_id}},
        headers=member.headers("3.13"),
    )
    assert r.status_code == 202, r.text
    await run_jobs(client, service, [BACKEND])
    r = await client.post(
        url(member, "/group_snapshots"),
        json={"group_snapshot": {"group_id": group_id, "name": "gs"}},
        headers=member.headers("3.14"),
    )
    check(r, group_snapshots.create_group_snapshot)
    gs_id = r.json()["group_snapshot"]["id"]
    await run_jobs(client, service, [BACKEND])
    detail = group_snapshots.common_show_group_snapshot
    added = {"project_id": {"type": "string"}}
    for caller, is_admin in ((member, False), (admin, True)):
        for version in ("3.14", "3.19", "3.29", "3.58", MAX):
            fields = set(detail["properties"])
            if is_admin and at_least(version, "3.58"):
                fields.add("project_id")
            obj = exactly(detail, fields, **added)
            h = caller.headers(version)
            r = await client.get(url(caller, f"/group_snapshots/{gs_id}"), headers=h)
            check(r, with_body(group_snapshots.show_group_snapshot, "group_snapshot", obj))
            query = "?all_tenants=1" if is_admin else ""
            r = await client.get(url(caller, f"/group_snapshots/detail{query}"), headers=h)
            schema = group_snapshots.list_group_snapshots_with_detail
            body = check(r, with_items(schema, "group_snapshots", obj))
            assert [g["id"] for g in body["group_snapshots"]] == [gs_id]
            r = await client.get(url(caller, f"/group_snapshots{query}"), headers=h)
            check(r, group_snapshots.list_group_snapshots_no_detail)
    r = await client.post(
        url(admin, f"/group_snapshots/{gs_id}/action"),
        json={"reset_status": {"status": "available"}},
        headers=admin.headers("3.19"),
    )
    check(r, group_snapshots.reset_group_snapshot_status)
    h = member.headers("3.14")
    r = await client.delete(url(member, f"/group_snapshots/{gs_id}"), headers=h)
    check(r, group_snapshots.delete_group_snapshot)


# --- services, pools, capabilities ---------------------------------------------------------


async def test_service_pool_and_capability_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    assert (await register(client, service)).status_code == 200
    for version in ("3.0", "3.6", "3.7", "3.48", "3.49", MAX):
        module = tempest_schema(ServicesClient, version)
        r = await client.get(url(admin, "/os-services"), headers=admin.headers(version))
        body = check(r, module.list_services)
        # Cinder's os-services index: the replication fields and frozen belong to
        # cinder-volume services, and so does backend_state, from 3.49; cluster from 3.7.
        volume_only = {"replication_status", "active_backend_id", "frozen"}
        if at_least(version, "3.49"):
            volume_only.add("backend_state")
        common = {"binary", "host", "zone", "status", "state", "updated_at", "disabled_reason"}
        if at_least(version, "3.7"):
            common.add("cluster")
        by_binary = {s["binary"]: set(s) for s in body["services"]}
        assert by_binary == {"cinder-volume": common | volume_only, "cinder-backup": common}

    # Cinder returns every capability a driver reports: tempest's capability properties
    # are examples, not a closed set, so that object stays open.
    detail = copy.deepcopy(scheduler_stats.get_pools_with_detail)
    pool = detail["response_body"]["properties"]["pools"]["items"]
    pool["properties"]["capabilities"]["additionalProperties"] = True
    h = admin.headers(MAX)
    r = await client.get(url(admin, "/scheduler-stats/get_pools"), headers=h)
    check(r, scheduler_stats.get_pools_no_detail)
    r = await client.get(url(admin, "/scheduler-stats/get_pools?detail=true"), headers=h)
    check(r, detail)

    # Tempest lists the per-capability schema under 'properties' with the key '^.+$',
    # where it means patternProperties: each property is {type, description, title}.
    schema = copy.deepcopy(capabilities.show_backend_capabilities)
    props = schema["response_body"]["properties"]["properties"]
    props["patternProperties"] = props.pop("properties")
    r = await client.get(url(admin, f"/capabilities/{BACKEND}"), headers=h)
    check(r, schema)


# --- quotas, limits, messages, versions ----------------------------------------------------


async def test_quota_limit_and_message_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    await report(client, service)
    target = url(member, f"/os-quota-sets/{member.project_id}")
    check(await client.get(target, headers=member.headers()), quotas.show_quota_set)
    body = check(
        await client.get(f"{target}?usage=true", headers=member.headers()),
        quotas.show_quota_set_usage,
    )
    # Cinder's DbQuotaDriver gives limit, in_use and reserved; tempest also allows
    # 'allocated', which only Cinder's removed nested-quota driver gave.
    usages = [v for k, v in body["quota_set"].items() if k != "id"]
    assert usages and all(set(v) == {"limit", "in_use", "reserved"} for v in usages)
    check(
        await client.get(f"{target}/defaults", headers=member.headers()),
        quotas.show_quota_set,
    )
    admin_target = url(admin, f"/os-quota-sets/{member.project_id}")
    r = await client.put(admin_target, json={"quota_set": {"volumes": 20}}, headers=admin.headers())
    check(r, quotas.update_quota_set)
    check(await client.delete(admin_target, headers=admin.headers()), quotas.delete_quota_set)

    for caller in (member, admin):
        check(
            await client.get(url(caller, "/limits"), headers=caller.headers()), limits.show_limits
        )

    r = await client.post(
        url(member, "/volumes"), json={"volume": {"size": 1}}, headers=member.headers()
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, [BACKEND])
    assert job is not None
    assert (await finish(client, service, job, ok=False, error="disk on fire")).status_code == 200
    for caller in (member, admin):
        h = caller.headers("3.3")
        listed = check(
            await client.get(url(caller, "/messages"), headers=h), messages.list_messages
        )
        message_id = listed["messages"][0]["id"]
        check(
            await client.get(url(caller, f"/messages/{message_id}"), headers=h),
            messages.show_message,
        )
    r = await client.delete(url(member, f"/messages/{message_id}"), headers=member.headers("3.3"))
    check(r, messages.delete_message)


async def test_version_documents_carry_cinder_fields(client: httpx.AsyncClient) -> None:
    check(await client.get("/"), versions.list_versions)
    check(await client.get("/v3/"), versions.volume_api_version_details)


async def test_host_and_extension_responses_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    await report(client, service, host="node1@file")
    await volume_of(client, admin, service)
    check(await client.get(url(admin, "/os-hosts"), headers=admin.headers()), hosts.list_hosts)
    check(
        await client.get(url(admin, "/os-hosts/node1@file"), headers=admin.headers()),
        hosts.show_host,
    )
    for version in ("3.0", "3.71"):
        check(
            await client.get(url(admin, "/extensions"), headers=admin.headers(version)),
            extensions.list_extensions,
        )


async def test_volume_actions_answer_cinders_status_codes(
    client: httpx.AsyncClient, admin: Caller, service: Caller
) -> None:
    volume_id = await volume_of(client, admin, service)
    action = url(admin, f"/volumes/{volume_id}/action")
    for body, schema in (
        ({"os-set_bootable": {"bootable": True}}, volumes_base.set_bootable_volume),
        ({"os-update_readonly_flag": {"readonly": True}}, volumes_base.update_volume_readonly),
        ({"os-reset_status": {"status": "available"}}, volumes_base.reset_volume_status),
        ({"os-extend": {"new_size": 2}}, volumes_base.extend_volume),
    ):
        check(await client.post(action, json=body, headers=admin.headers()), schema)


async def test_attach_actions_and_a_volume_attachments_carry_cinder_fields(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    """The older attach protocol's actions answer Cinder's codes, and an attached
    volume lists its attachment with exactly the fields of Cinder's volume view."""
    await report(client, service)
    volume_id = await volume_of(client, member, service)
    action = url(member, f"/volumes/{volume_id}/action")
    server = "0b5e5a3c-0000-4000-8000-000000000001"
    for body, schema in (
        ({"os-reserve": None}, volumes_base.reserve_volume),
        ({"os-unreserve": None}, volumes_base.unreserve_volume),
        ({"os-reserve": None}, volumes_base.reserve_volume),
        (
            {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}},
            volumes_base.attach_volume,
        ),
    ):
        check(await client.post(action, json=body, headers=member.headers()), schema)
    for version in ("3.0", MAX):
        module = tempest_schema(VolumesClient, version)
        r = await client.get(url(member, f"/volumes/{volume_id}"), headers=member.headers(version))
        shown = volume_schema(module, "show")
        body = check(
            r,
            with_body(
                module.show_volume,
                "volume",
                exactly(shown, volume_fields(version, False, extended=True)),
            ),
        )
        [attachment] = body["volume"]["attachments"]
        assert attachment["server_id"] == server and attachment["device"] == "/dev/vdb"
    attachment_id = attachment["attachment_id"]
    check(
        await client.post(
            action, json={"os-detach": {"attachment_id": attachment_id}}, headers=member.headers()
        ),
        volumes_base.detach_volume,
    )


async def test_volumes_made_from_a_snapshot_or_a_volume_answer_cinders_create_view(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    """A create from `snapshot_id` or `source_volid` answers tempest's create schema
    (the source's id set); revert answers 202 without a body, as tempest's client
    expects (it has no schema for it)."""
    await report(client, service)
    for caller, is_admin in ((member, False), (admin, True)):
        source_id = await volume_of(client, caller, service)
        r = await client.post(
            url(caller, "/snapshots"),
            json={"snapshot": {"volume_id": source_id}},
            headers=caller.headers(),
        )
        snapshot_id = r.json()["snapshot"]["id"]
        await run_jobs(client, service, [BACKEND])
        for version in ("3.0", "3.40", MAX):
            module = tempest_schema(VolumesClient, version)
            schema = with_body(
                module.create_volume,
                "volume",
                exactly(
                    volume_schema(module, "create"),
                    volume_fields(version, is_admin, extended=False),
                ),
            )
            for source in ({"snapshot_id": snapshot_id}, {"source_volid": source_id}):
                r = await client.post(
                    url(caller, "/volumes"),
                    json={"volume": {"name": "copy", **source}},
                    headers=caller.headers(version),
                )
                body = check(r, schema)["volume"]
                assert {k: body[k] for k in source} == source
                await run_jobs(client, service, [BACKEND])
        r = await client.post(
            url(caller, f"/volumes/{source_id}/action"),
            json={"revert": {"snapshot_id": snapshot_id}},
            headers=caller.headers("3.40"),
        )
        assert (r.status_code, r.content) == (202, b"")
        await run_jobs(client, service, [BACKEND])


# --- transfers -----------------------------------------------------------------------------


def transfer_fields(version: str, path: str, op: str) -> set[str]:
    """Cinder's transfer views (cinder/api/views/transfers.py; the v3 controller's
    no_snapshots from 3.55 and history from 3.57 on /volume-transfers only): summary on
    list and accept, detail on show and list detail, detail and auth_key on create."""
    if op in ("list", "accept"):
        return {"id", "name", "volume_id", "links"}
    fields = {"id", "name", "volume_id", "links", "created_at"}
    if op == "create":
        fields.add("auth_key")
    if path == "volume-transfers" and at_least(version, "3.55"):
        fields.add("no_snapshots")
    if path == "volume-transfers" and at_least(version, "3.57"):
        fields |= {"source_project_id", "destination_project_id", "accepted"}
    return fields


def transfer_schema(
    module: ModuleType, name: str, fields: set[str], key: str = "transfer"
) -> dict[str, Any]:
    """Tempest's schema `name` of `module`, its transfer (or list items) pinned to
    exactly `fields`."""
    whole: dict[str, Any] = getattr(module, name)
    body = whole["response_body"]["properties"][key]
    pinned = exactly(body["items"] if key == "transfers" else body, fields)
    if key == "transfers":
        return with_items(whole, key, pinned)
    return with_body(whole, key, pinned)


async def test_transfer_responses_carry_cinder_fields(
    client: httpx.AsyncClient, make_caller: Any, member: Caller, service: Caller
) -> None:
    await report(client, service)
    taker: Caller = await make_caller("taker", ("member",))
    for path, version in (
        ("os-volume-transfer", "3.0"),
        ("os-volume-transfer", MAX),
        ("volume-transfers", "3.55"),
        ("volume-transfers", MAX),
    ):
        module = tempest_schema(TransfersClient, version)
        fields = {
            op: transfer_fields(version, path, op)
            for op in ("create", "show", "list", "detail", "accept")
        }
        base, headers = url(member, f"/{path}"), member.headers(version)
        volume_id = await volume_of(client, member, service)
        r = await client.post(
            base, json={"transfer": {"volume_id": volume_id, "name": "t"}}, headers=headers
        )
        created = check(r, transfer_schema(module, "create_volume_transfer", fields["create"]))[
            "transfer"
        ]
        r = await client.get(f"{base}/{created['id']}", headers=headers)
        check(r, transfer_schema(module, "show_volume_transfer", fields["show"]))
        r = await client.get(base, headers=headers)
        name = "list_volume_transfers_no_detail"
        check(r, transfer_schema(module, name, fields["list"], "transfers"))
        r = await client.get(f"{base}/detail", headers=headers)
        name = "list_volume_transfers_with_detail"
        check(r, transfer_schema(module, name, fields["detail"], "transfers"))
        r = await client.post(
            url(taker, f"/{path}/{created['id']}/accept"),
            json={"accept": {"auth_key": created["auth_key"]}},
            headers=taker.headers(version),
        )
        check(r, transfer_schema(module, "accept_volume_transfer", fields["accept"]))
        # A transfer cancelled: 202 and no body.
        volume_id = await volume_of(client, member, service)
        r = await client.post(base, json={"transfer": {"volume_id": volume_id}}, headers=headers)
        r = await client.delete(f"{base}/{r.json()['transfer']['id']}", headers=headers)
        check(r, module.delete_volume_transfer)
