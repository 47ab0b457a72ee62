"""/v3/{project_id}/group_snapshots: group snapshots (3.14): create, list, show, delete,
and reset status (3.19, admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.actions import read_action
from app.api.common import CallDep, ReadDep, iso, optional_str, v3_route
from app.api.deps import ContextDep, min_version
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.listing import Listing, add_list_routes, columns, equal_filters, project_filter
from app.api.microversion import APIVersion
from app.api.policy import authorize, may
from app.api.schemas import group_snapshots as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import GroupSnapshot
from app.errors import BadRequest, Forbidden
from app.volumes.groups import snapshots as flows

router = APIRouter(tags=["group_snapshots"])

GROUP_SNAPSHOTS = APIVersion(3, 14)
GROUP_SNAPSHOT_RESET_STATUS = APIVersion(3, 19)
GROUP_SNAPSHOT_PROJECT_ID = APIVersion(3, 58)

SORT_KEYS = columns(GroupSnapshot, "created_at", "updated_at", "id", "name", "status", "group_id")
EQUAL_FILTERS = columns(GroupSnapshot, "name", "status", "group_id")

# Cinder's group snapshot detail view; project_id to admins from 3.58
# (group:group_snapshot_project_attribute).
FIELDS = {
    "id": Field(),
    "group_id": Field(),
    "group_type_id": Field(),
    "status": Field(),
    "created_at": Field(),
    "name": Field(),
    "description": Field(),
    "project_id": Field(GROUP_SNAPSHOT_PROJECT_ID, policy="group:group_snapshot_project_attribute"),
}


def summary(group_snapshot: GroupSnapshot, *, with_type: bool = True) -> dict[str, Any]:
    """Cinder's summary: a create's answer carries the group type, a list's does not."""
    out: dict[str, Any] = {"id": group_snapshot.id, "name": group_snapshot.name}
    if with_type:
        out["group_type_id"] = group_snapshot.group_type_id
    return out


def view(group_snapshot: GroupSnapshot, version: APIVersion, ctx: RequestContext) -> dict[str, Any]:
    values = {
        "id": group_snapshot.id,
        "group_id": group_snapshot.group_id,
        "group_type_id": group_snapshot.group_type_id,
        "status": group_snapshot.status,
        "created_at": iso(group_snapshot.created_at),
        "name": group_snapshot.name,
        "description": group_snapshot.description,
        "project_id": group_snapshot.project_id,
    }
    return select_fields(FIELDS, values, version, ctx)


LISTING = Listing("group_snapshots", flows.GROUP_SNAPSHOTS, SORT_KEYS, counted=False)


async def _list(
    request: Request, ctx: RequestContext, session: AsyncSession, version: APIVersion, detail: bool
) -> dict[str, Any]:
    min_version(GROUP_SNAPSHOTS, version)

    def where(query: Select[Any], _tenants: bool) -> Select[Any]:
        query = equal_filters(query, request, EQUAL_FILTERS)
        return project_filter(query, request, ctx, GroupSnapshot.project_id)

    async def render(items: list[GroupSnapshot]) -> list[dict[str, Any]]:
        if detail:
            return [view(g, version, ctx) for g in items]
        return [summary(g, with_type=False) for g in items]

    return await LISTING.answer(request, ctx, session, version, where, render)


add_list_routes(
    router,
    "group_snapshots",
    "group:get_all_group_snapshots",
    (S.GroupSnapshotListResponse, S.GroupSnapshotDetailListResponse),
    _list,
)


@v3_route(router, "GET", "/group_snapshots/{group_snapshot_id}", **returns(S.GroupSnapshotResponse))
async def show_group_snapshot(
    group_snapshot_id: str,
    read: ReadDep,
    ctx: Annotated[RequestContext, may("group:get_group_snapshot")],
) -> dict[str, Any]:
    min_version(GROUP_SNAPSHOTS, read.version)
    group_snapshot = await flows.get(read.session, ctx, group_snapshot_id)
    return {"group_snapshot": view(group_snapshot, read.version, ctx)}


@v3_route(router, "POST", "/group_snapshots", **returns(S.GroupSnapshotSummaryResponse, 202))
async def create_group_snapshot(
    payload: S.GroupSnapshotCreateRequest,
    call: CallDep,
    ctx: Annotated[RequestContext, may("group:create_group_snapshot")],
) -> JSONResponse:
    min_version(GROUP_SNAPSHOTS, call.version)
    body = payload.content
    group_id = body.get("group_id")
    if not isinstance(group_id, str) or not group_id:
        raise BadRequest(
            "Invalid input for field/attribute group_snapshot. 'group_id' is a required property"
        )
    name = optional_str(body.get("name"), "name")
    description = optional_str(body.get("description"), "description", maximum=65535)
    if call.project_id != ctx.project_id:
        raise Forbidden("Group snapshots are created in the caller's own project.")
    group_snapshot, outcome = await flows.create(
        call.work.session, call.work.runtime, ctx, group_id, name, description
    )
    call.work.after_commit(outcome)
    return JSONResponse({"group_snapshot": summary(group_snapshot)}, status_code=202)


@v3_route(router, "DELETE", "/group_snapshots/{group_snapshot_id}", **no_body(202))
async def delete_group_snapshot(
    group_snapshot_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, may("group:delete_group_snapshot")],
) -> Response:
    min_version(GROUP_SNAPSHOTS, call.version)
    outcome = await flows.delete(call.work.session, call.work.runtime, ctx, group_snapshot_id)
    call.work.after_commit(outcome)
    return Response(status_code=202)


@v3_route(router, "POST", "/group_snapshots/{group_snapshot_id}/action", **no_body(202))
async def group_snapshot_action(
    payload: S.GroupSnapshotActionRequest, group_snapshot_id: str, call: CallDep, ctx: ContextDep
) -> Response:
    min_version(GROUP_SNAPSHOTS, call.version)
    action, args = read_action(payload)
    if action != "reset_status":
        raise BadRequest(f"There is no such action: {action}")
    min_version(GROUP_SNAPSHOT_RESET_STATUS, call.version)
    if not ctx.is_admin:
        # Not found first for another project's group snapshot, as every other request.
        await flows.get(call.work.session, ctx, group_snapshot_id)
        authorize(ctx, "group:reset_group_snapshot_status")
    await flows.reset_status(call.work.session, ctx, group_snapshot_id, args.get("status"))
    return Response(status_code=202)
