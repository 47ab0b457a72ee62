"""Manageable listings (admin, 3.8+): GET /v3/{project_id}/manageable_volumes[/detail]
and /manageable_snapshots[/detail] (Cinder's cinder/api/v3/resource_common_manage.py and
views/manageable_volumes.py, manageable_snapshots.py): what a backend holds, asked of
its agent by a job (app/volumes/volumes/unmanage.py), sorted and paged here as Cinder
pages a driver's list (by `reference` or `size`; marker, limit, offset).

No `from __future__ import annotations` here: the routes are built per resource, and
their annotations must be evaluated where they are written, as FastAPI reads them."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request

from app.api.common import UrlProject, parse_int, v3_route
from app.api.deps import ContextDep, RuntimeDep, VersionDep, min_version
from app.api.manageable import MANAGE_EXISTING_LIST
from app.api.microversion import APIVersion
from app.api.policy import authorize
from app.api.schemas import manageable_lists as S
from app.api.schemas.contract import returns
from app.errors import BadRequest
from app.volumes.kernel.outcome import Outcome
from app.volumes.kernel.work import unit_of_work
from app.volumes.volumes import unmanage

router = APIRouter(tags=["manageable volumes"])

# Cinder's MANAGE_EXISTING_CLUSTER: `cluster` instead of `host`.
MANAGE_EXISTING_CLUSTER = APIVersion(3, 17)
SORT_KEYS = ("reference", "size")
SUMMARY = {
    "volume": ("reference", "size", "safe_to_manage"),
    "snapshot": ("reference", "size", "safe_to_manage", "source_reference"),
}
DETAIL = ("reason_not_safe", "cinder_id", "extra_info")


def parse_host(request: Request, version: APIVersion) -> str:
    params = request.query_params
    cluster, host = params.get("cluster"), params.get("host")
    if cluster is not None and version >= MANAGE_EXISTING_CLUSTER:
        if host is not None:
            raise BadRequest("One and only one of cluster and host must be set.")
        raise BadRequest("Listing a cluster's storage is not supported by this release; give host.")
    if not host or not host.strip():
        if version >= MANAGE_EXISTING_CLUSTER:
            raise BadRequest("One and only one of cluster and host must be set.")
        raise BadRequest("Invalid input received: host parameter is required.")
    return host.strip()


def parse_sort(request: Request) -> list[tuple[str, bool]]:
    """[(key, descending)] from `sort=key[:dir],...` or `sort_key`/`sort_dir` (Cinder's
    default: reference, descending)."""
    params = request.query_params
    if "sort" in params:
        pairs = []
        for part in params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key.strip(), direction.strip() or "desc"))
    else:
        keys = params.get("sort_key", params.get("sort_keys", "reference")).split(",")
        dirs = params.get("sort_dir", params.get("sort_dirs", "desc")).split(",")
        pairs = [
            (k.strip(), (dirs[i] if i < len(dirs) else dirs[-1]).strip())
            for i, k in enumerate(keys)
        ]
    bad_keys = sorted({k for k, _ in pairs} - set(SORT_KEYS))
    if bad_keys:
        raise BadRequest(f"Invalid sort keys passed: {', '.join(bad_keys)}")
    bad_dirs = sorted({d for _, d in pairs} - {"asc", "desc"})
    if bad_dirs:
        raise BadRequest(f"Invalid sort dirs passed: {', '.join(bad_dirs)}")
    return [(k, d == "desc") for k, d in pairs]


def _sort_value(item: dict[str, Any], key: str) -> Any:
    value = item[key]
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else value


def paginate(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    """Cinder's paginate_entries_list: sorted, after the marker (a reference, as JSON or
    a bare source-name), from `offset`, at most `limit`."""
    params = request.query_params
    ordered = list(items)
    for key, descending in reversed(parse_sort(request)):  # stable: last key first
        ordered.sort(key=lambda item: _sort_value(item, key), reverse=descending)
    start = 0
    if "marker" in params:
        raw = params["marker"]
        try:
            marker = json.loads(raw)
        except ValueError:
            marker = {"source-name": raw}
        if not isinstance(marker, dict):
            marker = {"source-name": raw}
        found = next((i for i, item in enumerate(ordered) if item["reference"] == marker), None)
        if found is None:
            raise BadRequest(f"Invalid input received: marker not found: {raw}")
        start = found + 1
    offset = parse_int(params["offset"], "offset", minimum=0) if "offset" in params else 0
    limit = parse_int(params["limit"], "limit", minimum=0) if "limit" in params else None
    start += offset
    return ordered[start : None if limit is None else start + limit]


def view(item: dict[str, Any], resource: str, detail: bool) -> dict[str, Any]:
    """Cinder's summary (reference, size, safe_to_manage; a snapshot's source_reference)
    or detail view (with reason_not_safe, cinder_id, extra_info) of an agent's item."""
    values = {**item, "source_reference": item.get("source_reference") or {}}
    names = SUMMARY[resource] + (DETAIL if detail else ())
    return {name: values[name] for name in names}


def add_listing_routes(resource: str, policy: str) -> None:
    collection = f"manageable_{resource}s"

    def endpoint(detail: bool) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def listing(
            request: Request,
            _p: UrlProject,
            ctx: ContextDep,
            runtime: RuntimeDep,
            version: VersionDep,
        ) -> dict[str, Any]:
            min_version(MANAGE_EXISTING_LIST, version)
            authorize(ctx, policy)
            host = parse_host(request, version)
            parse_sort(request)  # refused before the agent is asked
            # A job is written: the primary's sessions, whatever the method.
            async with unit_of_work(runtime, runtime.sessionmaker, ctx.request_id) as work:
                job = await unmanage.queue_listing(
                    work.session, runtime, host, resource, ctx.request_id
                )
                await work.session.flush()
                job_id = job.id
                work.after_commit(Outcome(job_queued=True))
            found = await unmanage.listing_answer(runtime, job_id, ctx.request_id)
            page = paginate([item.model_dump(mode="json") for item in found], request)
            return {f"manageable-{resource}s": [view(i, resource, detail) for i in page]}

        return listing

    models = S.MODELS[resource]
    v3_route(router, "GET", f"/{collection}", name=f"list_{collection}", **returns(models[0]))(
        endpoint(False)
    )
    v3_route(
        router,
        "GET",
        f"/{collection}/detail",
        name=f"list_{collection}_detail",
        **returns(models[1]),
    )(endpoint(True))


add_listing_routes("volume", "volume_extension:list_manageable")
add_listing_routes("snapshot", "snapshot_extension:list_manageable")
