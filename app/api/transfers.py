"""Volume transfers: /v3/{project_id}/volume-transfers (3.55+, Cinder's
cinder/api/v3/volume_transfer.py) and the older /os-volume-transfer
(cinder/api/contrib/volume_transfer.py), both built from one set of endpoints.

The newer routes show `no_snapshots` from 3.55 and the transfer's history
(`source_project_id`, `destination_project_id`, `accepted`) from 3.57; the older ones
show Cinder's base view at any version. The auth key is in the create's answer only.

No `from __future__ import annotations` here: the routes are built per path, and their
annotations must be evaluated where they are written, as FastAPI reads them."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from app.api import microversion as mv
from app.api.common import (
    ReadDep,
    UrlProject,
    all_tenants,
    iso,
    next_links,
    optional_str,
    page,
    parse_bool,
    parse_limit,
    self_links,
    v3_route,
)
from app.api.deps import VersionDep, WorkDep, min_version
from app.api.faults import missing
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.listing import columns
from app.api.microversion import APIVersion
from app.api.policy import may
from app.api.schemas import transfers as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import Transfer
from app.errors import BadRequest
from app.volumes.transfers import flows

router = APIRouter(tags=["volume transfers"])

# Cinder's TRANSFER_WITH_SNAPSHOTS and TRANSFER_WITH_HISTORY.
TRANSFER_WITH_SNAPSHOTS = APIVersion(3, 55)
TRANSFER_WITH_HISTORY = APIVersion(3, 57)

SORT_KEYS = columns(Transfer, "created_at", "id", "volume_id", name="display_name")

FIELDS = {
    "id": Field(),
    "created_at": Field(),
    "name": Field(),
    "volume_id": Field(),
    "auth_key": Field(),
    "no_snapshots": Field(TRANSFER_WITH_SNAPSHOTS),
    "destination_project_id": Field(TRANSFER_WITH_HISTORY),
    "source_project_id": Field(TRANSFER_WITH_HISTORY),
    "accepted": Field(TRANSFER_WITH_HISTORY),
    "links": Field(),
}
SUMMARY = ("id", "name", "volume_id", "links")


@dataclass(frozen=True)
class Path:
    """One of the two paths transfers live under."""

    collection: str  # "volume-transfers"
    since: APIVersion
    versioned: bool  # whether the view grows with the microversion

    def view(
        self,
        request: Request,
        project_id: str,
        transfer: Transfer,
        ctx: RequestContext,
        version: APIVersion,
        *,
        summary: bool = False,
        auth_key: str | None = None,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": transfer.id,
            "created_at": iso(transfer.created_at),
            "name": transfer.display_name,
            "volume_id": transfer.volume_id,
            "no_snapshots": transfer.no_snapshots,
            "destination_project_id": transfer.destination_project_id,
            "source_project_id": transfer.source_project_id,
            "accepted": transfer.accepted,
            "links": self_links(request, project_id, self.collection, transfer.id),
        }
        if auth_key is not None:
            values["auth_key"] = auth_key
        if summary:
            values = {k: values[k] for k in SUMMARY}
        shown = version if self.versioned else mv.MIN_VERSION
        return select_fields(FIELDS, values, shown, ctx)


PATHS = (
    Path("volume-transfers", TRANSFER_WITH_SNAPSHOTS, versioned=True),
    Path("os-volume-transfer", mv.MIN_VERSION, versioned=False),
)


def parse_create(body: dict[str, Any], path: Path, version: APIVersion) -> flows.NewTransfer:
    if body.get("volume_id") is None:
        raise BadRequest(missing("volume_id"))
    volume_id = optional_str(body["volume_id"], "volume_id", 36) or ""
    no_snapshots = False
    if path.versioned and version >= TRANSFER_WITH_SNAPSHOTS and "no_snapshots" in body:
        no_snapshots = parse_bool(body["no_snapshots"], "no_snapshots")
    return flows.NewTransfer(
        volume_id=volume_id,
        name=optional_str(body.get("name"), "name"),
        no_snapshots=no_snapshots,
    )


Endpoint = Callable[..., Awaitable[Any]]


def add_transfer_routes(path: Path) -> None:
    prefix, name = f"/{path.collection}", path.collection.replace("-", "_")

    async def create(
        request: Request,
        payload: S.TransferCreateRequest,
        project_id: UrlProject,
        ctx: Annotated[RequestContext, may("volume:create_transfer")],
        work: WorkDep,
        version: VersionDep,
    ) -> JSONResponse:
        min_version(path.since, version)
        spec = parse_create(payload.content, path, version)
        transfer, auth_key = await flows.create(work.session, ctx, spec)
        body = path.view(request, project_id, transfer, ctx, version, auth_key=auth_key)
        return JSONResponse({"transfer": body}, status_code=202)

    async def listing(read: ReadDep, ctx: RequestContext, detail: bool) -> dict[str, Any]:
        min_version(path.since, read.version)
        request = read.request
        tenants = all_tenants(request, ctx)
        visible = flows.visible(select(Transfer), ctx, tenants)
        query = visible
        if "name" in request.query_params:
            query = query.where(Transfer.display_name == request.query_params["name"])
        if "volume_id" in request.query_params:
            query = query.where(Transfer.volume_id == request.query_params["volume_id"])
        limit = parse_limit(request)
        items = await page(read.session, query, Transfer, request, SORT_KEYS, limit, visible)
        return {
            "transfers": [
                path.view(request, read.project_id, t, ctx, read.version, summary=not detail)
                for t in items
            ],
            **next_links(request, items, limit, "transfers"),
        }

    Lister = Annotated[RequestContext, may("volume:get_all_transfers")]

    async def summaries(read: ReadDep, ctx: Lister) -> dict[str, Any]:
        return await listing(read, ctx, False)

    async def details(read: ReadDep, ctx: Lister) -> dict[str, Any]:
        return await listing(read, ctx, True)

    async def show(
        transfer_id: str,
        read: ReadDep,
        ctx: Annotated[RequestContext, may("volume:get_transfer")],
    ) -> dict[str, Any]:
        min_version(path.since, read.version)
        transfer = await flows.get(read.session, ctx, transfer_id)
        body = path.view(read.request, read.project_id, transfer, ctx, read.version)
        return {"transfer": body}

    async def cancel(
        transfer_id: str,
        _p: UrlProject,
        ctx: Annotated[RequestContext, may("volume:delete_transfer")],
        work: WorkDep,
        version: VersionDep,
    ) -> Response:
        min_version(path.since, version)
        await flows.cancel(work.session, ctx, transfer_id)
        return Response(status_code=202)

    async def accept(
        request: Request,
        transfer_id: str,
        payload: S.TransferAcceptRequest,
        project_id: UrlProject,
        ctx: Annotated[RequestContext, may("volume:accept_transfer")],
        work: WorkDep,
        version: VersionDep,
    ) -> JSONResponse:
        min_version(path.since, version)
        auth_key = payload.content.get("auth_key")
        if auth_key is None:
            raise BadRequest(missing("auth_key"))
        if not isinstance(auth_key, str):
            raise BadRequest("Invalid input for field/attribute auth_key: it must be a string.")
        transfer = await flows.accept(work.session, work.runtime, ctx, transfer_id, auth_key)
        body = path.view(request, project_id, transfer, ctx, version, summary=True)
        return JSONResponse({"transfer": body}, status_code=202)

    routes: list[tuple[str, str, str, Endpoint, dict[str, Any]]] = [
        ("POST", prefix, f"create_{name}", create, returns(S.TransferCreateResponse, 202)),
        ("GET", prefix, f"list_{name}", summaries, returns(S.TransferListResponse)),
        (
            "GET",
            f"{prefix}/detail",
            f"list_{name}_detail",
            details,
            returns(S.TransferDetailListResponse),
        ),
        ("GET", f"{prefix}/{{transfer_id}}", f"show_{name}", show, returns(S.TransferResponse)),
        ("DELETE", f"{prefix}/{{transfer_id}}", f"delete_{name}", cancel, no_body(202)),
        (
            "POST",
            f"{prefix}/{{transfer_id}}/accept",
            f"accept_{name}",
            accept,
            returns(S.TransferAcceptResponse, 202),
        ),
    ]
    for method, route, route_name, endpoint, options in routes:
        v3_route(router, method, route, name=route_name, **options)(endpoint)


for _path in PATHS:
    add_transfer_routes(_path)
