"""Manage existing volumes (admin only, Cinder's volume_extension:volume_manage):
POST /v3/{project_id}/manageable_volumes (3.8+) and the older /os-volume-manage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api import microversion as mv
from app.api.common import UrlProject, optional_str, parse_bool, read_body, v3_route
from app.api.deps import ContextDep, VersionDep, WorkDep, min_version
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


def parse_manage(body: dict[str, Any]) -> manage.ManageVolume:
    """The `volume` member of the request, with Cinder's 400s."""
    if "ref" not in body:
        raise BadRequest("Missing required element 'ref' in request body.")
    ref = body["ref"]
    if not isinstance(ref, dict):
        raise BadRequest(
            f"Invalid input for field/attribute ref. Value: {ref}. {ref!r} is not of type 'object'"
        )
    source = ref.get("source-name")
    if not isinstance(source, str) or not source.strip() or len(source) > MAX_REF_NAME:
        raise BadRequest(
            "Manage existing volume failed due to invalid backend reference "
            f"{ref}: ref must name the storage as 'source-name', a string of 1 to "
            f"{MAX_REF_NAME} characters."
        )
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
    project_id: str,
    ctx: RequestContext,
    work: WorkDep,
    version: APIVersion,
) -> JSONResponse:
    authorize(ctx, "volume_extension:volume_manage")
    body = await read_body(request, "volume")
    spec = parse_manage(body)
    if project_id != ctx.project_id:
        raise Forbidden("Volumes are managed into the caller's own project.")
    volume, vtype, outcome = await manage.manage_existing(work.session, work.runtime, ctx, spec)
    work.after_commit(outcome)
    # Cinder answers with the volume as its 3.0 detail view showed it, whatever the
    # version, and without the volumes controller's extension attributes.
    volume_view = view(request, volume, vtype.name, ctx, mv.MIN_VERSION, extended=False)
    return JSONResponse({"volume": volume_view}, status_code=202)


@v3_route(router, "POST", "/manageable_volumes", **returns(VolumeResponse, 202))
async def manage_volume(
    request: Request,
    _body: VolumeManageRequest,
    project_id: UrlProject,
    ctx: ContextDep,
    work: WorkDep,
    version: VersionDep,
) -> JSONResponse:
    min_version(MANAGE_EXISTING_LIST, version)
    return await _manage(request, project_id, ctx, work, version)


@v3_route(router, "POST", "/os-volume-manage", **returns(VolumeResponse, 202))
async def os_volume_manage(
    request: Request,
    _body: VolumeManageRequest,
    project_id: UrlProject,
    ctx: ContextDep,
    work: WorkDep,
    version: VersionDep,
) -> JSONResponse:
    return await _manage(request, project_id, ctx, work, version)
