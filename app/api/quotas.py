"""/v3/{project_id}/os-quota-sets and os-quota-class-sets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response

from app.api.common import UrlProject, parse_bool, read_body, v3_route
from app.api.deps import ContextDep, RuntimeDep, SessionDep, WorkDep
from app.api.policy import authorize, may
from app.api.schemas import quotas as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.volumes.kernel import quotas

router = APIRouter(tags=["quotas"])


def _own_or_admin(ctx: RequestContext, target: str) -> None:
    authorize(ctx, "volume_extension:quotas:show", target)
    quotas.validate_name(target, "project id")


@v3_route(router, "GET", "/os-quota-sets/{target}", **returns(S.QuotaSetResponse))
async def show_quota(
    request: Request,
    target: str,
    _p: UrlProject,
    ctx: ContextDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    _own_or_admin(ctx, target)
    limits = await quotas.limits(session, runtime.settings, target)
    body: dict[str, Any] = {"id": target}
    if parse_bool(request.query_params.get("usage", "false"), "usage"):
        in_use = await quotas.usage(session, target)
        # Cinder's DbQuotaDriver gives limit, in_use and reserved ('allocated' came only
        # from the nested-quota driver, which Cinder removed).
        for resource, limit in limits.items():
            body[resource] = {"limit": limit, "in_use": in_use.get(resource, 0), "reserved": 0}
    else:
        body.update(limits)
    return {"quota_set": body}


@v3_route(router, "GET", "/os-quota-sets/{target}/defaults", **returns(S.QuotaSetResponse))
async def quota_defaults(
    target: str, _p: UrlProject, ctx: ContextDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    _own_or_admin(ctx, target)
    return {"quota_set": {"id": target, **await quotas.defaults(session, runtime.settings)}}


@v3_route(router, "PUT", "/os-quota-sets/{target}", **returns(S.QuotaSetResponse))
async def update_quota(
    request: Request,
    _body: S.QuotaSetUpdateRequest,
    target: str,
    _p: UrlProject,
    _ctx: Annotated[RequestContext, may("volume_extension:quotas:update")],
    work: WorkDep,
) -> dict[str, Any]:
    quotas.validate_name(target, "project id")
    body = await read_body(request, "quota_set")
    body.pop("id", None)
    body.pop("tenant_id", None)
    values = quotas.validate_limits(body)
    settings = work.runtime.settings
    await quotas.set_project_limits(work.session, settings, target, values)
    return {"quota_set": await quotas.limits(work.session, settings, target)}


@v3_route(router, "DELETE", "/os-quota-sets/{target}", **no_body(200))
async def reset_quota(
    target: str,
    _p: UrlProject,
    _ctx: Annotated[RequestContext, may("volume_extension:quotas:delete")],
    work: WorkDep,
) -> Response:
    await quotas.reset_project_limits(work.session, target)
    # Cinder answers 200 with no body.
    return Response(status_code=200)


@v3_route(router, "GET", "/os-quota-class-sets/{class_name}", **returns(S.QuotaClassSetResponse))
async def show_quota_class(
    class_name: str,
    _p: UrlProject,
    _ctx: Annotated[RequestContext, may("volume_extension:quota_classes")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    quotas.validate_name(class_name, "quota class")
    return {
        "quota_class_set": {
            "id": class_name,
            **await quotas.class_limits(session, runtime.settings, class_name),
        }
    }


@v3_route(router, "PUT", "/os-quota-class-sets/{class_name}", **returns(S.QuotaClassSetResponse))
async def update_quota_class(
    request: Request,
    _body: S.QuotaClassSetUpdateRequest,
    class_name: str,
    _p: UrlProject,
    _ctx: Annotated[RequestContext, may("volume_extension:quota_classes:update")],
    work: WorkDep,
) -> dict[str, Any]:
    quotas.validate_name(class_name, "quota class")
    body = await read_body(request, "quota_class_set")
    body.pop("id", None)
    values = quotas.validate_limits(body)
    await quotas.set_class_limits(work.session, values, class_name)
    limits = await quotas.class_limits(work.session, work.runtime.settings, class_name)
    return {"quota_class_set": limits}
