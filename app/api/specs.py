"""The spec routes volume types and group types both have (Cinder's types_extra_specs
and group_types_specs controllers), built once for any type catalog and its SpecStore.

No `from __future__ import annotations` here: the endpoints are built per owner, and
their annotations (each route's policy, the owner's request model) must be evaluated
where they are written, as FastAPI reads them from the signature."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.common import UrlProject, v3_route
from app.api.deps import RuntimeDep, SessionDep, VersionDep, WorkDep, min_version
from app.api.faults import missing
from app.api.microversion import MIN_VERSION, APIVersion
from app.api.policy import may
from app.api.schemas.contract import no_body, returns
from app.api.schemas.types import SpecItemRequest
from app.context import RequestContext
from app.errors import BadRequest, NotFound
from app.runtime import Runtime
from app.volumes.types.specs import SpecStore, TypeCatalog

Find = Callable[[AsyncSession, RequestContext, Runtime, str], Awaitable[Any]]


@dataclass(frozen=True)
class SpecPolicies:
    """Cinder's policy names for listing, showing, setting, updating and deleting specs."""

    index: str
    show: str
    create: str
    update: str
    delete: str

    @classmethod
    def under(cls, prefix: str) -> "SpecPolicies":
        """`<prefix>:index`, `<prefix>:show`... (Cinder's types_extra_specs:*)."""
        return cls(*(f"{prefix}:{op}" for op in ("index", "show", "create", "update", "delete")))

    @classmethod
    def one(cls, name: str) -> "SpecPolicies":
        """One policy for all five (Cinder's group:group_types_specs)."""
        return cls(name, name, name, name, name)


@dataclass(frozen=True)
class SpecRoutes:
    """One type catalog's spec routes under `/{collection}/{type_id}/{store.relation}`."""

    collection: str  # "types"
    store: SpecStore
    catalog: TypeCatalog
    find: Find  # the type the caller may see: find(session, ctx, runtime, type_id)
    policies: SpecPolicies
    request: type[BaseModel]  # the body of POST (the specs to set)
    response: type[BaseModel]  # the body of the list and of POST
    # The specs the caller may see of a type (all of them, unless the view narrows).
    read: Callable[[Any, RequestContext], dict[str, str]] | None = None
    since: APIVersion = MIN_VERSION
    created: int = 200  # POST's status (Cinder's group specs answer 202)

    def add(self, router: APIRouter) -> None:
        store, catalog, find, since = self.store, self.catalog, self.find, self.since
        relation = store.relation
        base = f"/{self.collection}/{{type_id}}/{relation}"
        Index = Annotated[RequestContext, may(self.policies.index)]
        Show = Annotated[RequestContext, may(self.policies.show)]
        Create = Annotated[RequestContext, may(self.policies.create)]
        Update = Annotated[RequestContext, may(self.policies.update)]
        Delete = Annotated[RequestContext, may(self.policies.delete)]
        Specs = self.request

        def visible(owner: Any, ctx: RequestContext) -> dict[str, str]:
            return self.read(owner, ctx) if self.read else store.of(owner)

        @v3_route(router, "GET", base, name="list_specs", **returns(self.response))
        async def list_specs(
            type_id: str,
            _p: UrlProject,
            ctx: Index,
            session: SessionDep,
            runtime: RuntimeDep,
            version: VersionDep,
        ) -> dict[str, Any]:
            min_version(since, version)
            return {relation: visible(await find(session, ctx, runtime, type_id), ctx)}

        @v3_route(router, "POST", base, name="set_specs", **returns(self.response, self.created))
        async def set_specs(
            payload: Specs,  # type: ignore[valid-type]
            type_id: str,
            _p: UrlProject,
            ctx: Create,
            work: WorkDep,
            version: VersionDep,
        ) -> dict[str, Any]:
            min_version(since, version)
            specs = catalog.validate_specs(payload.content)  # type: ignore[attr-defined]
            owner = await find(work.session, ctx, work.runtime, type_id)
            await store.set(work.session, owner, specs)
            return {relation: specs}

        @v3_route(router, "GET", f"{base}/{{key}}", name="show_spec", **returns(dict[str, str]))
        async def show_spec(
            type_id: str,
            key: str,
            _p: UrlProject,
            ctx: Show,
            session: SessionDep,
            runtime: RuntimeDep,
            version: VersionDep,
        ) -> dict[str, Any]:
            min_version(since, version)
            specs = visible(await find(session, ctx, runtime, type_id), ctx)
            if key not in specs:
                raise NotFound(store.missing.format(type_id=type_id, key=key))
            return {key: specs[key]}

        @v3_route(router, "PUT", f"{base}/{{key}}", name="update_spec", **returns(dict[str, str]))
        async def update_spec(
            payload: SpecItemRequest,
            type_id: str,
            key: str,
            _p: UrlProject,
            ctx: Update,
            work: WorkDep,
            version: VersionDep,
        ) -> dict[str, Any]:
            min_version(since, version)
            specs = catalog.validate_specs(payload.raw)
            if list(specs) != [key]:
                raise BadRequest(f"Request body and URI mismatch: {missing(key)}")
            owner = await find(work.session, ctx, work.runtime, type_id)
            await store.set(work.session, owner, specs)
            return specs

        @v3_route(router, "DELETE", f"{base}/{{key}}", name="delete_spec", **no_body(202))
        async def delete_spec(
            type_id: str,
            key: str,
            _p: UrlProject,
            ctx: Delete,
            work: WorkDep,
            version: VersionDep,
        ) -> Response:
            min_version(since, version)
            owner = await find(work.session, ctx, work.runtime, type_id)
            await store.delete(work.session, owner, key)
            return Response(status_code=202)
