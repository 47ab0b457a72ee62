"""The metadata routes volumes and snapshots both have (Cinder's volume_metadata and
snapshot_metadata controllers), built once for any owner with a MetadataStore.

No `from __future__ import annotations` here: the endpoints are built per owner, and
their annotations (the owner's path parameter, each route's policy) must be evaluated
where they are written, as FastAPI reads them from the signature."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from app.api.common import UrlProject, v3_route
from app.api.deps import SessionDep, WorkDep
from app.api.policy import may
from app.api.schemas.contract import no_body, returns
from app.api.schemas.volumes import (
    MetadataRequest,
    MetadataResponse,
    MetaItemRequest,
    MetaItemResponse,
)
from app.context import RequestContext
from app.errors import BadRequest, NotFound
from app.volumes.kernel.metadata import MetadataStore
from app.volumes.volumes.flows import validate_metadata


@dataclass(frozen=True)
class MetadataPolicies:
    """Cinder's policy names for reading and writing one owner's metadata."""

    read: str
    create: str
    update: str
    delete: str


def add_metadata_routes(
    router: APIRouter,
    collection: str,
    store: MetadataStore,
    get: Callable[..., Awaitable[Any]],
    policies: MetadataPolicies,
) -> None:
    """GET/POST/PUT `/{collection}/{<owner>_id}/metadata` and GET/PUT/DELETE
    `.../metadata/{key}`; `get(session, ctx, owner_id, for_update=...)` finds the owner
    the caller may see."""
    id_name = store.owner_column  # the path parameter: "volume_id"
    base = f"/{collection}/{{{id_name}}}/metadata"
    OwnerId = Annotated[str, Path(alias=id_name, title=id_name.replace("_", " ").title())]
    Reader = Annotated[RequestContext, may(policies.read)]
    Updater = Annotated[RequestContext, may(policies.update)]
    Deleter = Annotated[RequestContext, may(policies.delete)]

    def current(owner: Any) -> dict[str, str]:
        return {m.key: m.value for m in getattr(owner, store.relation)}

    def writer(policy: str, replace: bool) -> Callable[..., Awaitable[dict[str, Any]]]:
        """POST merges the body's metadata into the owner's, PUT replaces it."""
        Ctx = Annotated[RequestContext, may(policy)]
        write = store.replace if replace else store.merge

        async def write_metadata(
            payload: MetadataRequest, owner_id: OwnerId, _p: UrlProject, ctx: Ctx, work: WorkDep
        ) -> dict[str, Any]:
            metadata = validate_metadata(payload.raw.get("metadata"))
            owner = await get(work.session, ctx, owner_id, for_update=True)
            await write(work.session, owner, metadata)
            return {"metadata": current(owner)}

        return write_metadata

    @v3_route(router, "GET", base, **returns(MetadataResponse))
    async def get_metadata(
        owner_id: OwnerId, _p: UrlProject, ctx: Reader, session: SessionDep
    ) -> dict[str, Any]:
        return {"metadata": current(await get(session, ctx, owner_id))}

    for method, name, policy, replace in (
        ("POST", "merge_metadata", policies.create, False),
        ("PUT", "replace_metadata", policies.update, True),
    ):
        v3_route(router, method, base, name=name, **returns(MetadataResponse))(
            writer(policy, replace)
        )

    @v3_route(router, "GET", f"{base}/{{key}}", **returns(MetaItemResponse))
    async def get_metadata_item(
        owner_id: OwnerId, key: str, _p: UrlProject, ctx: Reader, session: SessionDep
    ) -> dict[str, Any]:
        metadata = current(await get(session, ctx, owner_id))
        if key not in metadata:
            raise NotFound(f"Metadata key {key} could not be found for {store.noun} {owner_id}.")
        return {"meta": {key: metadata[key]}}

    @v3_route(router, "PUT", f"{base}/{{key}}", **returns(MetaItemResponse))
    async def set_metadata_item(
        payload: MetaItemRequest,
        owner_id: OwnerId,
        key: str,
        _p: UrlProject,
        ctx: Updater,
        work: WorkDep,
    ) -> dict[str, Any]:
        body = payload.raw
        meta = validate_metadata(body.get("meta"))
        if len(meta) != 1 or key not in meta:
            raise BadRequest(
                "Request body and URI mismatch: 'meta' must hold exactly the key of the URI."
            )
        owner = await get(work.session, ctx, owner_id, for_update=True)
        await store.merge(work.session, owner, meta)
        return {"meta": meta}

    @v3_route(router, "DELETE", f"{base}/{{key}}", **no_body(200))
    async def delete_metadata_item(
        owner_id: OwnerId, key: str, _p: UrlProject, ctx: Deleter, work: WorkDep
    ) -> Response:
        owner = await get(work.session, ctx, owner_id, for_update=True)
        await store.delete_key(work.session, owner, key)
        return Response(status_code=200)
