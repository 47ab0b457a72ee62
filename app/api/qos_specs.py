"""/v3/{project_id}/qos-specs: QoS specs and their association with volume types.

Every call is the admin's (Cinder's default policy for each qos-specs API, named here). Cinder's odd
verbs are kept: associations are changed with GETs, keys removed with a PUT."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.common import (
    CallDep,
    ReadDep,
    UrlProject,
    page,
    parse_bool,
    parse_limit,
    self_links,
    v3_route,
)
from app.api.deps import RuntimeDep, SessionDep
from app.api.listing import equal_filters
from app.api.policy import may
from app.api.schemas import qos_specs as S
from app.api.schemas.contract import no_body, returns
from app.context import RequestContext
from app.db.models import QosSpecs
from app.errors import BadRequest
from app.volumes.kernel.work import unit_of_work
from app.volumes.types import qos_specs as qos

router = APIRouter(tags=["qos specs"])

COLLECTION = "qos-specs"
SORT_KEYS = {
    "id": QosSpecs.id,
    "name": QosSpecs.name,
    "consumer": QosSpecs.consumer,
    "created_at": QosSpecs.created_at,
}
FILTERS = {"id": QosSpecs.id, "name": QosSpecs.name, "consumer": QosSpecs.consumer}


def view(spec: QosSpecs) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "consumer": spec.consumer,
        "specs": qos.specs_of(spec),
    }


def detail(request: Request, project_id: str, spec: QosSpecs) -> dict[str, Any]:
    return {"qos_specs": view(spec), "links": self_links(request, project_id, COLLECTION, spec.id)}


def vol_type_id(request: Request) -> str:
    type_id = request.query_params.get("vol_type_id")
    if not type_id:
        raise BadRequest("Volume Type id must not be None.")
    return type_id


Lister = Annotated[RequestContext, may("volume_extension:qos_specs_manage:get_all")]
Reader = Annotated[RequestContext, may("volume_extension:qos_specs_manage:get")]
Creator = Annotated[RequestContext, may("volume_extension:qos_specs_manage:create")]
Updater = Annotated[RequestContext, may("volume_extension:qos_specs_manage:update")]
Deleter = Annotated[RequestContext, may("volume_extension:qos_specs_manage:delete")]


@v3_route(router, "GET", "/qos-specs", **returns(S.QosSpecsListResponse))
async def list_qos_specs(read: ReadDep, _ctx: Lister) -> dict[str, Any]:
    query = equal_filters(select(QosSpecs), read.request, FILTERS)
    found = await page(
        read.session,
        query,
        QosSpecs,
        read.request,
        SORT_KEYS,
        parse_limit(read.request),
        select(QosSpecs),
    )
    # Cinder's list has neither links nor a next link.
    return {"qos_specs": [view(s) for s in found]}


@v3_route(router, "POST", "/qos-specs", **returns(S.QosSpecsResponse))
async def create_qos_specs(
    payload: S.QosSpecsCreateRequest, call: CallDep, _ctx: Creator
) -> dict[str, Any]:
    name, consumer, specs = qos.parse_create(payload.content)
    created = await qos.create(call.work.session, name, consumer, specs)
    return detail(call.request, call.project_id, created)


@v3_route(router, "GET", "/qos-specs/{qos_id}", **returns(S.QosSpecsResponse))
async def show_qos_specs(qos_id: str, read: ReadDep, _ctx: Reader) -> dict[str, Any]:
    return detail(read.request, read.project_id, await qos.get(read.session, qos_id))


@v3_route(router, "PUT", "/qos-specs/{qos_id}", **returns(S.QosSpecsUpdateResponse))
async def update_qos_specs(
    payload: S.QosSpecsUpdateRequest, qos_id: str, call: CallDep, _ctx: Updater
) -> dict[str, Any]:
    changes = qos.parse_update(payload.content)
    await qos.set_values(
        call.work.session, await qos.get(call.work.session, qos_id, lock=True), changes
    )
    # Cinder answers with what was set.
    return {"qos_specs": changes}


@v3_route(router, "PUT", "/qos-specs/{qos_id}/delete_keys", **no_body(202))
async def delete_keys(
    payload: S.QosKeysRequest, qos_id: str, call: CallDep, _ctx: Deleter
) -> Response:
    keys = qos.parse_keys(payload.raw["keys"])
    await qos.delete_keys(
        call.work.session, await qos.get(call.work.session, qos_id, lock=True), keys
    )
    return Response(status_code=202)


@v3_route(router, "DELETE", "/qos-specs/{qos_id}", **no_body(202))
async def delete_qos_specs(qos_id: str, call: CallDep, _ctx: Deleter) -> Response:
    raw = call.request.query_params.get("force")
    force = False if raw is None else parse_bool(raw, "force")
    await qos.remove(call.work.session, await qos.get(call.work.session, qos_id, lock=True), force)
    return Response(status_code=202)


@v3_route(router, "GET", "/qos-specs/{qos_id}/associations", **returns(S.QosAssociationsResponse))
async def list_associations(
    qos_id: str, _p: UrlProject, _ctx: Lister, session: SessionDep
) -> dict[str, Any]:
    types = await qos.associated_types(session, await qos.get(session, qos_id))
    return {
        "qos_associations": [
            {"association_type": "volume_type", "name": t.name, "id": t.id} for t in types
        ]
    }


# Cinder changes associations with GETs; the request's unit of work (WorkDep) reads
# through the read-only engine on a GET, so these three write in a unit of work of
# their own on the writing one.


# How each association GET changes the specs' types: (the specs, the request's
# vol_type_id, "" when it takes none) → the change, made in the unit of work.
Change = Callable[[AsyncSession, QosSpecs, str], Awaitable[None]]
ASSOCIATIONS: dict[str, tuple[bool, Change]] = {
    # name: (takes a vol_type_id, the change)
    "associate": (True, qos.associate),
    "disassociate": (True, qos.disassociate),
    "disassociate_all": (False, lambda s, specs, _: qos.disassociate_all(s, specs)),
}


def _association_route(name: str, typed: bool, change: Change) -> None:
    async def endpoint(
        request: Request, qos_id: str, _p: UrlProject, _ctx: Updater, runtime: RuntimeDep
    ) -> Response:
        type_id = vol_type_id(request) if typed else ""
        async with unit_of_work(runtime) as work:
            await change(work.session, await qos.get(work.session, qos_id, lock=True), type_id)
        return Response(status_code=202)

    v3_route(router, "GET", f"/qos-specs/{{qos_id}}/{name}", name=name, **no_body(202))(endpoint)


for _name, (_typed, _change) in ASSOCIATIONS.items():
    _association_route(_name, _typed, _change)
