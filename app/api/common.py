"""What every Block Storage router shares: both URL forms, Cinder's checks of body values,
timestamps, pagination and sorting (bodies are decoded once, by their model:
app/api/schemas/volumes.py RequestBody)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.api.deps import (
    ContextDep,
    RuntimeDep,
    SessionDep,
    VersionDep,
    WorkDep,
    min_version,
    project_scope,
)
from app.api.microversion import PROJECT_ID_OPTIONAL, APIVersion
from app.api.schemas.contract import FAULT_RESPONSES
from app.context import RequestContext
from app.errors import BadRequest, NotFound
from app.runtime import Runtime
from app.volumes.kernel.work import UnitOfWork

MAX_LIMIT = 1000
DB_MAX_INT = 0x7FFFFFFF


def v3_route(
    router: APIRouter, method: str, path: str, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an endpoint at /v3/{project_id}{path} and, from 3.67, at /v3{path}."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        # The project comes from request.path_params (url_project), so FastAPI cannot see
        # it: declare it, or generated clients drop the operation for an undeclared
        # parameter of its path.
        # The microversion header is read by middleware, so it is declared here too.
        extra = {"parameters": [PROJECT_ID_PARAMETER, MICROVERSION_PARAMETER]}
        options = {**kwargs, "responses": {**FAULT_RESPONSES, **kwargs.get("responses", {})}}
        router.add_api_route(
            f"/v3/{{project_id}}{path}", endpoint, methods=[method], openapi_extra=extra, **options
        )
        router.add_api_route(
            f"/v3{path}", endpoint, methods=[method], include_in_schema=False, **options
        )
        return endpoint

    return register


PROJECT_ID_PARAMETER = {
    "name": "project_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The project (tenant) the request acts in; from 3.67 it may be left out.",
}
MICROVERSION_PARAMETER = {
    "name": "OpenStack-API-Version",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "example": "volume 3.71",
    "description": "The microversion asked for (`volume 3.0` when left out, `volume latest`).",
}


def operation_id(route: APIRoute) -> str:
    """`<tag>_<verb>`, as a person names an operation (`volumes_create`,
    `volume_types_list_specs`): the endpoint's name less the words its tag says."""
    tag = str(route.tags[0]).replace(" ", "_") if route.tags else ""
    words = route.name.split("_")
    resource = {w for part in tag.split("_") for w in (part, part.rstrip("s"))}
    verb = [w for w in words if w not in resource] or words
    return "_".join([tag, *verb]) if tag else route.name


def url_project(request: Request, ctx: ContextDep, version: VersionDep) -> str:
    """The project the URL names (or the caller's, on the 3.67 form without one)."""
    project_id = request.path_params.get("project_id")
    if project_id is None:
        min_version(PROJECT_ID_OPTIONAL, version)
        return ctx.project_id
    project_scope(project_id, ctx)
    return str(project_id)


UrlProject = Annotated[str, Depends(url_project)]


@dataclass(frozen=True)
class Call:
    """What a route takes besides its own parameters and its policy, declared once: the
    request, the project its URL names (checked against the caller's), its unit of work
    (on a GET, on the read-only engine) and its microversion."""

    request: Request
    project_id: str
    work: UnitOfWork
    version: APIVersion


def get_call(request: Request, project_id: UrlProject, work: WorkDep, version: VersionDep) -> Call:
    return Call(request, project_id, work, version)


CallDep = Annotated[Call, Depends(get_call)]


@dataclass(frozen=True)
class Reading:
    """What a reading route takes besides its own parameters and its policy: the request,
    the project its URL names, a session (on the read-only engine for a GET), the
    runtime and the microversion."""

    request: Request
    project_id: str
    session: AsyncSession
    runtime: Runtime
    version: APIVersion


def get_reading(
    request: Request,
    project_id: UrlProject,
    session: SessionDep,
    runtime: RuntimeDep,
    version: VersionDep,
) -> Reading:
    return Reading(request, project_id, session, runtime, version)


ReadDep = Annotated[Reading, Depends(get_reading)]


def storable(text: str) -> bool:
    """Whether every database can hold this string: no NUL (PostgreSQL refuses it in
    text) and no lone surrogate (not encodable as UTF-8; JSON can carry one)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(body: Any) -> None:
    """400 for a body with a string (key or value, at any depth) no database can store."""
    pending = [body]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not storable(item):
                raise BadRequest(
                    "Invalid input: strings must not contain NUL characters or lone surrogates."
                )
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def parse_int(value: Any, field: str, minimum: int = 0, maximum: int = DB_MAX_INT) -> int:
    if isinstance(value, bool) or value is None:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. {value} is not an integer."
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"'{value}' does not match '^[0-9]+$'"
        )
    if number < minimum:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"{value} is less than the minimum of {minimum}"
        )
    if number > maximum:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"{value} is greater than the maximum of {maximum}"
        )
    return number


def parse_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "true",
        "false",
        "1",
        "0",
        "yes",
        "no",
        "on",
        "off",
        "t",
        "f",
        "y",
        "n",
    ):
        return value.strip().lower() in ("true", "1", "yes", "on", "t", "y")
    raise BadRequest(
        f"Invalid input for field/attribute {field}. Value: {value}. It is not a boolean."
    )


def optional_str(value: Any, field: str, maximum: int = 255) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"{value!r} is not of type 'string'"
        )
    if len(value) > maximum:
        raise BadRequest(
            f"Invalid input for field/attribute {field}: longer than {maximum} characters."
        )
    return value


def iso(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") if dt else None


def base_url(request: Request) -> str:
    public = request.app.state.runtime.settings.public_url
    return str(public or request.base_url).rstrip("/")


def self_links(
    request: Request, project_id: str, collection: str, item_id: str
) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"href": f"{base}/v3/{project_id}/{collection}/{item_id}", "rel": "self"},
        {"href": f"{base}/{project_id}/{collection}/{item_id}", "rel": "bookmark"},
    ]


# --- listing ---------------------------------------------------------------------------------


def parse_sort(
    request: Request, allowed: dict[str, InstrumentedAttribute[Any]], default: str = "created_at"
) -> list[tuple[InstrumentedAttribute[Any], bool]]:
    """`sort=key[:dir],...` or `sort_key`/`sort_dir`: [(column, descending)]."""
    params = request.query_params
    pairs: list[tuple[str, str]] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise BadRequest(
                "The 'sort_key' and 'sort_dir' parameters are deprecated and "
                "cannot be used with the 'sort' parameter."
            )
        for part in params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key.strip(), direction.strip() or "desc"))
    else:
        keys = params.get("sort_key", default).split(",")
        dirs = params.get("sort_dir", "desc").split(",")
        pairs = [
            (k.strip(), (dirs[i] if i < len(dirs) else dirs[-1]).strip())
            for i, k in enumerate(keys)
        ]
    out = []
    for key, direction in pairs:
        if key not in allowed:
            raise BadRequest(f"Invalid sort key {key!r}; use one of {', '.join(sorted(allowed))}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction {direction!r}; use 'asc' or 'desc'.")
        out.append((allowed[key], direction == "desc"))
    return out


def parse_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return MAX_LIMIT
    return min(parse_int(raw, "limit", minimum=0), MAX_LIMIT)


def parse_offset(request: Request) -> int:
    raw = request.query_params.get("offset")
    return 0 if raw is None else parse_int(raw, "offset", minimum=0)


async def page(
    session: AsyncSession,
    query: Select[Any],
    model: Any,
    request: Request,
    sort_keys: dict[str, InstrumentedAttribute[Any]],
    limit: int,
    marker_query: Select[Any] | None,
) -> list[Any]:
    """Keyset pagination: rows after the marker in (sort keys..., id) order; the sort,
    marker and offset are the request's (`sort_keys`: the keys it may sort by)."""
    sort = parse_sort(request, sort_keys)
    order = [*sort, (model.id, sort[-1][1] if sort else True)]
    marker = request.query_params.get("marker")
    if marker:
        if marker_query is None:
            raise BadRequest("marker is not supported here")
        row = (await session.scalars(marker_query.where(model.id == marker))).first()
        if row is None:
            # Cinder's MarkerNotFound is a NotFound.
            raise NotFound(f"Marker {marker} could not be found.")
        conditions = []
        for i, (column, desc) in enumerate(order):
            value = getattr(row, column.key)
            equal = [c == getattr(row, c.key) for c, _ in order[:i]]
            after = column < value if desc else column > value
            conditions.append(and_(*equal, after))
        query = query.where(or_(*conditions))
    query = query.order_by(*[c.desc() if d else c.asc() for c, d in order])
    query = query.offset(parse_offset(request)).limit(limit)
    return list((await session.scalars(query)).all())


def next_links(
    request: Request, items: Sequence[Any], limit: int, name: str
) -> dict[str, list[dict[str, str]]]:
    if not items or len(items) < limit:
        return {}
    params = dict(request.query_params)
    params.update({"limit": str(limit), "marker": items[-1].id})
    url = f"{base_url(request)}{request.url.path}?{urlencode(params)}"
    return {f"{name}_links": [{"href": url, "rel": "next"}]}


def json_filter(raw: str, field: str) -> dict[str, str]:
    """`metadata={"k": "v"}` (JSON, or Cinder's python-ish dict with single quotes)."""
    for text in (raw, raw.replace("'", '"')):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    raise BadRequest(f"Invalid filter {field}={raw}: it must be a JSON object.")


def all_tenants(request: Request, ctx: RequestContext) -> bool:
    raw = request.query_params.get("all_tenants")
    return bool(ctx.is_admin and raw is not None and parse_bool(raw or "true", "all_tenants"))
