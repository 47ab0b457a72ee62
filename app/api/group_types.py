"""/v3/{project_id}/group_types: group types and their group specs (microversion 3.11).

Cinder's policies: anyone may list and show public group types; creating, changing and
deleting them, and everything about their specs, is the admin's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.common import CallDep, ReadDep, optional_str, parse_bool, v3_route
from app.api.deps import ContextDep, min_version
from app.api.microversion import APIVersion
from app.api.policy import allows, may
from app.api.schemas import group_types as S
from app.api.schemas.contract import no_body, returns
from app.api.specs import SpecPolicies, SpecRoutes
from app.context import RequestContext
from app.db.models import GroupType
from app.errors import BadRequest, NotFound
from app.runtime import Runtime
from app.volumes.groups import types as gtypes

router = APIRouter(tags=["group types"])

GROUP_TYPE = APIVersion(3, 11)

# Cinder's group type policies: listing and showing are anyone's (no policy), the rest
# the admin's.
Manager = Annotated[RequestContext, may("group:group_types_manage")]
SpecManager = Annotated[RequestContext, may("group:group_types_specs")]


def view(gtype: GroupType, ctx: RequestContext) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": gtype.id,
        "name": gtype.name,
        "description": gtype.description,
        "is_public": gtype.is_public,
    }
    if allows(ctx, "group:access_group_types_specs"):
        body["group_specs"] = gtypes.specs_of(gtype)
    return body


async def _find(
    session: AsyncSession, ctx: RequestContext, runtime: Runtime, type_id: str
) -> GroupType:
    if type_id == "default":
        return await gtypes.default(session, ctx, runtime.settings.default_group_type)
    found = await session.get(GroupType, type_id)
    if found is None or not (ctx.is_admin or found.is_public):
        raise NotFound(f"Group type {type_id} could not be found.")
    return found


@v3_route(router, "GET", "/group_types", **returns(S.GroupTypeListResponse))
async def list_group_types(read: ReadDep, ctx: ContextDep) -> dict[str, Any]:
    min_version(GROUP_TYPE, read.version)
    is_public: bool | None = None
    raw = read.request.query_params.get("is_public")
    if ctx.is_admin and raw is not None and raw.lower() != "none":
        is_public = parse_bool(raw, "is_public")
    found = await gtypes.GROUP_TYPES.list_types(read.session, ctx, is_public)
    return {"group_types": [view(t, ctx) for t in found]}


@v3_route(router, "GET", "/group_types/{type_id}", **returns(S.GroupTypeResponse))
async def show_group_type(type_id: str, read: ReadDep, ctx: ContextDep) -> dict[str, Any]:
    min_version(GROUP_TYPE, read.version)
    return {"group_type": view(await _find(read.session, ctx, read.runtime, type_id), ctx)}


@v3_route(router, "POST", "/group_types", **returns(S.GroupTypeResponse, 202))
async def create_group_type(
    payload: S.GroupTypeCreateRequest, call: CallDep, ctx: Manager
) -> dict[str, Any]:
    # 202, as Cinder answers (its group_types create is wsgi.response(ACCEPTED)).
    min_version(GROUP_TYPE, call.version)
    body = payload.content
    name = gtypes.GROUP_TYPES.validate_name(body.get("name"))
    description = optional_str(body.get("description"), "description")
    is_public = parse_bool(body.get("is_public", True), "is_public")
    raw_specs = body.get("group_specs")
    specs = gtypes.GROUP_TYPES.validate_specs({} if raw_specs is None else raw_specs)
    gtype = await gtypes.GROUP_TYPES.create(call.work.session, name, description, is_public, specs)
    return {"group_type": view(gtype, ctx)}


@v3_route(router, "PUT", "/group_types/{type_id}", **returns(S.GroupTypeResponse))
async def update_group_type(
    payload: S.GroupTypeUpdateRequest, type_id: str, call: CallDep, ctx: Manager
) -> dict[str, Any]:
    min_version(GROUP_TYPE, call.version)
    body = payload.content
    if not {"name", "description", "is_public"} & body.keys():
        raise BadRequest(
            "Specify group type name, description, is_public or a combination thereof."
        )
    gtype = await _find(call.work.session, ctx, call.work.runtime, type_id)
    if "name" in body:
        name = gtypes.GROUP_TYPES.validate_name(body["name"])
        default_name = call.work.runtime.settings.default_group_type
        await gtypes.GROUP_TYPES.rename(call.work.session, gtype, name, default_name)
    if "description" in body:
        gtype.description = optional_str(body["description"], "description")
    if "is_public" in body:
        gtype.is_public = parse_bool(body["is_public"], "is_public")
    return {"group_type": view(gtype, ctx)}


@v3_route(router, "DELETE", "/group_types/{type_id}", **no_body(202))
async def delete_group_type(type_id: str, call: CallDep, ctx: Manager) -> Response:
    min_version(GROUP_TYPE, call.version)
    gtype = await _find(call.work.session, ctx, call.work.runtime, type_id)
    await gtypes.GROUP_TYPES.remove(
        call.work.session, gtype, call.work.runtime.settings.default_group_type
    )
    return Response(status_code=202)


# --- group specs ------------------------------------------------------------------------------

SpecRoutes(
    "group_types",
    gtypes.GROUP_SPECS,
    gtypes.GROUP_TYPES,
    _find,
    SpecPolicies.one("group:group_types_specs"),
    S.GroupSpecsRequest,
    S.GroupSpecsResponse,
    since=GROUP_TYPE,
    created=202,
).add(router)
