"""Manage existing volumes (admin only, Cinder's volume_extension:volume_manage):
POST /v3/{project_id}/manageable_volumes (3.8+) and the older /os-volume-manage, and
those two routes built for any resource (snapshots have them too).

No `from __future__ import annotations` here: the routes are built per resource, and
their annotations (its body model) must be evaluated where they are written, as FastAPI
reads them from the signature."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api import microversion as mv
from app.api.common import UrlProject, optional_str, parse_bool, v3_route
from app.api.deps import ContextDep, VersionDep, WorkDep, min_version
from app.api.faults import missing
from app.api.microversion import APIVersion
from app.api.policy import authorize
from app.api.schemas.contract import returns
from app.api.schemas.manageable import VolumeManageRequest
from app.api.schemas.volumes import VolumeResponse
from app.api.volumes import view
from app.context import RequestContext
from app.errors import BadRequest, Forbidden
from app.volumes.volumes import flows, manage

router = APIRouter(tags=["manageable volumes"])

# Cinder's MANAGE_EXISTING_LIST: /manageable_volumes exists from 3.8.
MANAGE_EXISTING_LIST = APIVersion(3, 8)
MAX_REF_NAME = 255
# manage(request, body, project_id, ctx, work, version): the 202 of a managed resource.
Manage = Callable[[Request, Any, str, RequestContext, WorkDep, APIVersion], Awaitable[JSONResponse]]


def add_manage_routes(
    router: APIRouter,
    resource: str,
    body: type[BaseModel],
    response: type[BaseModel],
    manage: Manage,
) -> None:
    """POST /manageable_<resource>s (from 3.8) and the older POST /os-<resource>-manage,
    both answered by `manage`; `body` and `response` document them."""

    def endpoint(since: APIVersion) -> Callable[..., Awaitable[JSONResponse]]:
        async def manage_existing(
            request: Request,
            payload: body,  # type: ignore[valid-type]
            project_id: UrlProject,
            ctx: ContextDep,
            work: WorkDep,
            version: VersionDep,
        ) -> JSONResponse:
            min_version(since, version)
            return await manage(request, payload, project_id, ctx, work, version)

        return manage_existing

    for path, name, since in (
        (f"/manageable_{resource}s", f"manage_{resource}", MANAGE_EXISTING_LIST),
        (f"/os-{resource}-manage", f"os_{resource}_manage", mv.MIN_VERSION),
    ):
        v3_route(router, "POST", path, name=name, **returns(response, 202))(endpoint(since))


def check_ref(ref: dict[str, Any], resource: str) -> None:
    """A reference must name the storage by `source-name`, as Cinder's drivers take it."""
    source = ref.get("source-name")
    if not isinstance(source, str) or not source.strip() or len(source) > MAX_REF_NAME:
        raise BadRequest(
            f"Manage existing {resource} failed due to invalid backend reference "
            f"{ref}: ref must name the storage as 'source-name', a string of 1 to "
            f"{MAX_REF_NAME} characters."
        )


def parse_manage(body: dict[str, Any]) -> manage.ManageVolume:
    """The `volume` member of the request, with Cinder's 400s."""
    if "ref" not in body:
        raise BadRequest(missing("ref"))
    ref = body["ref"]
    if not isinstance(ref, dict):
        raise BadRequest(
            f"Invalid input for field/attribute ref. Value: {ref}. {ref!r} is not of type 'object'"
        )
    check_ref(ref, "volume")
    if body.get("cluster") is not None:
        raise BadRequest(
            "Managing a volume into a cluster is not supported by this release; give host."
        )
    host = optional_str(body.get("host"), "host")
    if not host or not host.strip():
        raise BadRequest("One and only one of cluster and host must be set.")
    metadata = body.get("metadata")
    return manage.ManageVolume(
        host=host.strip(),
        ref=ref,
        name=optional_str(body.get("name"), "name"),
        description=optional_str(body.get("description"), "description", maximum=65535),
        volume_type=optional_str(body.get("volume_type"), "volume_type") or None,
        availability_zone=optional_str(body.get("availability_zone"), "availability_zone") or None,
        bootable=parse_bool(body.get("bootable") or False, "bootable"),
        metadata=flows.validate_metadata(metadata) if metadata is not None else {},
    )


async def _manage(
    request: Request,
    payload: VolumeManageRequest,
    project_id: str,
    ctx: RequestContext,
    work: WorkDep,
    _version: APIVersion,
) -> JSONResponse:
    authorize(ctx, "volume_extension:volume_manage")
    spec = parse_manage(payload.content)
    if project_id != ctx.project_id:
        raise Forbidden("Volumes are managed into the caller's own project.")
    volume, vtype, outcome = await manage.manage_existing(work.session, work.runtime, ctx, spec)
    work.after_commit(outcome)
    # Cinder answers with the volume as its 3.0 detail view showed it, whatever the
    # version, and without the volumes controller's extension attributes.
    volume_view = view(request, volume, vtype.name, ctx, mv.MIN_VERSION, extended=False)
    return JSONResponse({"volume": volume_view}, status_code=202)


add_manage_routes(router, "volume", VolumeManageRequest, VolumeResponse, _manage)
