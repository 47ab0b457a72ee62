"""/v3/{project_id}/volumes: create, list, show, update, delete, metadata, actions."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select, select

from app.api import backups as backups_api
from app.api import microversion as mv
from app.api.actions import action_policy, admin_action_policies, read_action
from app.api.common import (
    UrlProject,
    all_tenants,
    iso,
    optional_str,
    parse_bool,
    parse_int,
    self_links,
    v3_route,
)
from app.api.deps import (
    ContextDep,
    FirstReportsDep,
    RuntimeDep,
    SessionDep,
    VersionDep,
    WorkDep,
    min_version,
    request_work,
)
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.listing import Listing, add_list_routes, columns, equal_filters, metadata_filter
from app.api.metadata import MetadataPolicies, add_metadata_routes
from app.api.microversion import APIVersion
from app.api.policy import POLICIES, Rule, authorize, may
from app.api.schemas import volumes as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import Volume, VolumeAttachment, VolumeMetadata, VolumeType
from app.errors import BadRequest, Forbidden
from app.volumes.attachments import connect
from app.volumes.attachments import flows as attachment_flows
from app.volumes.backups import flows as backup_flows
from app.volumes.backups import restore as backup_restore
from app.volumes.kernel.states import VolumeStatus
from app.volumes.kernel.work import UnitOfWork
from app.volumes.volumes import deletion, extend, flows, revert, sources, unmanage
from app.volumes.volumes import migrate as migration

router = APIRouter(tags=["volumes"])

Getter = Annotated[RequestContext, may("volume:get")]
Lister = Annotated[RequestContext, may("volume:get_all")]
# Each action's policy (Cinder's volume_actions and volume_admin_actions); os-set_bootable
# is an update of the volume.
ACTION_POLICIES = {
    "os-extend": "volume:extend",
    "os-retype": "volume:retype",
    "os-migrate_volume": "volume_extension:volume_admin_actions:migrate_volume",
    "os-extend_volume_completion": "volume:extend_volume_completion",
    "os-set_bootable": "volume:update",
    "os-update_readonly_flag": "volume:update_readonly_flag",
    **{
        f"os-{action}": f"volume_extension:volume_actions:{action}"
        for action in (
            "reserve",
            "unreserve",
            "begin_detaching",
            "roll_detaching",
            "initialize_connection",
            "terminate_connection",
            "attach",
            "detach",
        )
    },
    "os-force_detach": "volume_extension:volume_admin_actions:force_detach",
    **admin_action_policies("volume"),
    "revert": "volume:revert_to_snapshot",
    "os-unmanage": "volume_extension:volume_unmanage",
}
# Cinder's GROUP_VOLUME_LIST: the group_id filter of volume lists.
GROUP_VOLUME_LIST = APIVersion(3, 10)
# Cinder's VOLUME_SUMMARY (the endpoint) and VOLUME_SUMMARY_METADATA (its metadata).
VOLUME_SUMMARY = APIVersion(3, 12)
VOLUME_SUMMARY_METADATA = APIVersion(3, 36)
# Cinder's VOLUME_EXTEND_INUSE: os-extend of an in-use volume.
VOLUME_EXTEND_INUSE = APIVersion(3, 42)
# Cinder's VOLUME_REVERT: the revert action (to the volume's latest snapshot).
VOLUME_REVERT = APIVersion(3, 40)

SORT_KEYS = columns(
    Volume,
    *("created_at", "updated_at", "id", "name", "size", "status", "availability_zone"),
    "volume_type_id",
    display_name="name",
)
UNSUPPORTED_SOURCES = {
    "imageRef": "an image",
}


# A volume's fields as Cinder's detail view gives them (cinder/api/v3/views/volumes.py),
# plus the attributes its extensions add to show and list (volume_tenant_attribute,
# volume_host_attribute, volume_mig_status_attribute), never to create or update.
# encryption_key_id (3.64) is left out: Cinder shows it only for an encrypted volume,
# and volume_image_metadata only for one made from an image; there are neither here.
ALWAYS = Field()
# migration_status, provider_id and cluster_name: Cinder's view asks is_admin itself.
ADMIN = Field(admin=True)
# The extensions' attributes: each extension's policy decides.
MIGRATION = Field(policy="volume_extension:volume_mig_status_attribute")
FIELDS = {
    "id": ALWAYS,
    "name": ALWAYS,
    "description": ALWAYS,
    "size": ALWAYS,
    "status": ALWAYS,
    "availability_zone": ALWAYS,
    "bootable": ALWAYS,
    "encrypted": ALWAYS,
    "multiattach": ALWAYS,
    "volume_type": ALWAYS,
    "snapshot_id": ALWAYS,
    "source_volid": ALWAYS,
    "metadata": ALWAYS,
    "links": ALWAYS,
    "user_id": ALWAYS,
    "created_at": ALWAYS,
    "updated_at": ALWAYS,
    "attachments": ALWAYS,
    "replication_status": ALWAYS,
    "consistencygroup_id": ALWAYS,
    "migration_status": ADMIN,
    "os-vol-tenant-attr:tenant_id": Field(policy="volume_extension:volume_tenant_attribute"),
    "os-vol-host-attr:host": Field(policy="volume_extension:volume_host_attribute"),
    "os-vol-mig-status-attr:migstat": MIGRATION,
    "os-vol-mig-status-attr:name_id": MIGRATION,
    "group_id": Field(mv.GROUP_VOLUME),
    "provider_id": Field(mv.VOLUME_DETAIL_PROVIDER_ID, admin=True),
    "shared_targets": Field(mv.VOLUME_SHARED_TARGETS),
    "service_uuid": Field(mv.VOLUME_SHARED_TARGETS),
    "cluster_name": Field(mv.VOLUME_CLUSTER_NAME, admin=True),
    "volume_type_id": Field(mv.VOLUME_TYPE_ID_IN_VOLUME_DETAIL),
    "consumes_quota": Field(mv.USE_QUOTA),
}


def view(
    request: Request,
    volume: Volume,
    vtype_name: str | None,
    ctx: RequestContext,
    version: APIVersion,
    *,
    extended: bool,
) -> dict[str, Any]:
    """The detail view; `extended` (show and list) adds the extensions' attributes."""
    values: dict[str, Any] = {
        "id": volume.id,
        "name": volume.name,
        "description": volume.description,
        "size": volume.size,
        "status": volume.status,
        "availability_zone": volume.availability_zone,
        "bootable": "true" if volume.bootable else "false",
        "encrypted": False,
        "multiattach": volume.multiattach,
        "volume_type": vtype_name,
        "snapshot_id": volume.snapshot_id,
        "source_volid": volume.source_volid,
        "metadata": {m.key: m.value for m in volume.volume_metadata},
        "links": self_links(request, volume.project_id, "volumes", volume.id),
        "user_id": volume.user_id,
        "created_at": iso(volume.created_at),
        "updated_at": iso(volume.updated_at),
        "attachments": [
            attachment_item(a) for a in volume.attachments if a.attach_status == "attached"
        ],
        "replication_status": None,
        "consistencygroup_id": None,
        "migration_status": volume.migration_status,
        "group_id": volume.group_id,
        "provider_id": None,
        "shared_targets": False,
        "service_uuid": None,
        "cluster_name": None,
        "volume_type_id": volume.volume_type_id,
        "consumes_quota": True,
    }
    if extended:
        values["os-vol-tenant-attr:tenant_id"] = volume.project_id
        values["os-vol-host-attr:host"] = volume.host
        values["os-vol-mig-status-attr:migstat"] = volume.migration_status
        # The volume keeps its id (and file name) on every backend: no name_id.
        values["os-vol-mig-status-attr:name_id"] = None
    return select_fields(FIELDS, values, version, ctx)


def attachment_item(attachment: VolumeAttachment) -> dict[str, Any]:
    """An attachment as the volume lists it (Cinder's volume view)."""
    return {
        "id": attachment.volume_id,
        "attachment_id": attachment.id,
        "volume_id": attachment.volume_id,
        "server_id": attachment.instance_uuid,
        "host_name": attachment.attached_host,
        "device": attachment.mountpoint,
        "attached_at": iso(attachment.attach_time),
    }


async def _type_names(session: SessionDep, volumes: list[Volume]) -> dict[str, str]:
    ids = {v.volume_type_id for v in volumes}
    if not ids:
        return {}
    rows = await session.execute(
        select(VolumeType.id, VolumeType.name).where(VolumeType.id.in_(ids))
    )
    return {i: n for i, n in rows}


def parse_create(body: dict[str, Any], hints: Any) -> flows.CreateVolume:
    for key, what in UNSUPPORTED_SOURCES.items():
        if body.get(key) is not None:
            raise BadRequest(
                f"Creating a volume from {what} ({key}) is not supported by this release."
            )
    # A volume made from a snapshot or another volume takes its source's size by
    # default (size 0 below: "the source's", app/volumes/volumes/sources.py).
    sourced = any(body.get(key) is not None for key in sources.SOURCE_KEYS)
    if body.get("size") is None and sourced:
        body = {**body, "size": 0}
    if "size" not in body:
        raise BadRequest("Invalid input for field/attribute volume. 'size' is a required property")
    metadata = body.get("metadata")
    if hints is not None and not isinstance(hints, dict):
        raise BadRequest("OS-SCH-HNT:scheduler_hints must be an object.")
    zone = optional_str(body.get("availability_zone"), "availability_zone")
    return flows.CreateVolume(
        size=parse_int(body["size"], "size", minimum=0 if sourced else 1),
        name=optional_str(body.get("name", body.get("display_name")), "name"),
        description=optional_str(
            body.get("description", body.get("display_description")), "description", maximum=65535
        ),
        volume_type=optional_str(body.get("volume_type"), "volume_type"),
        availability_zone=zone or None,
        metadata=flows.validate_metadata(metadata) if metadata is not None else {},
        multiattach=parse_bool(body.get("multiattach") or False, "multiattach"),
        scheduler_hints=hints or {},
    )


@v3_route(router, "POST", "/volumes", **returns(S.VolumeResponse, 202))
async def create_volume(
    request: Request,
    payload: S.VolumeCreateRequest,
    project_id: UrlProject,
    ctx: Annotated[RequestContext, may("volume:create")],
    placeable: FirstReportsDep,
    work: WorkDep,
    version: VersionDep,
) -> JSONResponse:
    body = payload.content
    backup_id = backups_api.backup_source(body, version)
    if backup_id is not None and body.get("size") is None:
        # Cinder: the backup's size when none is given.
        body = {**body, "size": (await backup_flows.get(work.session, ctx, backup_id)).size}
    spec = parse_create(body, payload.raw.get("OS-SCH-HNT:scheduler_hints"))
    if version >= mv.GROUP_VOLUME and body.get("group_id") is not None:
        group_id = optional_str(body["group_id"], "group_id")
        spec = dataclasses.replace(spec, group_id=group_id)
    if project_id != ctx.project_id:
        raise Forbidden("Volumes are created in the caller's own project.")
    source = sources.source_of(body)
    if backup_id is not None and source is not None:
        raise BadRequest(
            "Invalid input received: a volume is made from at most one source, not from "
            f"backup_id and {source.key}."
        )
    if backup_id is not None:
        volume, outcome = await backup_restore.create_volume(
            work.session, work.runtime, ctx, spec, backup_id
        )
    elif source is not None:
        volume, outcome = await sources.create_from(work.session, work.runtime, ctx, spec, source)
    else:
        volume, outcome = await flows.create(work.session, work.runtime, ctx, spec)
    work.after_commit(outcome)
    names = await _type_names(work.session, [volume])
    return JSONResponse(
        {
            "volume": view(
                request, volume, names.get(volume.volume_type_id), ctx, version, extended=False
            )
        },
        status_code=202,
    )


LISTING = Listing("volumes", flows.VOLUMES, SORT_KEYS)
EQUAL_FILTERS = columns(Volume, "name", "status", "availability_zone", display_name="name")


async def _list(
    request: Request, ctx: RequestContext, session: SessionDep, version: APIVersion, detail: bool
) -> dict[str, Any]:
    params = request.query_params

    def where(query: Select[Any], _tenants: bool) -> Select[Any]:
        query = equal_filters(query, request, EQUAL_FILTERS)
        if "group_id" in params and version >= GROUP_VOLUME_LIST:
            query = query.where(Volume.group_id == params["group_id"])
        if "bootable" in params:
            query = query.where(Volume.bootable.is_(parse_bool(params["bootable"], "bootable")))
        if "metadata" in params:
            query = metadata_filter(query, params["metadata"], Volume.id, VolumeMetadata.volume_id)
        if "project_id" in params and ctx.is_admin:
            query = query.where(Volume.project_id == params["project_id"])
        return query

    async def render(items: list[Volume]) -> list[dict[str, Any]]:
        if not detail:
            return [
                {
                    "id": v.id,
                    "name": v.name,
                    "links": self_links(request, v.project_id, "volumes", v.id),
                }
                for v in items
            ]
        names = await _type_names(session, items)
        return [
            view(request, v, names.get(v.volume_type_id), ctx, version, extended=True)
            for v in items
        ]

    return await LISTING.answer(request, ctx, session, version, where, render)


add_list_routes(
    router, "volumes", "volume:get_all", (S.VolumeListResponse, S.VolumeDetailListResponse), _list
)


@v3_route(router, "GET", "/volumes/summary", **returns(S.VolumesSummaryResponse))
async def volumes_summary(
    request: Request, _p: UrlProject, ctx: Lister, session: SessionDep, version: VersionDep
) -> dict[str, Any]:
    min_version(VOLUME_SUMMARY, version)
    vols = (
        await session.scalars(flows.visible(select(Volume), ctx, all_tenants(request, ctx)))
    ).all()
    metadata: dict[str, list[str]] = {}
    for v in vols:
        for m in v.volume_metadata:
            metadata.setdefault(m.key, [])
            if m.value not in metadata[m.key]:
                metadata[m.key].append(m.value)
    summary: dict[str, Any] = {"total_size": sum(v.size for v in vols), "total_count": len(vols)}
    if version >= VOLUME_SUMMARY_METADATA:
        summary["metadata"] = metadata
    return {"volume-summary": summary}


@v3_route(router, "GET", "/volumes/{volume_id}", **returns(S.VolumeResponse))
async def show_volume(
    request: Request,
    volume_id: str,
    _p: UrlProject,
    ctx: Getter,
    session: SessionDep,
    version: VersionDep,
) -> dict[str, Any]:
    volume = await flows.get(session, ctx, volume_id)
    names = await _type_names(session, [volume])
    return {
        "volume": view(
            request, volume, names.get(volume.volume_type_id), ctx, version, extended=True
        )
    }


@v3_route(router, "PUT", "/volumes/{volume_id}", **returns(S.VolumeResponse))
async def update_volume(
    request: Request,
    payload: S.VolumeUpdateRequest,
    volume_id: str,
    _p: UrlProject,
    ctx: Annotated[RequestContext, may("volume:update")],
    work: WorkDep,
    version: VersionDep,
) -> dict[str, Any]:
    body = payload.content
    changes: dict[str, Any] = {}
    for key, alias in (("name", "display_name"), ("description", "display_description")):
        if key in body or alias in body:
            changes[key] = optional_str(
                body.get(key, body.get(alias)), key, 255 if key == "name" else 65535
            )
    if "metadata" in body:
        changes["metadata"] = flows.validate_metadata(body["metadata"])
    if not changes:
        raise BadRequest(
            "Invalid input for field/attribute volume: nothing to update "
            "(name, description or metadata)."
        )
    volume = await flows.get(work.session, ctx, volume_id, for_update=True)
    await flows.update_volume(work.session, volume, changes)
    names = await _type_names(work.session, [volume])
    return {
        "volume": view(
            request, volume, names.get(volume.volume_type_id), ctx, version, extended=False
        )
    }


@v3_route(router, "DELETE", "/volumes/{volume_id}", **no_body(202))
async def delete_volume(
    request: Request,
    volume_id: str,
    _p: UrlProject,
    ctx: Annotated[RequestContext, may("volume:delete")],
    work: WorkDep,
) -> Response:
    cascade = request.query_params.get("cascade")
    force = request.query_params.get("force")
    forced = force is not None and parse_bool(force, "force")
    if forced:
        authorize(ctx, "volume:force_delete")
    cascaded = cascade is not None and parse_bool(cascade, "cascade")
    volume = await flows.get(work.session, ctx, volume_id, for_update=True, with_jobs=forced)
    outcome = await deletion.delete_volume(
        work.session, work.runtime, ctx, volume, force=forced, cascade=cascaded
    )
    work.after_commit(outcome)
    return Response(status_code=202)


# --- metadata -----------------------------------------------------------------------------

add_metadata_routes(
    router,
    "volumes",
    flows.VOLUME_METADATA,
    flows.get,
    MetadataPolicies(
        read="volume:get_volume_metadata",
        create="volume:create_volume_metadata",
        update="volume:update_volume_metadata",
        delete="volume:delete_volume_metadata",
    ),
)


# --- actions ---------------------------------------------------------------------------------


# 202; 200 for os-set_bootable, and for os-initialize_connection with connection_info.
@v3_route(
    router,
    "POST",
    "/volumes/{volume_id}/action",
    status_code=202,
    response_class=Response,
    responses={
        200: {
            "model": S.ConnectionResponse,
            "description": "os-initialize_connection's connection_info (os-set_bootable: no body).",
        }
    },
)
async def volume_action(
    request: Request,
    payload: S.VolumeActionRequest,
    volume_id: str,
    _p: UrlProject,
    ctx: ContextDep,
    runtime: RuntimeDep,
    version: VersionDep,
) -> Response:
    action, args = read_action(payload)
    policy = action_policy(ACTION_POLICIES, action)
    # A project's own actions are refused before the lookup; an admin's only after it,
    # so another project's volume is not found, as for every other request.
    if not _admin_only(policy) or not ctx.can_write:
        _authorize_action(ctx, action, policy)
    # Opened here, not as a dependency: a connection is answered only once the agent
    # has exported the volume, after this work has committed.
    async with request_work(request, runtime) as work:
        connecting = await _act(work, ctx, version, volume_id, action, args, policy)
    if connecting is not None:
        info = await connect.connection(runtime, *connecting, ctx.request_id)
        return JSONResponse({"connection_info": info}, status_code=200)
    # Cinder answers 202 to every volume action but os-set_bootable.
    if action == "os-set_bootable":
        return Response(status_code=200)
    return Response(status_code=202)


async def _act(
    work: UnitOfWork,
    ctx: RequestContext,
    version: APIVersion,
    volume_id: str,
    action: str,
    args: dict[str, Any],
    policy: str,
) -> tuple[str, int] | None:
    """Do the action in the request's unit of work; for a connection, the attachment
    and the export job to wait for once it has committed."""
    session, runtime = work.session, work.runtime
    volume = await flows.get(
        session,
        ctx,
        volume_id,
        for_update=True,
        with_jobs=action == "os-force_delete" and ctx.is_admin,
    )
    if action == "os-extend_volume_completion":
        min_version(mv.EXTEND_VOLUME_COMPLETION, version)
    if action == "revert":
        min_version(VOLUME_REVERT, version)
    _authorize_action(ctx, action, policy)
    outcome = flows.Outcome()
    if action in ("os-migrate_volume", "os-retype"):
        await attachment_flows.check_detached(session, volume, f"{action[3:]} it")
    if action == "os-extend":
        new_size = parse_int(args.get("new_size"), "new_size", minimum=1)
        if version >= VOLUME_EXTEND_INUSE and volume.status == VolumeStatus.IN_USE:
            outcome = await extend.extend_attached(session, runtime, ctx, volume, new_size)
        else:
            outcome = await flows.extend(session, runtime, ctx, volume, new_size)
    elif action == "os-retype":
        needs_migration = await flows.retype(
            session,
            runtime,
            ctx,
            volume,
            optional_str(args.get("new_type"), "new_type") or "",
            optional_str(args.get("migration_policy"), "migration_policy") or "never",
        )
        if needs_migration is not None:
            outcome = await migration.retype_by_migration(
                session, runtime, ctx, volume, *needs_migration
            )
    elif action == "os-migrate_volume":
        host = optional_str(args.get("host"), "host")
        if host is None and version < mv.MIGRATE_WITHOUT_HOST:
            raise BadRequest("Invalid input: os-migrate_volume needs a 'host'.")
        outcome = await migration.migrate(
            session,
            runtime,
            ctx,
            volume,
            host,
            force_host_copy=parse_bool(args.get("force_host_copy", False), "force_host_copy"),
        )
    elif action == "os-extend_volume_completion":
        error = parse_bool(args.get("error", False), "error")
        await extend.complete(session, ctx, volume, error, outcome)
    elif action == "os-set_bootable":
        volume.bootable = parse_bool(args.get("bootable"), "bootable")
    elif action == "os-update_readonly_flag":
        readonly = parse_bool(args.get("readonly"), "readonly")
        await flows.merge_metadata(session, volume, {"readonly": str(readonly)})
    elif action == "os-reset_status":
        status = args.get("status")
        status = status.lower() if isinstance(status, str) else status  # as Cinder reads it
        await attachment_flows.check_reset(session, volume, status)
        await extend.forget_completion(session, volume, outcome)
        await flows.reset_status(session, volume, status)
    elif action == "os-force_delete":
        outcome = await deletion.delete_volume(session, runtime, ctx, volume, force=True)
    elif action == "revert":
        outcome = await revert.revert(session, runtime, ctx, volume, args.get("snapshot_id"))
    elif action == "os-unmanage":
        outcome = await unmanage.unmanage_volume(session, runtime, volume, ctx.request_id)
    elif action in ATTACH_ACTIONS:
        connecting, outcome = await _attach_action(work, ctx, volume, action, args)
        work.after_commit(outcome)
        return connecting
    work.after_commit(outcome)
    return None


ATTACH_ACTIONS = frozenset(
    a for a, p in ACTION_POLICIES.items() if ":volume_actions:" in p or a == "os-force_detach"
)


async def _attach_action(
    work: UnitOfWork, ctx: RequestContext, volume: Volume, action: str, args: dict[str, Any]
) -> tuple[tuple[str, int] | None, flows.Outcome]:
    session, runtime, request_id = work.session, work.runtime, ctx.request_id
    outcome = flows.Outcome()
    if action == "os-reserve":
        await attachment_flows.os_reserve(session, volume)
    elif action == "os-unreserve":
        outcome = await attachment_flows.os_unreserve(session, runtime, volume, request_id)
    elif action == "os-begin_detaching":
        await attachment_flows.os_begin_detaching(session, volume)
    elif action == "os-roll_detaching":
        await attachment_flows.os_roll_detaching(session, volume)
    elif action == "os-initialize_connection":
        connector = attachment_flows.parse_connector(args.get("connector"))
        attachment, job = await attachment_flows.os_initialize_connection(
            session, runtime, ctx, volume, connector, request_id
        )
        outcome.job_queued = True
        return (attachment.id, job.id), outcome
    elif action == "os-terminate_connection":
        connector = attachment_flows.parse_connector(args.get("connector"))
        outcome = await attachment_flows.os_terminate_connection(
            session, runtime, volume, connector, request_id
        )
    elif action == "os-attach":
        await attachment_flows.os_attach(
            session,
            ctx,
            volume,
            instance_uuid=optional_str(args.get("instance_uuid"), "instance_uuid"),
            host_name=optional_str(args.get("host_name"), "host_name"),
            mountpoint=optional_str(args.get("mountpoint"), "mountpoint"),
            mode=optional_str(args.get("mode"), "mode") or "rw",
        )
    else:  # os-detach, os-force_detach
        outcome = await attachment_flows.os_detach(
            session,
            runtime,
            volume,
            optional_str(args.get("attachment_id"), "attachment_id"),
            request_id,
            force=action == "os-force_detach",
        )
    return None, outcome


def _admin_only(policy: str) -> bool:
    return POLICIES[policy] is Rule.ADMIN


def _authorize_action(ctx: RequestContext, action: str, policy: str) -> None:
    if action == "os-extend_volume_completion" and ctx.is_service:
        return  # Nova's service user, as Cinder's rule says (admin or service)
    authorize(ctx, policy)
