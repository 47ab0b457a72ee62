"""/v3/{project_id}/groups: generic volume groups (3.13), create from a source group
(3.14), reset status (3.20, admin), member volumes in the view (3.25)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.actions import read_action
from app.api.common import (
    CallDep,
    ReadDep,
    iso,
    optional_str,
    parse_bool,
    v3_route,
)
from app.api.deps import ContextDep, min_version
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.listing import Listing, add_list_routes, columns, equal_filters, project_filter
from app.api.microversion import APIVersion
from app.api.policy import authorize, may
from app.api.schemas import groups as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import Group, Volume
from app.errors import BadRequest, Forbidden
from app.volumes.groups import flows
from app.volumes.groups import snapshots as group_snapshots

router = APIRouter(tags=["groups"])

GROUPS = APIVersion(3, 13)
GROUP_FROM_SOURCE = APIVersion(3, 14)
GROUP_RESET_STATUS = APIVersion(3, 20)
GROUP_VOLUME_LIST = APIVersion(3, 25)
GROUP_REPLICATION = APIVersion(3, 38)
GROUP_PROJECT_ID = APIVersion(3, 58)

SORT_KEYS = columns(Group, "created_at", "updated_at", "id", "name", "status", "availability_zone")


def summary(group: Group) -> dict[str, Any]:
    return {"id": group.id, "name": group.name}


# A group's detail view as Cinder's v3 groups view gives it; `volumes` only when asked
# for (list_volume, 3.25) and project_id to admins (group:group_project_attribute).
FIELDS = {
    "id": Field(),
    "status": Field(),
    "availability_zone": Field(),
    "created_at": Field(),
    "name": Field(),
    "description": Field(),
    "group_type": Field(),
    "volume_types": Field(),
    "group_snapshot_id": Field(GROUP_FROM_SOURCE),
    "source_group_id": Field(GROUP_FROM_SOURCE),
    "volumes": Field(GROUP_VOLUME_LIST),
    "replication_status": Field(GROUP_REPLICATION),
    "project_id": Field(GROUP_PROJECT_ID, policy="group:group_project_attribute"),
}


def view(
    group: Group, version: APIVersion, ctx: RequestContext, volume_ids: list[str] | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": group.id,
        "status": group.status,
        "availability_zone": group.availability_zone,
        "created_at": iso(group.created_at),
        "name": group.name,
        "description": group.description,
        "group_type": group.group_type_id,
        "volume_types": flows.type_ids(group),
        "group_snapshot_id": group.group_snapshot_id,
        "source_group_id": group.source_group_id,
        "replication_status": "disabled",
        "project_id": group.project_id,
    }
    if volume_ids is not None:
        values["volumes"] = volume_ids
    return select_fields(FIELDS, values, version, ctx)


def _list_volume(request: Request, version: APIVersion) -> bool:
    raw = request.query_params.get("list_volume")
    return version >= GROUP_VOLUME_LIST and raw is not None and parse_bool(raw, "list_volume")


async def _volume_ids(session: AsyncSession, groups: list[Group]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {g.id: [] for g in groups}
    if groups:
        rows = await session.execute(
            select(Volume.group_id, Volume.id)
            .where(Volume.group_id.in_(list(out)))
            .order_by(Volume.created_at, Volume.id)
        )
        for group_id, volume_id in rows:
            out[str(group_id)].append(volume_id)
    return out


# Cinder's groups view names the next link 'group_links', and counts nothing.
LISTING = Listing("groups", flows.GROUPS, SORT_KEYS, links="group", counted=False)
EQUAL_FILTERS = columns(Group, "name", "status")


async def _list(
    request: Request, ctx: RequestContext, session: AsyncSession, version: APIVersion, detail: bool
) -> dict[str, Any]:
    min_version(GROUPS, version)

    def where(query: Select[Any], _tenants: bool) -> Select[Any]:
        query = equal_filters(query, request, EQUAL_FILTERS)
        return project_filter(query, request, ctx, Group.project_id)

    async def render(items: list[Group]) -> list[dict[str, Any]]:
        if not detail:
            return [summary(g) for g in items]
        ids = await _volume_ids(session, items) if _list_volume(request, version) else None
        return [view(g, version, ctx, ids[g.id] if ids is not None else None) for g in items]

    return await LISTING.answer(request, ctx, session, version, where, render)


add_list_routes(
    router, "groups", "group:get_all", (S.GroupListResponse, S.GroupDetailListResponse), _list
)
Creator = Annotated[RequestContext, may("group:create")]


@v3_route(router, "GET", "/groups/{group_id}", **returns(S.GroupResponse))
async def show_group(
    group_id: str, read: ReadDep, ctx: Annotated[RequestContext, may("group:get")]
) -> dict[str, Any]:
    min_version(GROUPS, read.version)
    group = await flows.get(read.session, ctx, group_id)
    ids = (
        (await _volume_ids(read.session, [group]))[group.id]
        if _list_volume(read.request, read.version)
        else None
    )
    return {"group": view(group, read.version, ctx, ids)}


def _volume_types(value: Any) -> list[str]:
    """Cinder takes a list of type ids or names (or one comma-separated string)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadRequest(
            "Invalid input: volume_types must be a non-empty list of volume type ids or names."
        )
    return value


@v3_route(router, "POST", "/groups", **returns(S.GroupSummaryResponse, 202))
async def create_group(payload: S.GroupCreateRequest, call: CallDep, ctx: Creator) -> JSONResponse:
    min_version(GROUPS, call.version)
    body = payload.content
    group_type = optional_str(body.get("group_type"), "group_type")
    if not group_type:
        raise BadRequest("Invalid input: a group needs a group_type.")
    zone = optional_str(body.get("availability_zone"), "availability_zone")
    spec = flows.CreateGroup(
        group_type=group_type,
        volume_types=_volume_types(body.get("volume_types")),
        name=optional_str(body.get("name"), "name"),
        description=optional_str(body.get("description"), "description", maximum=65535),
        availability_zone=zone or None,
    )
    if call.project_id != ctx.project_id:
        raise Forbidden("Groups are created in the caller's own project.")
    group, outcome = await flows.create(call.work.session, call.work.runtime, ctx, spec)
    call.work.after_commit(outcome)
    return JSONResponse({"group": summary(group)}, status_code=202)


def _id_list(value: Any, field: str) -> list[str]:
    """Cinder's add_volumes/remove_volumes: volume ids, comma-separated."""
    if value is None:
        return []
    text = optional_str(value, field, maximum=65535) or ""
    return list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))


@v3_route(router, "PUT", "/groups/{group_id}", **no_body(202))
async def update_group(
    payload: S.GroupUpdateRequest,
    group_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, may("group:update")],
) -> Response:
    min_version(GROUPS, call.version)
    body = payload.content
    changes: dict[str, str | None] = {}
    if "name" in body:
        changes["name"] = optional_str(body["name"], "name")
    if "description" in body:
        changes["description"] = optional_str(body["description"], "description", 65535)
    spec = flows.UpdateGroup(
        changes=changes,
        add_volumes=_id_list(body.get("add_volumes"), "add_volumes"),
        remove_volumes=_id_list(body.get("remove_volumes"), "remove_volumes"),
    )
    if not (spec.changes or spec.add_volumes or spec.remove_volumes):
        raise BadRequest(
            "Name, description, add_volumes, and remove_volumes can not be all empty in "
            "the request body."
        )
    await flows.update(call.work.session, ctx, group_id, spec)
    return Response(status_code=202)


@v3_route(router, "POST", "/groups/{group_id}/action", **no_body(202))
async def group_action(
    payload: S.GroupActionRequest, group_id: str, call: CallDep, ctx: ContextDep
) -> Response:
    min_version(GROUPS, call.version)
    action, args = read_action(payload)
    if action == "delete":
        authorize(ctx, "group:delete")
        delete_volumes = parse_bool(args.get("delete-volumes", False), "delete-volumes")
        outcome = await flows.delete(
            call.work.session, call.work.runtime, ctx, group_id, delete_volumes=delete_volumes
        )
        call.work.after_commit(outcome)
    elif action == "reset_status":
        min_version(GROUP_RESET_STATUS, call.version)
        authorize(ctx, "group:reset_status")
        group = await flows.get(call.work.session, ctx, group_id, for_update=True)
        await flows.reset_status(call.work.session, group, args.get("status"))
    else:
        raise BadRequest(f"There is no such action: {action}")
    return Response(status_code=202)


@v3_route(router, "POST", "/groups/action", **returns(S.GroupSummaryResponse, 202))
async def create_from_source(
    payload: S.CreateFromSourceRequest, call: CallDep, ctx: Creator
) -> JSONResponse:
    min_version(GROUP_FROM_SOURCE, call.version)
    body = payload.raw
    args = body.get("create-from-src")
    if len(body) != 1 or not isinstance(args, dict):
        raise BadRequest("There is no such action: the body must be {'create-from-src': {...}}.")
    source = optional_str(args.get("source_group_id"), "source_group_id")
    group_snapshot = optional_str(args.get("group_snapshot_id"), "group_snapshot_id")
    name = optional_str(args.get("name"), "name")
    description = optional_str(args.get("description"), "description", maximum=65535)
    if bool(source) == bool(group_snapshot):
        # Cinder's message when neither or both are given.
        raise BadRequest(
            "Invalid input received: Either 'group_snapshot_id' or 'source_group_id' must "
            f"be provided to create group {name} from source."
        )
    if call.project_id != ctx.project_id:
        raise Forbidden("Groups are created in the caller's own project.")
    session, runtime = call.work.session, call.work.runtime
    if group_snapshot:
        group, outcome = await group_snapshots.create_group_from(
            session, runtime, ctx, group_snapshot, name, description
        )
    else:
        group, outcome = await flows.create_from_source(
            session, runtime, ctx, source or "", name, description
        )
    call.work.after_commit(outcome)
    return JSONResponse({"group": summary(group)}, status_code=202)
