"""/v3/{project_id}/qos-specs: QoS specs and their association with volume types.

Every call is the admin's (Cinder's default policy for each qos-specs API). Cinder's odd
verbs are kept: associations are changed with GETs, keys removed with a PUT."""

from __future__ import annotations

from typing import Any

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
from app.api.deps import AdminDep, SessionDep
from app.db.models import QosSpecs
from app.errors import BadRequest
from app.volumes import qos_specs as qos

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


@v3_route(router, "GET", "/qos-specs")
async def list_qos_specs(
    request: Request, _p: UrlProject, _ctx: AdminDep, session: SessionDep
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


@v3_route(router, "POST", "/qos-specs")
async def create_qos_specs(
    request: Request, project_id: UrlProject, _ctx: AdminDep, session: SessionDep
) -> dict[str, Any]:
    name, consumer, specs = qos.parse_create(await read_body(request, "qos_specs"))
    async with session.begin():
        created = await qos.create(session, name, consumer, specs)
    return detail(request, project_id, created)


@v3_route(router, "GET", "/qos-specs/{qos_id}")
async def show_qos_specs(
    request: Request, qos_id: str, project_id: UrlProject, _ctx: AdminDep, session: SessionDep
) -> dict[str, Any]:
    return detail(request, project_id, await qos.get(session, qos_id))


@v3_route(router, "PUT", "/qos-specs/{qos_id}")
async def update_qos_specs(
    request: Request, qos_id: str, _p: UrlProject, _ctx: AdminDep, session: SessionDep
) -> dict[str, Any]:
    changes = qos.parse_update(await read_body(request, "qos_specs"))
    async with session.begin():
        await qos.set_values(session, await qos.get(session, qos_id, lock=True), changes)
    # Cinder answers with what was set.
    return {"qos_specs": changes}


@v3_route(router, "PUT", "/qos-specs/{qos_id}/delete_keys", status_code=202)
async def delete_keys(
    request: Request, qos_id: str, _p: UrlProject, _ctx: AdminDep, session: SessionDep
) -> Response:
    body = await read_body(request)
    if "keys" not in body:
        raise BadRequest("Missing required element 'keys' in request body.")
    keys = qos.parse_keys(body["keys"])
    async with session.begin():
        await qos.delete_keys(session, await qos.get(session, qos_id, lock=True), keys)
    return Response(status_code=202)


@v3_route(router, "DELETE", "/qos-specs/{qos_id}", status_code=202)
async def delete_qos_specs(
    request: Request, qos_id: str, _p: UrlProject, _ctx: AdminDep, session: SessionDep
) -> Response:
    raw = request.query_params.get("force")
    force = False if raw is None else parse_bool(raw, "force")
    async with session.begin():
        await qos.remove(session, await qos.get(session, qos_id, lock=True), force)
    return Response(status_code=202)


@v3_route(router, "GET", "/qos-specs/{qos_id}/associations")
async def list_associations(
    qos_id: str, _p: UrlProject, _ctx: AdminDep, session: SessionDep
) -> dict[str, Any]:
    types = await qos.associated_types(session, await qos.get(session, qos_id))
    return {
        "qos_associations": [
            {"association_type": "volume_type", "name": t.name, "id": t.id} for t in types
        ]
    }


@v3_route(router, "GET", "/qos-specs/{qos_id}/associate", status_code=202)
async def associate(
    request: Request, qos_id: str, _p: UrlProject, _ctx: AdminDep, session: SessionDep
) -> Response:
    type_id = vol_type_id(request)
    async with session.begin():
        await qos.associate(session, await qos.get(session, qos_id, lock=True), type_id)
    return Response(status_code=202)


@v3_route(router, "GET", "/qos-specs/{qos_id}/disassociate", status_code=202)
async def disassociate(
    request: Request, qos_id: str, _p: UrlProject, _ctx: AdminDep, session: SessionDep
) -> Response:
    type_id = vol_type_id(request)
    async with session.begin():
        await qos.disassociate(session, await qos.get(session, qos_id, lock=True), type_id)
    return Response(status_code=202)


@v3_route(router, "GET", "/qos-specs/{qos_id}/disassociate_all", status_code=202)
async def disassociate_all(
    qos_id: str, _p: UrlProject, _ctx: AdminDep, session: SessionDep
) -> Response:
    async with session.begin():
        await qos.disassociate_all(session, await qos.get(session, qos_id, lock=True))
    return Response(status_code=202)
