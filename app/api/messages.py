"""/v3/{project_id}/messages (from 3.3): why asynchronous operations failed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api import microversion as mv
from app.api.common import (
    ReadDep,
    UrlProject,
    iso,
    next_links,
    page,
    parse_limit,
    self_links,
    v3_route,
)
from app.api.deps import VersionDep, WorkDep, min_version
from app.api.listing import equal_filters
from app.api.policy import may
from app.api.schemas import services as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import Message
from app.errors import NotFound

router = APIRouter(tags=["messages"])
SORT_KEYS = {
    "created_at": Message.created_at,
    "id": Message.id,
    "resource_type": Message.resource_type,
    "event_id": Message.event_id,
}
FILTERS = {
    "resource_uuid": Message.resource_uuid,
    "resource_type": Message.resource_type,
    "event_id": Message.event_id,
    "request_id": Message.request_id,
    "message_level": Message.message_level,
}


def view(request: Request, m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "event_id": m.event_id,
        "user_message": m.user_message,
        "message_level": m.message_level,
        "resource_type": m.resource_type,
        "resource_uuid": m.resource_uuid,
        "created_at": iso(m.created_at),
        "guaranteed_until": iso(m.expires_at),
        "request_id": m.request_id,
        "links": self_links(request, m.project_id, "messages", m.id),
    }


def _scoped(ctx: RequestContext) -> Any:
    query = select(Message)
    return query if ctx.is_admin else query.where(Message.project_id == ctx.project_id)


@v3_route(router, "GET", "/messages", **returns(S.MessageListResponse))
async def list_messages(
    read: ReadDep, ctx: Annotated[RequestContext, may("message:get_all")]
) -> dict[str, Any]:
    min_version(mv.MESSAGES, read.version)
    query = equal_filters(_scoped(ctx), read.request, FILTERS)
    limit = parse_limit(read.request)
    items = await page(
        read.session,
        query,
        Message,
        read.request,
        SORT_KEYS,
        limit,
        _scoped(ctx),
    )
    return {
        "messages": [view(read.request, m) for m in items],
        **next_links(read.request, items, limit, "messages"),
    }


async def _get(session: AsyncSession, ctx: RequestContext, message_id: str) -> Message:
    found = (await session.scalars(_scoped(ctx).where(Message.id == message_id))).first()
    if found is None:
        raise NotFound(f"Message {message_id} could not be found.")
    return found


@v3_route(router, "GET", "/messages/{message_id}", **returns(S.MessageResponse))
async def show_message(
    message_id: str, read: ReadDep, ctx: Annotated[RequestContext, may("message:get")]
) -> dict[str, Any]:
    min_version(mv.MESSAGES, read.version)
    return {"message": view(read.request, await _get(read.session, ctx, message_id))}


@v3_route(router, "DELETE", "/messages/{message_id}", **no_body(204))
async def delete_message(
    message_id: str,
    _p: UrlProject,
    ctx: Annotated[RequestContext, may("message:delete")],
    work: WorkDep,
    version: VersionDep,
) -> Response:
    min_version(mv.MESSAGES, version)
    message = await _get(work.session, ctx, message_id)
    await work.session.execute(delete(Message).where(Message.id == message.id))
    return Response(status_code=204)
