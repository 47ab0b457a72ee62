"""/v3/{project_id}/os-availability-zone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.common import UrlProject, v3_route
from app.api.deps import ContextDep, RuntimeDep
from app.api.schemas import services as S
from app.api.schemas.contract import returns

router = APIRouter(tags=["availability zones"])


@v3_route(router, "GET", "/os-availability-zone", **returns(S.ZoneListResponse))
async def list_zones(_p: UrlProject, _ctx: ContextDep, runtime: RuntimeDep) -> dict[str, Any]:
    zones: dict[str, bool] = {}
    for backend in runtime.cache.backends():
        up = runtime.cache.is_up(backend.host)
        zones[backend.availability_zone] = zones.get(backend.availability_zone, False) or up
    if not zones:
        zones[runtime.settings.default_availability_zone] = False
    return {
        "availabilityZoneInfo": [
            {"zoneName": name, "zoneState": {"available": up}} for name, up in sorted(zones.items())
        ]
    }
