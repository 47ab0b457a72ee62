"""/v3/{project_id}/qos-specs: QoS specs and their association with volume types.

Every call is the admin's (Cinder's default policy for each qos-specs API, named here). Cinder's odd
verbs are kept: associations are changed with GETs, keys removed with a PUT."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from app.api.common import (
    UrlProject,
    page,
    parse_bool,
    parse_limit,
    parse_sort,
    read_body,
    self_links,
    v3_route,
)
from app.api.deps import RuntimeDep, SessionDep, WorkDep
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
async def list_qos_specs(
    request: Request, _p: UrlProject, _ctx: Lister, session: SessionDep
) -> dict[str, Any]:
    query = select(QosSpecs)
    for name, column in FILTERS.items():
        value = request.query_params.get(name)
        if value is not None:
            query = query.where(column == value)
    found = await page(
        session,
        query,
        QosSpecs,
        request,
        parse_sort(request, SORT_KEYS),
        parse_limit(request),
        select(QosSpecs),
    )
    # Cinder's list has neither links nor a next link.
    return {"qos_specs": [view(s) for s in found]}


@v3_route(router, "POST", "/qos-specs", **returns(S.QosSpecsResponse))
async def create_qos_specs(
    request: Request,
    _body: S.QosSpecsCreateRequest,
    project_id: UrlProject,
    _ctx: Creator,
    work: WorkDep,
) -> dict[str, Any]:
    name, consumer, specs = qos.parse_create(await read_body(request, "qos_specs"))
    created = await qos.create(work.session, name, consumer, specs)
    return detail(request, project_id, created)


@v3_route(router, "GET", "/qos-specs/{qos_id}", **returns(S.QosSpecsResponse))
async def show_qos_specs(
    request: Request, qos_id: str, project_id: UrlProject, _ctx: Reader, session: SessionDep
) -> dict[str, Any]:
    return detail(request, project_id, await qos.get(session, qos_id))


@v3_route(router, "PUT", "/qos-specs/{qos_id}", **returns(S.QosSpecsUpdateResponse))
async def update_qos_specs(
    request: Request,
    _body: S.QosSpecsUpdateRequest,
    qos_id: str,
    _p: UrlProject,
    _ctx: Updater,
    work: WorkDep,
) -> dict[str, Any]:
    changes = qos.parse_update(await read_body(request, "qos_specs"))
    await qos.set_values(work.session, await qos.get(work.session, qos_id, lock=True), changes)
    # Cinder answers with what was set.
    return {"qos_specs": changes}


@v3_route(router, "PUT", "/qos-specs/{qos_id}/delete_keys", **no_body(202))
async def delete_keys(
    request: Request,
    _body: S.QosKeysRequest,
    qos_id: str,
    _p: UrlProject,
    _ctx: Deleter,
    work: WorkDep,
) -> Response:
    body = await read_body(request)
    if "keys" not in body:
        raise BadRequest("Missing required element 'keys' in request body.")
    keys = qos.parse_keys(body["keys"])
    await qos.delete_keys(work.session, await qos.get(work.session, qos_id, lock=True), keys)
    return Response(status_code=202)


@v3_route(router, "DELETE", "/qos-specs/{qos_id}", **no_body(202))
async def delete_qos_specs(
    request: Request, qos_id: str, _p: UrlProject, _ctx: Deleter, work: WorkDep
) -> Response:
    raw = request.query_params.get("force")
    force = False if raw is None else parse_bool(raw, "force")
    await qos.remove(work.session, await qos.get(work.session, qos_id, lock=True), force)
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


@v3_route(router, "GET", "/qos-specs/{qos_id}/associate", **no_body(202))
async def associate(
    request: Request, qos_id: str, _p: UrlProject, _ctx: Updater, runtime: RuntimeDep
) -> Response:
    type_id = vol_type_id(request)
    async with unit_of_work(runtime) as work:
        await qos.associate(work.session, await qos.get(work.session, qos_id, lock=True), type_id)
    return Response(status_code=202)


@v3_route(router, "GET", "/qos-specs/{qos_id}/disassociate", **no_body(202))
async def disassociate(
    request: Request, qos_id: str, _p: UrlProject, _ctx: Updater, runtime: RuntimeDep
) -> Response:
    type_id = vol_type_id(request)
    async with unit_of_work(runtime) as work:
        specs = await qos.get(work.session, qos_id, lock=True)
        await qos.disassociate(work.session, specs, type_id)
    return Response(status_code=202)


@v3_route(router, "GET", "/qos-specs/{qos_id}/disassociate_all", **no_body(202))
async def disassociate_all(
    qos_id: str, _p: UrlProject, _ctx: Updater, runtime: RuntimeDep
) -> Response:
    async with unit_of_work(runtime) as work:
        await qos.disassociate_all(work.session, await qos.get(work.session, qos_id, lock=True))
    return Response(status_code=202)
