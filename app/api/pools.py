"""/v3/{project_id}/scheduler-stats/get_pools and /capabilities/{host} (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from app.api import microversion as mv
from app.api.common import ReadDep, UrlProject, iso, parse_bool, v3_route
from app.api.deps import RuntimeDep
from app.api.policy import may
from app.api.schemas import services as S
from app.api.schemas.contract import returns
from app.api.volumes import parse_create
from app.context import RequestContext
from app.errors import NotFound
from app.scheduler.filters.capabilities import CapabilitiesFilter
from app.scheduler.request import VolumeRequest
from app.volumes.types import types as vtypes
from app.volumes.volumes import flows

router = APIRouter(tags=["pools"])


@v3_route(router, "GET", "/scheduler-stats/get_pools", **returns(S.PoolListResponse))
async def get_pools(
    read: ReadDep,
    ctx: Annotated[RequestContext, may("scheduler_extension:scheduler_stats:get_pools")],
) -> dict[str, Any]:
    params = read.request.query_params
    detail = parse_bool(params.get("detail", "false"), "detail")
    wanted: VolumeRequest | None = None
    if "volume_type" in params and read.version >= mv.POOL_TYPE_FILTER:
        # Pools whose capabilities satisfy the type (Cinder, 3.35).
        vtype = await vtypes.get(read.session, ctx, params["volume_type"])
        wanted = VolumeRequest(size_gb=0, extra_specs=vtypes.specs_of(vtype))
    capabilities_filter = CapabilitiesFilter()
    out = []
    for pool in read.runtime.cache.pools():
        if wanted is not None and not capabilities_filter.passes(pool, wanted):
            continue
        if "name" in params and pool.key != params["name"]:
            continue
        if (
            "backend_name" in params
            and pool.capabilities.get("volume_backend_name") != params["backend_name"]
        ):
            continue
        entry: dict[str, Any] = {"name": pool.key}
        if detail:
            caps = {k: v for k, v in pool.capabilities.items() if k != "storage_protocol"}
            caps["storage_protocol"] = _protocol(pool.capabilities.get("storage_protocol"))
            caps["allocated_capacity_gb"] = max(pool.allocated_gb, pool.reported_allocated_gb)
            backend = read.runtime.cache.backend(pool.host)
            caps["timestamp"] = iso(backend.reported_at) if backend else None
            entry["capabilities"] = caps
        out.append(entry)
    return {"pools": out}


def _protocol(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


@v3_route(router, "POST", "/scheduler-stats/dry-run", **returns(S.DryRunResponse))
async def dry_run(
    payload: S.DryRunRequest,
    read: ReadDep,
    ctx: Annotated[RequestContext, may("scheduler_extension:scheduler_stats:dry_run")],
) -> dict[str, Any]:
    """Not in Cinder: rank the pools for a volume request without creating anything,
    with each filter's verdict ("CapacityFilter removed 812 of 1000 pools")."""
    spec = parse_create(payload.content, payload.raw.get("OS-SCH-HNT:scheduler_hints"))
    return {"dry_run": await flows.dry_run(read.session, read.runtime, ctx, spec)}


@v3_route(router, "GET", "/capabilities/{host}", **returns(S.CapabilitiesResponse))
async def capabilities(
    host: str,
    _p: UrlProject,
    _ctx: Annotated[RequestContext, may("volume_extension:capabilities")],
    runtime: RuntimeDep,
) -> dict[str, Any]:
    backend = runtime.cache.backend(host)
    if backend is None:
        raise NotFound(f"Backend {host} could not be found.")
    report = backend.capabilities
    properties = {}
    first = next(iter(backend.pools.values()), None)
    if first is not None:
        for key, value in first.capabilities.items():
            if key in (
                "pool_name",
                "total_capacity_gb",
                "free_capacity_gb",
                "allocated_capacity_gb",
                "provisioned_capacity_gb",
            ):
                continue
            properties[key] = {"title": key, "description": key, "type": type(value).__name__}
    return {
        "namespace": f"OS::Storage::Capabilities::{host}",
        "vendor_name": report.get("vendor_name"),
        "volume_backend_name": report.get("volume_backend_name"),
        "pool_name": None,
        "driver_version": report.get("driver_version"),
        "storage_protocol": report.get("storage_protocol"),
        "display_name": None,
        "description": None,
        "visibility": None,
        "replication_targets": [],
        "properties": properties,
    }
