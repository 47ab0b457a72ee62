"""/v3/{project_id}/snapshots: create, list, show, update, delete, metadata, actions; and
manage existing snapshot (admin): /manageable_snapshots (3.8+) and /os-snapshot-manage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select

from app.api import microversion as mv
from app.api.actions import action_policy, admin_action_policies, read_action
from app.api.common import (
    CallDep,
    ReadDep,
    iso,
    optional_str,
    parse_bool,
    v3_route,
)
from app.api.deps import ContextDep, SessionDep, WorkDep
from app.api.faults import missing
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.listing import Listing, add_list_routes, columns, equal_filters, metadata_filter
from app.api.manageable import add_manage_routes, check_ref
from app.api.metadata import MetadataPolicies, add_metadata_routes
from app.api.microversion import APIVersion
from app.api.policy import authorize, may
from app.api.schemas import snapshots as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import Snapshot, SnapshotMetadata
from app.errors import BadRequest, Forbidden
from app.volumes.snapshots import flows
from app.volumes.volumes import flows as vflows
from app.volumes.volumes import unmanage

router = APIRouter(tags=["snapshots"])

Getter = Annotated[RequestContext, may("volume:get_snapshot")]
ACTION_POLICIES = {
    **admin_action_policies("snapshot"),
    "os-unmanage": "snapshot_extension:snapshot_unmanage",
}

# Cinder's microversion names for what snapshot views and lists gain.
GROUP_SNAPSHOTS = APIVersion(3, 14)
SNAPSHOT_LIST_METADATA_FILTER = APIVersion(3, 22)
SNAPSHOT_LIST_USER_ID = APIVersion(3, 41)

SORT_KEYS = columns(
    Snapshot,
    *("created_at", "updated_at", "id", "name", "size", "status", "volume_id"),
    display_name="name",
)


# A snapshot's fields: Cinder's summary view (the first nine; list and manage), its v3
# detail view (create, update, show, list detail) adding the versioned ones, and the
# extended_snapshot_attributes extension (show and list detail only).
ALWAYS = Field()
EXTENDED = Field(policy="volume_extension:extended_snapshot_attributes")
FIELDS = {
    "id": ALWAYS,
    "name": ALWAYS,
    "description": ALWAYS,
    "volume_id": ALWAYS,
    "size": ALWAYS,
    "status": ALWAYS,
    "created_at": ALWAYS,
    "updated_at": ALWAYS,
    "metadata": ALWAYS,
    "os-extended-snapshot-attributes:progress": EXTENDED,
    "os-extended-snapshot-attributes:project_id": EXTENDED,
    "group_snapshot_id": Field(GROUP_SNAPSHOTS),
    "user_id": Field(SNAPSHOT_LIST_USER_ID),
    "consumes_quota": Field(mv.USE_QUOTA),
}


def view(
    snapshot: Snapshot,
    version: APIVersion,
    ctx: RequestContext,
    *,
    detail: bool = True,
    extended: bool = False,
) -> dict[str, Any]:
    """The summary view, or with `detail` Cinder's v3 detail; `extended` (show and list
    detail) adds the extension's attributes."""
    values: dict[str, Any] = {
        "id": snapshot.id,
        "name": snapshot.name,
        "description": snapshot.description,
        "volume_id": snapshot.volume_id,
        "size": snapshot.size,
        "status": snapshot.status,
        "created_at": iso(snapshot.created_at),
        "updated_at": iso(snapshot.updated_at),
        "metadata": {m.key: m.value for m in snapshot.snapshot_metadata},
    }
    if detail:
        values.update(
            group_snapshot_id=snapshot.group_snapshot_id,
            user_id=snapshot.user_id,
            consumes_quota=True,
        )
    if extended:
        values["os-extended-snapshot-attributes:progress"] = snapshot.progress
        values["os-extended-snapshot-attributes:project_id"] = snapshot.project_id
    return select_fields(FIELDS, values, version, ctx)


def _texts(body: dict[str, Any]) -> dict[str, str | None]:
    """name and description (or Cinder's older display_* names) present in `body`."""
    out: dict[str, str | None] = {}
    for key, alias, maximum in (
        ("name", "display_name", 255),
        ("description", "display_description", 65535),
    ):
        if key in body or alias in body:
            out[key] = optional_str(body.get(key, body.get(alias)), key, maximum)
    return out


def _metadata_of(body: dict[str, Any]) -> dict[str, str]:
    metadata = body.get("metadata")
    return vflows.validate_metadata(metadata) if metadata is not None else {}


def _volume_id(body: dict[str, Any]) -> str:
    volume_id = body.get("volume_id")
    if not isinstance(volume_id, str) or not volume_id:
        raise BadRequest(
            "Invalid input for field/attribute snapshot. 'volume_id' is a required property"
        )
    return volume_id


@v3_route(router, "POST", "/snapshots", **returns(S.SnapshotResponse, 202))
async def create_snapshot(
    payload: S.SnapshotCreateRequest,
    call: CallDep,
    ctx: Annotated[RequestContext, may("volume:create_snapshot")],
) -> JSONResponse:
    body = payload.content
    texts = _texts(body)
    spec = flows.CreateSnapshot(
        volume_id=_volume_id(body),
        name=texts.get("name"),
        description=texts.get("description"),
        force=parse_bool(body.get("force") or False, "force"),
        metadata=_metadata_of(body),
    )
    if call.project_id != ctx.project_id:
        raise Forbidden("Snapshots are created in the caller's own project.")
    snapshot, outcome = await flows.create(call.work.session, call.work.runtime, ctx, spec)
    call.work.after_commit(outcome)
    return JSONResponse({"snapshot": view(snapshot, call.version, ctx)}, status_code=202)


LISTING = Listing("snapshots", flows.SNAPSHOTS, SORT_KEYS)
EQUAL_FILTERS = columns(Snapshot, "name", "status", "volume_id", display_name="name")


async def _list(
    request: Request, ctx: RequestContext, session: SessionDep, version: APIVersion, detail: bool
) -> dict[str, Any]:
    params = request.query_params

    def where(query: Select[Any], tenants: bool) -> Select[Any]:
        query = equal_filters(query, request, EQUAL_FILTERS)
        if "project_id" in params and ctx.is_admin and tenants:
            query = query.where(Snapshot.project_id == params["project_id"])
        if "metadata" in params and version >= SNAPSHOT_LIST_METADATA_FILTER:
            query = metadata_filter(
                query, params["metadata"], Snapshot.id, SnapshotMetadata.snapshot_id
            )
        return query

    async def render(items: list[Snapshot]) -> list[dict[str, Any]]:
        return [view(s, version, ctx, detail=detail, extended=detail) for s in items]

    return await LISTING.answer(request, ctx, session, version, where, render)


add_list_routes(
    router,
    "snapshots",
    "volume:get_all_snapshots",
    (S.SnapshotListResponse, S.SnapshotListResponse),
    _list,
)


@v3_route(router, "GET", "/snapshots/{snapshot_id}", **returns(S.SnapshotResponse))
async def show_snapshot(snapshot_id: str, read: ReadDep, ctx: Getter) -> dict[str, Any]:
    snapshot = await flows.get(read.session, ctx, snapshot_id)
    return {"snapshot": view(snapshot, read.version, ctx, extended=True)}


@v3_route(router, "PUT", "/snapshots/{snapshot_id}", **returns(S.SnapshotResponse))
async def update_snapshot(
    payload: S.SnapshotUpdateRequest,
    snapshot_id: str,
    call: CallDep,
    ctx: Annotated[RequestContext, may("volume:update_snapshot")],
) -> dict[str, Any]:
    body = payload.content
    changes = _texts(body)
    if not changes:
        raise BadRequest(
            "Invalid input for field/attribute snapshot: nothing to update (name or description)."
        )
    snapshot = await flows.get(call.work.session, ctx, snapshot_id, for_update=True)
    await flows.update_snapshot(call.work.session, snapshot, changes)
    return {"snapshot": view(snapshot, call.version, ctx)}


@v3_route(router, "DELETE", "/snapshots/{snapshot_id}", **no_body(202))
async def delete_snapshot(
    snapshot_id: str, call: CallDep, ctx: Annotated[RequestContext, may("volume:delete_snapshot")]
) -> Response:
    outcome = vflows.Outcome()
    snapshot, volume = await flows.get_locked(call.work.session, ctx, snapshot_id)
    await flows.delete_snapshot(
        call.work.session, call.work.runtime, snapshot, volume, ctx.request_id, outcome
    )
    call.work.after_commit(outcome)
    return Response(status_code=202)


# --- metadata -----------------------------------------------------------------------------

add_metadata_routes(
    router,
    "snapshots",
    flows.SNAPSHOT_METADATA,
    flows.get,
    MetadataPolicies(
        read="volume:get_snapshot_metadata",
        create="volume:update_snapshot_metadata",
        update="volume:update_snapshot_metadata",
        delete="volume:delete_snapshot_metadata",
    ),
)


# --- actions ------------------------------------------------------------------------------


@v3_route(router, "POST", "/snapshots/{snapshot_id}/action", **no_body(202))
async def snapshot_action(
    payload: S.SnapshotActionRequest, snapshot_id: str, call: CallDep, ctx: ContextDep
) -> Response:
    action, args = read_action(payload)
    policy = action_policy(ACTION_POLICIES, action)
    session = call.work.session
    if not ctx.is_admin:
        # Not found first for another project's snapshot, as every other request.
        await flows.get(session, ctx, snapshot_id)
        authorize(ctx, policy)
    outcome = vflows.Outcome()
    forced = action == "os-force_delete"
    snapshot, volume = await flows.get_locked(session, ctx, snapshot_id, with_jobs=forced)
    if forced:
        await flows.delete_snapshot(
            session, call.work.runtime, snapshot, volume, ctx.request_id, outcome, force=True
        )
    elif action == "os-unmanage":
        outcome = await unmanage.unmanage_snapshot(
            session, call.work.runtime, snapshot, volume, ctx.request_id
        )
    else:
        await flows.reset_status(session, snapshot, args.get("status"))
    call.work.after_commit(outcome)
    return Response(status_code=202)


# --- manage existing ----------------------------------------------------------------------


def parse_manage(body: dict[str, Any]) -> flows.ManageSnapshot:
    ref = body.get("ref")
    if not isinstance(ref, dict):
        raise BadRequest(missing("ref"))
    check_ref(ref, "snapshot")
    texts = _texts(body)
    return flows.ManageSnapshot(
        volume_id=_volume_id(body),
        ref=ref,
        name=texts.get("name"),
        description=texts.get("description"),
        metadata=_metadata_of(body),
    )


async def _manage(
    _request: Request,
    payload: S.SnapshotManageRequest,
    _project_id: str,
    ctx: RequestContext,
    work: WorkDep,
    version: APIVersion,
) -> JSONResponse:
    authorize(ctx, "snapshot_extension:snapshot_manage")
    spec = parse_manage(payload.content)
    snapshot, outcome = await flows.manage_existing(work.session, work.runtime, ctx, spec)
    work.after_commit(outcome)
    # Cinder's snapshot_manage answers with the summary view, whatever the version.
    return JSONResponse({"snapshot": view(snapshot, version, ctx, detail=False)}, status_code=202)


add_manage_routes(router, "snapshot", S.SnapshotManageRequest, S.SnapshotResponse, _manage)
