"""The list endpoints volumes, snapshots, backups and groups share: the pair
`GET /{collection}` and `GET /{collection}/detail`, one page of the rows the caller
sees (filters, sort, marker and limit, the next link), and the count (3.45).

No `from __future__ import annotations` here: the list endpoints are built per
collection, and their annotations (each collection's policy) must be evaluated where
they are written, as FastAPI reads them from the signature."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.api import microversion as mv
from app.api.common import (
    UrlProject,
    all_tenants,
    json_filter,
    next_links,
    page,
    parse_bool,
    parse_limit,
    v3_route,
)
from app.api.deps import SessionDep, VersionDep
from app.api.microversion import APIVersion
from app.api.policy import may
from app.api.schemas.contract import returns
from app.context import RequestContext
from app.volumes.kernel.repository import Repository
from app.volumes.volumes.flows import count

Columns = Mapping[str, InstrumentedAttribute[Any]]
# A list's own filters: (the visible rows, whether all tenants were asked) → narrowed.
Where = Callable[[Select[Any], bool], Select[Any]]
Render = Callable[[list[Any]], Awaitable[list[dict[str, Any]]]]


def columns(model: Any, *names: str, **aliases: str) -> dict[str, InstrumentedAttribute[Any]]:
    """The query keys of a list (sort keys, filters) → `model`'s columns of those names;
    `aliases` are other keys for a column (`display_name="name"`)."""
    named = {name: getattr(model, name) for name in names}
    return named | {alias: getattr(model, name) for alias, name in aliases.items()}


def equal_filters(query: Select[Any], request: Request, columns: Columns) -> Select[Any]:
    """`?key=value` for each of `columns` the query string names: rows where it equals."""
    params = request.query_params
    for key, column in columns.items():
        if key in params:
            query = query.where(column == params[key])
    return query


def project_filter(
    query: Select[Any], request: Request, ctx: RequestContext, column: Any
) -> Select[Any]:
    """`?project_id=...`, an admin's filter (a project's caller sees only its own)."""
    if "project_id" in request.query_params and ctx.is_admin:
        query = query.where(column == request.query_params["project_id"])
    return query


def metadata_filter(
    query: Select[Any], raw: str, owner_id: InstrumentedAttribute[Any], item_owner: Any
) -> Select[Any]:
    """`?metadata={"k": "v"}`: the rows (`owner_id`, e.g. Volume.id) holding every pair
    in their metadata rows (`item_owner`, e.g. VolumeMetadata.volume_id)."""
    item = item_owner.class_
    for key, value in json_filter(raw, "metadata").items():
        query = query.where(
            owner_id.in_(select(item_owner).where(item.key == key, item.value == value))
        )
    return query


@dataclass(frozen=True)
class Listing:
    """One collection's list: its rows as the caller sees them and its sort keys."""

    name: str  # the body's key: "volumes"
    repository: Repository[Any]
    sort_keys: dict[str, InstrumentedAttribute[Any]]
    links: str = ""  # the next link's prefix, when not `name` (Cinder's groups: "group")
    counted: bool = True  # ?with_count (3.45)

    async def answer(
        self,
        request: Request,
        ctx: RequestContext,
        session: AsyncSession,
        version: APIVersion,
        where: Where,
        render: Render,
    ) -> dict[str, Any]:
        """`{name: [rendered rows], name_links: [next]?, count?}` for one page."""
        tenants = all_tenants(request, ctx)
        visible = self.repository.visible(select(self.repository.model), ctx, tenants)
        query = where(visible, tenants)
        limit = parse_limit(request)
        model = self.repository.model
        items = await page(session, query, model, request, self.sort_keys, limit, visible)
        out: dict[str, Any] = {
            self.name: await render(items),
            **next_links(request, items, limit, self.links or self.name),
        }
        params = request.query_params
        if (
            self.counted
            and version >= mv.SUPPORT_COUNT_INFO
            and "with_count" in params
            and parse_bool(params["with_count"], "with_count")
        ):
            out["count"] = await count(session, query)
        return out


Lister = Callable[[Request, RequestContext, AsyncSession, APIVersion, bool], Awaitable[Any]]


def add_list_routes(
    router: APIRouter,
    collection: str,
    policy: str,
    models: tuple[type[BaseModel], type[BaseModel]],
    lister: Lister,
) -> None:
    """`GET /{collection}` (named list_<collection>) and `GET /{collection}/detail`
    (list_<collection>_detail), answered by `lister(..., detail)`; `models` document
    the list and the detail list."""
    Ctx = Annotated[RequestContext, may(policy)]

    async def summaries(
        request: Request, _p: UrlProject, ctx: Ctx, session: SessionDep, version: VersionDep
    ) -> dict[str, Any]:
        return await lister(request, ctx, session, version, False)

    async def details(
        request: Request, _p: UrlProject, ctx: Ctx, session: SessionDep, version: VersionDep
    ) -> dict[str, Any]:
        return await lister(request, ctx, session, version, True)

    name = collection.replace("-", "_")
    v3_route(router, "GET", f"/{collection}", name=f"list_{name}", **returns(models[0]))(summaries)
    v3_route(
        router, "GET", f"/{collection}/detail", name=f"list_{name}_detail", **returns(models[1])
    )(details)
