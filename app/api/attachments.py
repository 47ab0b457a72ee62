"""/v3/{project_id}/attachments (3.27+): reserve a volume for a host, connect it (an
update with the host's connector answers with connection_info once the agent has
exported the volume), complete (3.44), list, show and delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.actions import action_policy, read_action_name
from app.api.common import UrlProject, iso, optional_str, v3_route
from app.api.deps import (
    ContextDep,
    RuntimeDep,
    SessionDep,
    VersionDep,
    WorkDep,
    min_version,
    request_work,
)
from app.api.listing import Listing, add_list_routes, columns
from app.api.microversion import APIVersion
from app.api.policy import authorize, may
from app.api.schemas import attachments as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import Volume, VolumeAttachment
from app.errors import BadRequest
from app.volumes.attachments import connect
from app.volumes.attachments import flows as attachments
from app.volumes.kernel.repository import Repository
from app.volumes.kernel.states import AttachStatus
from app.volumes.volumes import flows as volumes

router = APIRouter(tags=["attachments"])

# Cinder's microversions of the attachments API.
NEW_ATTACH = APIVersion(3, 27)
NEW_ATTACH_COMPLETION = APIVersion(3, 44)
ATTACHMENT_CREATE_MODE_ARG = APIVersion(3, 54)

ACTION_POLICIES = {"os-complete": "volume:attachment_complete"}

ATTACHMENTS = Repository(VolumeAttachment, "Volume attachment")
SORT_KEYS = columns(VolumeAttachment, "created_at", "updated_at", "id", "volume_id")
FILTERS = columns(
    VolumeAttachment,
    "volume_id",
    "attach_status",
    instance_id="instance_uuid",
    status="attach_status",
)
LISTING = Listing("attachments", ATTACHMENTS, SORT_KEYS)


def summary(attachment: VolumeAttachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "status": attachment.attach_status,
        "instance": attachment.instance_uuid,
        "volume_id": attachment.volume_id,
    }


def detail(
    attachment: VolumeAttachment, connection_info: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Cinder's detail view; the stored connection_info holds no CHAP secret, only the
    answer to the request that connected (`connection_info`) does."""
    return {
        **summary(attachment),
        # Cinder's view gives '' for a time not set yet.
        "attached_at": iso(attachment.attach_time) or "",
        "detached_at": iso(attachment.detach_time) or "",
        "attach_mode": attachment.attach_mode,
        "connection_info": connection_info or attachment.connection_info,
    }


async def _answer(
    runtime: RuntimeDep, ctx: RequestContext, attachment_id: str, job_id: int | None
) -> dict[str, Any]:
    """The attachment after its work committed: connected first when a job was queued."""
    info = None
    if job_id is not None:
        info = await connect.connection(runtime, attachment_id, job_id, ctx.request_id)
    async with runtime.sessionmaker() as session:
        attachment = await attachments.get(session, ctx, attachment_id)
        return {"attachment": detail(attachment, info)}


async def _locked(
    session: AsyncSession, ctx: RequestContext, attachment_id: str
) -> tuple[Volume, VolumeAttachment]:
    """The attachment and its volume, the volume locked first (the lock order)."""
    found = await attachments.get(session, ctx, attachment_id)
    volume = await volumes.get(session, ctx, found.volume_id, for_update=True)
    return volume, await attachments.get(session, ctx, attachment_id)


@v3_route(router, "POST", "/attachments", **returns(S.AttachmentResponse))
async def create_attachment(
    request: Request,
    payload: S.AttachmentCreateRequest,
    _p: UrlProject,
    ctx: Annotated[RequestContext, may("volume:attachment_create")],
    runtime: RuntimeDep,
    version: VersionDep,
) -> JSONResponse:
    min_version(NEW_ATTACH, version)
    body = payload.content
    instance_uuid = optional_str(body.get("instance_uuid"), "instance_uuid")
    volume_id = optional_str(body.get("volume_uuid"), "volume_uuid")
    if not volume_id:
        raise BadRequest("Must specify 'volume_uuid' to create attachment.")
    mode = optional_str(body.get("mode"), "mode") if version >= ATTACHMENT_CREATE_MODE_ARG else None
    # An empty connector reserves only, as in Cinder: cinderclient and the openstack
    # client send {} when not told to connect.
    connector = body.get("connector") or None
    job_id = None
    async with request_work(request, runtime) as work:
        volume = await volumes.get(work.session, ctx, volume_id, for_update=True)
        attachment = await attachments.reserve(work.session, ctx, volume, instance_uuid, mode)
        if connector is not None:
            job = await attachments.connect(
                work.session,
                runtime,
                volume,
                attachment,
                attachments.parse_connector(connector),
                ctx.request_id,
            )
            job_id = job.id
            work.after_commit(volumes.Outcome(job_queued=True))
        attachment_id = attachment.id
    return JSONResponse(await _answer(runtime, ctx, attachment_id, job_id))


async def _list(
    request: Request, ctx: RequestContext, session: SessionDep, version: APIVersion, detail_: bool
) -> dict[str, Any]:
    min_version(NEW_ATTACH, version)

    def where(query: Select[Any], _tenants: bool) -> Select[Any]:
        query = query.where(VolumeAttachment.attach_status != AttachStatus.DETACHED)
        for name, column in FILTERS.items():
            if name in request.query_params:
                query = query.where(column == request.query_params[name])
        return query

    async def render(items: list[VolumeAttachment]) -> list[dict[str, Any]]:
        return [detail(a) if detail_ else summary(a) for a in items]

    return await LISTING.answer(request, ctx, session, version, where, render)


add_list_routes(
    router,
    "attachments",
    "volume:get_all",
    (S.AttachmentListResponse, S.AttachmentDetailListResponse),
    _list,
)


@v3_route(router, "GET", "/attachments/{attachment_id}", **returns(S.AttachmentResponse))
async def show_attachment(
    attachment_id: str,
    _p: UrlProject,
    ctx: Annotated[RequestContext, may("volume:get")],
    session: SessionDep,
    version: VersionDep,
) -> dict[str, Any]:
    min_version(NEW_ATTACH, version)
    return {"attachment": detail(await attachments.get(session, ctx, attachment_id))}


@v3_route(router, "PUT", "/attachments/{attachment_id}", **returns(S.AttachmentResponse))
async def update_attachment(
    request: Request,
    payload: S.AttachmentUpdateRequest,
    attachment_id: str,
    _p: UrlProject,
    ctx: Annotated[RequestContext, may("volume:attachment_update")],
    runtime: RuntimeDep,
    version: VersionDep,
) -> JSONResponse:
    min_version(NEW_ATTACH, version)
    body = payload.content
    if not body.get("connector"):
        raise BadRequest("Must specify 'connector' to update attachment.")
    connector = attachments.parse_connector(body["connector"])
    async with request_work(request, runtime) as work:
        volume, attachment = await _locked(work.session, ctx, attachment_id)
        job = await attachments.connect(
            work.session, runtime, volume, attachment, connector, ctx.request_id
        )
        work.after_commit(volumes.Outcome(job_queued=True))
    return JSONResponse(await _answer(runtime, ctx, attachment_id, job.id))


@v3_route(router, "POST", "/attachments/{attachment_id}/action", **no_body(204))
async def attachment_action(
    payload: S.AttachmentActionRequest,
    attachment_id: str,
    _p: UrlProject,
    ctx: ContextDep,
    work: WorkDep,
    version: VersionDep,
) -> Response:
    min_version(NEW_ATTACH_COMPLETION, version)
    action = read_action_name(payload)
    authorize(ctx, action_policy(ACTION_POLICIES, action))
    volume, attachment = await _locked(work.session, ctx, attachment_id)
    await attachments.complete(work.session, volume, attachment)
    return Response(status_code=204)


@v3_route(router, "DELETE", "/attachments/{attachment_id}", **returns(S.AttachmentListResponse))
async def delete_attachment(
    attachment_id: str,
    _p: UrlProject,
    ctx: Annotated[RequestContext, may("volume:attachment_delete")],
    work: WorkDep,
    version: VersionDep,
) -> dict[str, Any]:
    """Cinder answers with the attachments of the volume that are left."""
    min_version(NEW_ATTACH, version)
    volume, attachment = await _locked(work.session, ctx, attachment_id)
    attachments.check_may_delete(ctx, attachment)
    left, outcome = await attachments.remove(
        work.session, work.runtime, volume, attachment, ctx.request_id
    )
    work.after_commit(outcome)
    return {"attachments": [summary(a) for a in left]}
