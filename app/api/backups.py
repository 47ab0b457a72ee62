"""/v3/{project_id}/backups: create, list, show, delete, restore, the admin actions
os-reset_status and os-force_delete, and the admin's export and import of records."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select

from app.api.actions import action_policy, admin_action_policies, read_action
from app.api.common import (
    CallDep,
    ReadDep,
    iso,
    optional_str,
    parse_bool,
    self_links,
    v3_route,
)
from app.api.deps import ContextDep, SessionDep, min_version
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.listing import Listing, add_list_routes, columns, equal_filters, project_filter
from app.api.microversion import APIVersion
from app.api.policy import authorize, may
from app.api.schemas import backups as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import Backup, utcnow
from app.errors import BadRequest, Forbidden
from app.volumes.backups import flows, records, restore
from app.volumes.volumes import flows as vflows

router = APIRouter(tags=["backups"])

Getter = Annotated[RequestContext, may("backup:get")]
ACTION_POLICIES = admin_action_policies("backup")

# Microversions that change backups, as Cinder names them.
BACKUP_UPDATE = APIVersion(3, 9)
BACKUP_PROJECT = APIVersion(3, 18)
BACKUP_METADATA = APIVersion(3, 43)
BACKUP_AZ = APIVersion(3, 51)
BACKUP_PROJECT_USER_ID = APIVersion(3, 56)
# POST /volumes with backup_id.
VOLUME_CREATE_FROM_BACKUP = APIVersion(3, 47)

SORT_KEYS = columns(
    Backup,
    *("created_at", "updated_at", "id", "name", "status", "size", "volume_id"),
    *("availability_zone", "container"),
    display_name="name",
)
# The repository keeps a container as a folder name.
_CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def summary(request: Request, backup: Backup) -> dict[str, Any]:
    return {
        "id": backup.id,
        "name": backup.name,
        "links": self_links(request, backup.project_id, "backups", backup.id),
    }


# A backup's detail view (show and list detail), as Cinder's v3 backups view and
# controller give it. encryption_key_id (3.64) is left out: Cinder shows it only for
# the backup of an encrypted volume, and no volume is encrypted here.
ALWAYS = Field()
PROJECT_ATTRIBUTE = "backup:backup_project_attribute"
FIELDS = {
    "id": ALWAYS,
    "name": ALWAYS,
    "description": ALWAYS,
    "status": ALWAYS,
    "availability_zone": ALWAYS,
    "volume_id": ALWAYS,
    "snapshot_id": ALWAYS,
    "container": ALWAYS,
    "size": ALWAYS,
    "object_count": ALWAYS,
    "fail_reason": ALWAYS,
    "created_at": ALWAYS,
    "updated_at": ALWAYS,
    "data_timestamp": ALWAYS,
    "is_incremental": ALWAYS,
    "has_dependent_backups": ALWAYS,
    "links": ALWAYS,
    "os-backup-project-attr:project_id": Field(BACKUP_PROJECT, policy=PROJECT_ATTRIBUTE),
    "metadata": Field(BACKUP_METADATA),
    # Cinder adds it where it adds the project, under the same policy.
    "user_id": Field(BACKUP_PROJECT_USER_ID, policy=PROJECT_ATTRIBUTE),
}


def view(
    request: Request,
    backup: Backup,
    ctx: RequestContext,
    version: APIVersion,
    dependents: set[str],
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": backup.id,
        "name": backup.name,
        "description": backup.description,
        "status": backup.status,
        "availability_zone": backup.availability_zone,
        "volume_id": backup.volume_id,
        "snapshot_id": backup.snapshot_id,
        "container": backup.container,
        "size": backup.size,
        "object_count": backup.object_count,
        "fail_reason": backup.fail_reason,
        "created_at": iso(backup.created_at),
        "updated_at": iso(backup.updated_at),
        "data_timestamp": iso(backup.data_timestamp),
        "is_incremental": backup.is_incremental,
        # An incremental backup builds on it (and keeps it from being deleted).
        "has_dependent_backups": backup.id in dependents,
        "links": self_links(request, backup.project_id, "backups", backup.id),
        "os-backup-project-attr:project_id": backup.project_id,
        "metadata": dict(backup.backup_metadata or {}),
        "user_id": backup.user_id,
    }
    return select_fields(FIELDS, values, version, ctx)


def parse_create(body: dict[str, Any], version: APIVersion) -> flows.CreateBackup:
    allowed = {
        "volume_id",
        "container",
        "name",
        "description",
        "display_name",
        "display_description",
        "incremental",
        "force",
        "snapshot_id",
    }
    if version >= BACKUP_METADATA:
        allowed.add("metadata")
    if version >= BACKUP_AZ:
        allowed.add("availability_zone")
    extra = sorted(set(body) - allowed)
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute backup. Additional properties are not "
            f"allowed ({', '.join(repr(k) for k in extra)} were unexpected)"
        )
    volume_id = optional_str(body.get("volume_id"), "volume_id")
    if not volume_id:
        raise BadRequest(
            "Invalid input for field/attribute backup. 'volume_id' is a required property"
        )
    container = optional_str(body.get("container"), "container")
    if container is not None and (not _CONTAINER.match(container) or ".." in container):
        raise BadRequest(
            f"Invalid input for field/attribute container. Value: {container}. A container "
            "is a folder of the backup repository: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit."
        )
    metadata = body.get("metadata")
    return flows.CreateBackup(
        volume_id=volume_id,
        name=optional_str(body.get("name", body.get("display_name")), "name"),
        description=optional_str(
            body.get("description", body.get("display_description")), "description"
        ),
        container=container,
        incremental=parse_bool(body.get("incremental") or False, "incremental"),
        force=parse_bool(body.get("force") or False, "force"),
        snapshot_id=optional_str(body.get("snapshot_id"), "snapshot_id"),
        metadata=vflows.validate_metadata(metadata) if metadata is not None else {},
        availability_zone=optional_str(body.get("availability_zone"), "availability_zone"),
    )


def backup_source(body: dict[str, Any], version: APIVersion) -> str | None:
    """The backup a new volume is restored from (`backup_id`, 3.47; an older request's is
    ignored, as Cinder)."""
    if version < VOLUME_CREATE_FROM_BACKUP:
        return None
    return optional_str(body.get("backup_id"), "backup_id") or None


@v3_route(router, "POST", "/backups", **returns(S.BackupSummaryResponse, 202))
async def create_backup(
    payload: S.BackupCreateRequest,
    call: CallDep,
    ctx: Annotated[RequestContext, may("backup:create")],
) -> JSONResponse:
    spec = parse_create(payload.content, call.version)
    if call.project_id != ctx.project_id:
        raise Forbidden("Backups are created in the caller's own project.")
    backup, outcome = await flows.create(call.work.session, call.work.runtime, ctx, spec)
    call.work.after_commit(outcome)
    return JSONResponse({"backup": summary(call.request, backup)}, status_code=202)


LISTING = Listing("backups", flows.BACKUPS, SORT_KEYS)
EQUAL_FILTERS = columns(Backup, "name", "status", "volume_id", display_name="name")


async def _list(
    request: Request, ctx: RequestContext, session: SessionDep, version: APIVersion, detail: bool
) -> dict[str, Any]:
    def where(query: Select[Any], _tenants: bool) -> Select[Any]:
        query = equal_filters(query, request, EQUAL_FILTERS)
        return project_filter(query, request, ctx, Backup.project_id)

    async def render(items: list[Backup]) -> list[dict[str, Any]]:
        if not detail:
            return [summary(request, b) for b in items]
        dependents = await flows.dependents(session, [b.id for b in items])
        return [view(request, b, ctx, version, dependents) for b in items]

    return await LISTING.answer(request, ctx, session, version, where, render)


add_list_routes(
    router, "backups", "backup:get_all", (S.BackupListResponse, S.BackupDetailListResponse), _list
)


@v3_route(router, "GET", "/backups/{backup_id}", **returns(S.BackupResponse))
async def show_backup(backup_id: str, read: ReadDep, ctx: Getter) -> dict[str, Any]:
    backup = await flows.get(read.session, ctx, backup_id)
    dependents = await flows.dependents(read.session, [backup.id])
    return {"backup": view(read.request, backup, ctx, read.version, dependents)}


@v3_route(router, "PUT", "/backups/{backup_id}", **returns(S.BackupSummaryResponse))
async def update_backup(
    payload: S.BackupUpdateRequest,
    backup_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, may("backup:update")],
) -> dict[str, Any]:
    min_version(BACKUP_UPDATE, call.version)
    body = payload.content
    allowed = {"name", "description"} | ({"metadata"} if call.version >= BACKUP_METADATA else set())
    extra = sorted(set(body) - allowed)
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute backup. Additional properties are not "
            f"allowed ({', '.join(repr(k) for k in extra)} were unexpected)"
        )
    if not body:
        raise BadRequest("Invalid input for field/attribute backup: nothing to update.")
    backup = await flows.get(call.work.session, ctx, backup_id, for_update=True)
    for key in ("name", "description"):
        if key in body:
            setattr(backup, key, optional_str(body[key], key))
    if "metadata" in body:
        backup.backup_metadata = vflows.validate_metadata(body["metadata"])
    backup.updated_at = utcnow()
    # Cinder answers an update with the summary view.
    return {"backup": summary(call.request, backup)}


@v3_route(router, "DELETE", "/backups/{backup_id}", **no_body(202))
async def delete_backup(
    backup_id: str, call: CallDep, ctx: Annotated[RequestContext, may("backup:delete")]
) -> Response:
    backup = await flows.get(call.work.session, ctx, backup_id, for_update=True)
    outcome = await flows.delete(call.work.session, call.work.runtime, ctx, backup)
    call.work.after_commit(outcome)
    return Response(status_code=202)


@v3_route(router, "POST", "/backups/{backup_id}/action", **no_body(202))
async def backup_action(
    payload: S.BackupActionRequest, backup_id: str, call: CallDep, ctx: ContextDep
) -> Response:
    action, args = read_action(payload)
    policy = action_policy(ACTION_POLICIES, action)
    authorize(ctx, policy)
    session, runtime = call.work.session, call.work.runtime
    outcome = flows.Outcome()
    if action == "os-reset_status":
        backup = await flows.get(session, ctx, backup_id, for_update=True)
        await flows.reset_status(session, runtime, backup, args.get("status"))
    else:
        backup = await flows.lock_for_force(session, ctx, backup_id)
        outcome = await flows.delete(session, runtime, ctx, backup, force=True)
    call.work.after_commit(outcome)
    return Response(status_code=202)


@v3_route(router, "POST", "/backups/{backup_id}/restore", **returns(S.BackupRestoreResponse, 202))
async def restore_backup(
    payload: S.BackupRestoreRequest,
    backup_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, may("backup:restore")],
) -> JSONResponse:
    """Into the caller's available volume (`volume_id`), or a new volume (`name`)."""
    args = payload.raw.get("restore") or {}
    if not isinstance(args, dict):
        raise BadRequest("Invalid input for field/attribute restore: it must be an object.")
    done = await restore.restore(
        call.work.session,
        call.work.runtime,
        ctx,
        backup_id,
        volume_id=optional_str(args.get("volume_id"), "volume_id") or None,
        name=optional_str(args.get("name"), "name"),
    )
    call.work.after_commit(done.outcome)
    body = {"backup_id": done.backup.id, "volume_id": done.volume.id}
    return JSONResponse({"restore": {**body, "volume_name": done.volume.name}}, status_code=202)


@v3_route(router, "GET", "/backups/{backup_id}/export_record", **returns(S.BackupRecordResponse))
async def export_record(
    backup_id: str,
    read: ReadDep,
    ctx: Annotated[RequestContext, may("backup:export-import")],
) -> dict[str, Any]:
    backup = await flows.get(read.session, ctx, backup_id)
    return {"backup-record": await records.export_record(read.session, backup)}


@v3_route(router, "POST", "/backups/import_record", **returns(S.BackupSummaryResponse, 201))
async def import_record(
    payload: S.BackupImportRequest,
    call: CallDep,
    ctx: Annotated[RequestContext, may("backup:backup-import")],
) -> JSONResponse:
    """The backup of the record, `creating` until a backup service of its repository has
    read its manifest."""
    body = payload.content
    service = optional_str(body.get("backup_service"), "backup_service")
    url = optional_str(body.get("backup_url"), "backup_url", maximum=1 << 20)
    if not service or not url:
        raise BadRequest(
            "Invalid input for field/attribute backup-record. 'backup_service' and "
            "'backup_url' are required properties"
        )
    backup, outcome = await records.import_record(
        call.work.session, call.work.runtime, ctx, service, url
    )
    call.work.after_commit(outcome)
    return JSONResponse({"backup": summary(call.request, backup)}, status_code=201)
