"""/v3/{project_id}/group_types: group types and their group specs (microversion 3.11).

Cinder's policies: anyone may list and show public group types; creating, changing and
deleting them, and everything about their specs, is the admin's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.common import UrlProject, optional_str, parse_bool, read_body, v3_route
from app.api.deps import ContextDep, RuntimeDep, SessionDep, VersionDep, WorkDep, min_version
from app.api.microversion import APIVersion
from app.api.policy import may
from app.api.schemas import group_types as S
from app.api.schemas.contract import no_body, returns
from app.api.schemas.types import SpecValue
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
    # Cinder's group:access_group_types_specs: the specs are shown to admins only.
    if ctx.is_admin:
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
async def list_group_types(
    request: Request, _p: UrlProject, ctx: ContextDep, session: SessionDep, version: VersionDep
) -> dict[str, Any]:
    min_version(GROUP_TYPE, version)
    is_public: bool | None = None
    raw = request.query_params.get("is_public")
    if ctx.is_admin and raw is not None and raw.lower() != "none":
        is_public = parse_bool(raw, "is_public")
    found = await gtypes.GROUP_TYPES.list_types(session, ctx, is_public)
    return {"group_types": [view(t, ctx) for t in found]}


@v3_route(router, "GET", "/group_types/{type_id}", **returns(S.GroupTypeResponse))
async def show_group_type(
    type_id: str,
    _p: UrlProject,
    ctx: ContextDep,
    session: SessionDep,
    runtime: RuntimeDep,
    version: VersionDep,
) -> dict[str, Any]:
    min_version(GROUP_TYPE, version)
    return {"group_type": view(await _find(session, ctx, runtime, type_id), ctx)}


@v3_route(router, "POST", "/group_types", **returns(S.GroupTypeResponse, 202))
async def create_group_type(
    request: Request,
    _body: S.GroupTypeCreateRequest,
    _p: UrlProject,
    ctx: Manager,
    work: WorkDep,
    version: VersionDep,
) -> dict[str, Any]:
    # 202, as Cinder answers (its group_types create is wsgi.response(ACCEPTED)).
    min_version(GROUP_TYPE, version)
    body = await read_body(request, "group_type")
    name = gtypes.GROUP_TYPES.validate_name(body.get("name"))
    description = optional_str(body.get("description"), "description")
    is_public = parse_bool(body.get("is_public", True), "is_public")
    raw_specs = body.get("group_specs")
    specs = gtypes.GROUP_TYPES.validate_specs({} if raw_specs is None else raw_specs)
    gtype = await gtypes.create(work.session, name, description, is_public, specs)
    return {"group_type": view(gtype, ctx)}


@v3_route(router, "PUT", "/group_types/{type_id}", **returns(S.GroupTypeResponse))
async def update_group_type(
    request: Request,
    _body: S.GroupTypeUpdateRequest,
    type_id: str,
    _p: UrlProject,
    ctx: Manager,
    work: WorkDep,
    version: VersionDep,
) -> dict[str, Any]:
    min_version(GROUP_TYPE, version)
    body = await read_body(request, "group_type")
    if not {"name", "description", "is_public"} & body.keys():
        raise BadRequest(
            "Specify group type name, description, is_public or a combination thereof."
        )
    gtype = await _find(work.session, ctx, work.runtime, type_id)
    if "name" in body:
        name = gtypes.GROUP_TYPES.validate_name(body["name"])
        default_name = work.runtime.settings.default_group_type
        if name != gtype.name and default_name and gtype.name == default_name:
            raise BadRequest("The default group type cannot be renamed.")
        await gtypes.rename(work.session, gtype, name)
    if "description" in body:
        gtype.description = optional_str(body["description"], "description")
    if "is_public" in body:
        gtype.is_public = parse_bool(body["is_public"], "is_public")
    return {"group_type": view(gtype, ctx)}


@v3_route(router, "DELETE", "/group_types/{type_id}", **no_body(202))
async def delete_group_type(
    type_id: str, _p: UrlProject, ctx: Manager, work: WorkDep, version: VersionDep
) -> Response:
    min_version(GROUP_TYPE, version)
    gtype = await _find(work.session, ctx, work.runtime, type_id)
    await gtypes.remove(work.session, gtype, work.runtime.settings.default_group_type)
    return Response(status_code=202)


# --- group specs ------------------------------------------------------------------------------


@v3_route(router, "GET", "/group_types/{type_id}/group_specs", **returns(S.GroupSpecsResponse))
async def list_group_specs(
    type_id: str,
    _p: UrlProject,
    ctx: SpecManager,
    session: SessionDep,
    runtime: RuntimeDep,
    version: VersionDep,
) -> dict[str, Any]:
    min_version(GROUP_TYPE, version)
    return {"group_specs": gtypes.specs_of(await _find(session, ctx, runtime, type_id))}


@v3_route(
    router, "POST", "/group_types/{type_id}/group_specs", **returns(S.GroupSpecsResponse, 202)
)
async def set_group_specs(
    request: Request,
    _body: S.GroupSpecsRequest,
    type_id: str,
    _p: UrlProject,
    ctx: SpecManager,
    work: WorkDep,
    version: VersionDep,
) -> dict[str, Any]:
    min_version(GROUP_TYPE, version)
    body = await read_body(request)
    if not isinstance(body.get("group_specs"), dict):
        raise BadRequest("Missing required element 'group_specs' in request body.")
    specs = gtypes.GROUP_TYPES.validate_specs(body["group_specs"])
    gtype = await _find(work.session, ctx, work.runtime, type_id)
    await gtypes.set_specs(work.session, gtype, specs)
    return {"group_specs": specs}


@v3_route(router, "GET", "/group_types/{type_id}/group_specs/{key}", **returns(dict[str, str]))
async def show_group_spec(
    type_id: str,
    key: str,
    _p: UrlProject,
    ctx: SpecManager,
    session: SessionDep,
    runtime: RuntimeDep,
    version: VersionDep,
) -> dict[str, Any]:
    min_version(GROUP_TYPE, version)
    specs = gtypes.specs_of(await _find(session, ctx, runtime, type_id))
    if key not in specs:
        raise NotFound(f"Group Type {type_id} has no specs with key {key}.")
    return {key: specs[key]}


@v3_route(router, "PUT", "/group_types/{type_id}/group_specs/{key}", **returns(dict[str, str]))
async def update_group_spec(
    request: Request,
    _body: Annotated[dict[str, SpecValue], Body()],
    type_id: str,
    key: str,
    _p: UrlProject,
    ctx: SpecManager,
    work: WorkDep,
    version: VersionDep,
) -> dict[str, Any]:
    min_version(GROUP_TYPE, version)
    specs = gtypes.GROUP_TYPES.validate_specs(await read_body(request))
    if list(specs) != [key]:
        raise BadRequest("Request body and URI mismatch")
    gtype = await _find(work.session, ctx, work.runtime, type_id)
    await gtypes.set_specs(work.session, gtype, specs)
    return specs


@v3_route(router, "DELETE", "/group_types/{type_id}/group_specs/{key}", **no_body(202))
async def delete_group_spec(
    type_id: str,
    key: str,
    _p: UrlProject,
    ctx: SpecManager,
    work: WorkDep,
    version: VersionDep,
) -> Response:
    min_version(GROUP_TYPE, version)
    gtype = await _find(work.session, ctx, work.runtime, type_id)
    await gtypes.delete_spec(work.session, gtype, key)
    return Response(status_code=202)
