"""/v3/{project_id}/os-quota-sets and os-quota-class-sets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response

from app.api.common import CallDep, ReadDep, parse_bool, v3_route
from app.api.deps import ContextDep
from app.api.policy import authorize, may
from app.api.schemas import quotas as S
from app.api.schemas.contract import no_body, returns
from app.api.schemas.volumes import RequestBody
from app.context import RequestContext
from app.volumes.kernel import quotas

router = APIRouter(tags=["quotas"])


def _own_or_admin(ctx: RequestContext, target: str) -> None:
    authorize(ctx, "volume_extension:quotas:show", target)
    quotas.validate_name(target, "project id")


@v3_route(router, "GET", "/os-quota-sets/{target}", **returns(S.QuotaSetResponse))
async def show_quota(target: str, read: ReadDep, ctx: ContextDep) -> dict[str, Any]:
    _own_or_admin(ctx, target)
    limits = await quotas.limits(read.session, read.runtime.settings, target)
    body: dict[str, Any] = {"id": target}
    if parse_bool(read.request.query_params.get("usage", "false"), "usage"):
        in_use = await quotas.usage(read.session, target)
        # Cinder's DbQuotaDriver gives limit, in_use and reserved ('allocated' came only
        # from the nested-quota driver, which Cinder removed).
        for resource, limit in limits.items():
            body[resource] = {"limit": limit, "in_use": in_use.get(resource, 0), "reserved": 0}
    else:
        body.update(limits)
    return {"quota_set": body}


@v3_route(router, "GET", "/os-quota-sets/{target}/defaults", **returns(S.QuotaSetResponse))
async def quota_defaults(target: str, read: ReadDep, ctx: ContextDep) -> dict[str, Any]:
    _own_or_admin(ctx, target)
    return {
        "quota_set": {"id": target, **await quotas.defaults(read.session, read.runtime.settings)}
    }


def _limits(payload: RequestBody, *ignored: str) -> dict[str, int]:
    """The limits a quota set body sets; its `id` (and `ignored`) members name, not set."""
    body = {k: v for k, v in payload.content.items() if k not in ("id", *ignored)}
    return quotas.validate_limits(body)


@v3_route(router, "PUT", "/os-quota-sets/{target}", **returns(S.QuotaSetResponse))
async def update_quota(
    payload: S.QuotaSetUpdateRequest,
    target: str,
    call: CallDep,
    _ctx: Annotated[RequestContext, may("volume_extension:quotas:update")],
) -> dict[str, Any]:
    quotas.validate_name(target, "project id")
    values = _limits(payload, "tenant_id")
    settings = call.work.runtime.settings
    await quotas.set_project_limits(call.work.session, settings, target, values)
    return {"quota_set": await quotas.limits(call.work.session, settings, target)}


@v3_route(router, "DELETE", "/os-quota-sets/{target}", **no_body(200))
async def reset_quota(
    target: str,
    call: CallDep,
    _ctx: Annotated[RequestContext, may("volume_extension:quotas:delete")],
) -> Response:
    await quotas.reset_project_limits(call.work.session, target)
    # Cinder answers 200 with no body.
    return Response(status_code=200)


@v3_route(router, "GET", "/os-quota-class-sets/{class_name}", **returns(S.QuotaClassSetResponse))
async def show_quota_class(
    class_name: str,
    read: ReadDep,
    _ctx: Annotated[RequestContext, may("volume_extension:quota_classes")],
) -> dict[str, Any]:
    quotas.validate_name(class_name, "quota class")
    return {
        "quota_class_set": {
            "id": class_name,
            **await quotas.class_limits(read.session, read.runtime.settings, class_name),
        }
    }


@v3_route(router, "PUT", "/os-quota-class-sets/{class_name}", **returns(S.QuotaClassSetResponse))
async def update_quota_class(
    payload: S.QuotaClassSetUpdateRequest,
    class_name: str,
    call: CallDep,
    _ctx: Annotated[RequestContext, may("volume_extension:quota_classes:update")],
) -> dict[str, Any]:
    quotas.validate_name(class_name, "quota class")
    values = _limits(payload)
    await quotas.set_class_limits(call.work.session, values, class_name)
    limits = await quotas.class_limits(call.work.session, call.work.runtime.settings, class_name)
    return {"quota_class_set": limits}
