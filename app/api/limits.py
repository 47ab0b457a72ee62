"""/v3/{project_id}/limits: absolute limits and what the project uses of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.common import UrlProject, v3_route
from app.api.deps import ContextDep, RuntimeDep, SessionDep
from app.volumes import quotas

router = APIRouter(tags=["limits"])

LIMIT_NAMES = {
    "volumes": ("maxTotalVolumes", "totalVolumesUsed"),
    "gigabytes": ("maxTotalVolumeGigabytes", "totalGigabytesUsed"),
    "snapshots": ("maxTotalSnapshots", "totalSnapshotsUsed"),
    "backups": ("maxTotalBackups", "totalBackupsUsed"),
    "backup_gigabytes": ("maxTotalBackupGigabytes", "totalBackupGigabytesUsed"),
}


@v3_route(router, "GET", "/limits")
async def show_limits(
    _p: UrlProject, ctx: ContextDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    limits = await quotas.limits(session, runtime.settings, ctx.project_id)
    in_use = await quotas.usage(session, ctx.project_id)
    absolute: dict[str, int] = {}
    for resource, (max_name, used_name) in LIMIT_NAMES.items():
        absolute[max_name] = limits[resource]
        absolute[used_name] = in_use.get(resource, 0)
    return {"limits": {"rate": [], "absolute": absolute}}
