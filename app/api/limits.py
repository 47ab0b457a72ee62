"""/v3/{project_id}/limits: absolute limits and what the project uses of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from app.api.common import ReadDep, v3_route
from app.api.microversion import APIVersion
from app.api.policy import may
from app.api.schemas import services as S
from app.api.schemas.contract import returns
from app.context import RequestContext
from app.volumes.kernel import quotas

router = APIRouter(tags=["limits"])

LIMIT_NAMES = {
    "volumes": ("maxTotalVolumes", "totalVolumesUsed"),
    "gigabytes": ("maxTotalVolumeGigabytes", "totalGigabytesUsed"),
    "snapshots": ("maxTotalSnapshots", "totalSnapshotsUsed"),
    "backups": ("maxTotalBackups", "totalBackupsUsed"),
    "backup_gigabytes": ("maxTotalBackupGigabytes", "totalBackupGigabytesUsed"),
}


# From 3.39 an admin may ask for another project's limits (`?project_id=`).
LIMITS_ADMIN_FILTER = APIVersion(3, 39)


@v3_route(router, "GET", "/limits", **returns(S.LimitsResponse))
async def show_limits(
    read: ReadDep, ctx: Annotated[RequestContext, may("limits_extension:used_limits")]
) -> dict[str, Any]:
    project_id = ctx.project_id
    if ctx.is_admin and read.version >= LIMITS_ADMIN_FILTER:
        params = read.request.query_params
        project_id = params.get("project_id", params.get("tenant_id", ctx.project_id))
    limits = await quotas.limits(read.session, read.runtime.settings, project_id)
    in_use = await quotas.usage(read.session, project_id)
    absolute: dict[str, int] = {}
    for resource, (max_name, used_name) in LIMIT_NAMES.items():
        absolute[max_name] = limits[resource]
        absolute[used_name] = in_use.get(resource, 0)
    return {"limits": {"rate": [], "absolute": absolute}}
