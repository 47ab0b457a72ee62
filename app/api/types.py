"""/v3/{project_id}/types: volume types, extra specs and private-type access."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.actions import read_action
from app.api.common import CallDep, ReadDep, optional_str, parse_bool, v3_route
from app.api.deps import ContextDep
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.microversion import MIN_VERSION
from app.api.policy import authorize, may
from app.api.schemas import types as S
from app.api.schemas.contract import no_body, returns
from app.api.specs import SpecPolicies, SpecRoutes
from app.context import RequestContext
from app.db.models import VolumeType, VolumeTypeProject
from app.db.upsert import insert_ignore
from app.errors import BadRequest, Conflict, NotFound
from app.runtime import Runtime
from app.volumes.types import types as vtypes

router = APIRouter(tags=["volume types"])

# Extra specs a project's user may see (Cinder's "user visible" specs).
USER_VISIBLE_SPECS = ("RESKEY:availability_zones", "multiattach", "replication_enabled")
PROJECT_ID_MAX = 64  # the width of project id columns


# A type's fields: Cinder's types view, its qos_specs_id for admins (the
# access_types_qos_specs_id policy) on show and list only, and the
# volume_type_access extension's attribute on show, list and create, not update.
FIELDS = {
    "id": Field(),
    "name": Field(),
    "description": Field(),
    "is_public": Field(),
    "os-volume-type-access:is_public": Field(),
    "extra_specs": Field(),
    "qos_specs_id": Field(policy="volume_extension:access_types_qos_specs_id"),
}


def view(
    vtype: VolumeType, ctx: RequestContext, *, access: bool = True, qos: bool = True
) -> dict[str, Any]:
    """The view of show and list; create lacks `qos`, update both."""
    specs = vtypes.specs_of(vtype)
    if not ctx.is_admin:
        specs = {k: v for k, v in specs.items() if k in USER_VISIBLE_SPECS}
    values: dict[str, Any] = {
        "id": vtype.id,
        "name": vtype.name,
        "description": vtype.description,
        "is_public": vtype.is_public,
        "extra_specs": specs,
    }
    if access:
        values["os-volume-type-access:is_public"] = vtype.is_public
    if qos:
        values["qos_specs_id"] = vtype.qos_specs_id
    return select_fields(FIELDS, values, MIN_VERSION, ctx)


async def _find(
    session: AsyncSession, ctx: RequestContext, runtime: Runtime, type_id: str
) -> VolumeType:
    if type_id == "default":
        return await vtypes.default(session, runtime.settings.default_volume_type)
    found = await session.get(VolumeType, type_id)
    if found is None or not (
        ctx.is_admin or found.is_public or await _granted(session, found.id, ctx.project_id)
    ):
        raise NotFound(f"Volume type {type_id} could not be found.")
    return found


async def _granted(session: AsyncSession, type_id: str, project_id: str) -> bool:
    return (await session.get(VolumeTypeProject, (type_id, project_id))) is not None


@v3_route(router, "GET", "/types", **returns(S.VolumeTypeListResponse))
async def list_types(
    read: ReadDep, ctx: Annotated[RequestContext, may("volume_extension:type_get_all")]
) -> dict[str, Any]:
    is_public: bool | None = True
    raw = read.request.query_params.get("is_public")
    if ctx.is_admin:
        is_public = None if raw is None or raw.lower() == "none" else parse_bool(raw, "is_public")
    found = await vtypes.VOLUME_TYPES.list_types(
        read.session, ctx, is_public if ctx.is_admin else None
    )
    return {"volume_types": [view(t, ctx) for t in found]}


@v3_route(router, "GET", "/types/{type_id}", **returns(S.VolumeTypeResponse))
async def show_type(
    type_id: str, read: ReadDep, ctx: Annotated[RequestContext, may("volume_extension:type_get")]
) -> dict[str, Any]:
    return {"volume_type": view(await _find(read.session, ctx, read.runtime, type_id), ctx)}


@v3_route(router, "POST", "/types", **returns(S.VolumeTypeResponse))
async def create_type(
    payload: S.VolumeTypeCreateRequest,
    call: CallDep,
    ctx: Annotated[RequestContext, may("volume_extension:types_manage")],
) -> dict[str, Any]:
    body = payload.content
    name = vtypes.VOLUME_TYPES.validate_name(body.get("name"))
    description = optional_str(body.get("description"), "description")
    is_public = parse_bool(
        body.get("os-volume-type-access:is_public", body.get("is_public", True)), "is_public"
    )
    specs = vtypes.VOLUME_TYPES.validate_specs(body.get("extra_specs") or {})
    vtype = await vtypes.VOLUME_TYPES.create(call.work.session, name, description, is_public, specs)
    return {"volume_type": view(vtype, ctx, qos=False)}


@v3_route(router, "PUT", "/types/{type_id}", **returns(S.VolumeTypeResponse))
async def update_type(
    payload: S.VolumeTypeUpdateRequest,
    type_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, may("volume_extension:types_manage")],
) -> dict[str, Any]:
    body = payload.content
    if not {"name", "description", "is_public"} & body.keys():
        raise BadRequest(
            "Specify a volume type name, description, is_public or a combination thereof."
        )
    session, runtime = call.work.session, call.work.runtime
    vtype = await _find(session, ctx, runtime, type_id)
    if "name" in body:
        name = vtypes.VOLUME_TYPES.validate_name(body["name"])
        await vtypes.VOLUME_TYPES.rename(session, vtype, name, runtime.settings.default_volume_type)
    if "description" in body:
        vtype.description = optional_str(body["description"], "description")
    if "is_public" in body:
        vtype.is_public = parse_bool(body["is_public"], "is_public")
    return {"volume_type": view(vtype, ctx, access=False, qos=False)}


@v3_route(router, "DELETE", "/types/{type_id}", **no_body(202))
async def delete_type(
    type_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, may("volume_extension:types_manage")],
) -> Response:
    vtype = await _find(call.work.session, ctx, call.work.runtime, type_id)
    await vtypes.VOLUME_TYPES.remove(
        call.work.session, vtype, call.work.runtime.settings.default_volume_type
    )
    return Response(status_code=202)


# --- extra specs -----------------------------------------------------------------------------

SpecRoutes(
    "types",
    vtypes.EXTRA_SPECS,
    vtypes.VOLUME_TYPES,
    _find,
    SpecPolicies.under("volume_extension:types_extra_specs"),
    S.ExtraSpecsRequest,
    S.ExtraSpecsResponse,
    # A project's user sees only the user-visible specs, as in the type's view.
    read=lambda vtype, ctx: view(vtype, ctx)["extra_specs"],
).add(router)


# --- private type access ---------------------------------------------------------------------


@v3_route(
    router,
    "GET",
    "/types/{type_id}/os-volume-type-access",
    **returns(S.TypeAccessListResponse),
)
async def list_access(
    type_id: str,
    read: ReadDep,
    ctx: Annotated[RequestContext, may("volume_extension:volume_type_access:get_all_for_type")],
) -> dict[str, Any]:
    vtype = await _find(read.session, ctx, read.runtime, type_id)
    if vtype.is_public:
        raise NotFound(f"Access list not available for public volume type {type_id}.")
    rows = await read.session.scalars(
        select(VolumeTypeProject.project_id).where(VolumeTypeProject.volume_type_id == vtype.id)
    )
    return {"volume_type_access": [{"volume_type_id": vtype.id, "project_id": p} for p in rows]}


ACCESS_ACTIONS = ("addProjectAccess", "removeProjectAccess")


def _access_policy(ctx: ContextDep) -> RequestContext:
    # Both access actions are the admin's: refuse before the body is even read, as the
    # route did when it took only admins.
    for action in ACCESS_ACTIONS:
        authorize(ctx, f"volume_extension:volume_type_access:{action}")
    return ctx


@v3_route(router, "POST", "/types/{type_id}/action", **no_body(202))
async def type_action(
    payload: S.VolumeTypeActionRequest,
    type_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, Depends(_access_policy)],
) -> Response:
    action, args = read_action(payload)
    if action not in ACCESS_ACTIONS:
        raise BadRequest(f"There is no such action: {action}")
    project = args.get("project")
    if not isinstance(project, str) or not project or len(project) > PROJECT_ID_MAX:
        raise BadRequest(
            f"{action} needs a 'project' (an id of at most {PROJECT_ID_MAX} characters)."
        )
    session = call.work.session
    vtype = await _find(session, ctx, call.work.runtime, type_id)
    if vtype.is_public:
        raise BadRequest(
            "Invalid volume type: Type access modification is not applicable to public volume type."
        )
    if action == "addProjectAccess":
        result = await session.execute(
            insert_ignore(
                session, VolumeTypeProject, {"volume_type_id": vtype.id, "project_id": project}
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict(f"Volume type access for {type_id} / {project} already exists.")
    else:
        result = await session.execute(
            delete(VolumeTypeProject).where(
                VolumeTypeProject.volume_type_id == vtype.id,
                VolumeTypeProject.project_id == project,
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"Volume type access not found for {type_id} / {project}.")
    return Response(status_code=202)
