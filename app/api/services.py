"""/v3/{project_id}/os-services: the backends and their up/down state (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from app.api.common import ReadDep, iso, v3_route
from app.api.fields import Field
from app.api.fields import select as select_fields
from app.api.microversion import APIVersion
from app.api.policy import may
from app.api.schemas import services as S
from app.api.schemas.contract import returns
from app.context import RequestContext
from app.volumes.backups import services as backup_services

router = APIRouter(tags=["services"])

# Cinder's CLUSTER_SUPPORT and BACKEND_STATE_REPORT.
CLUSTER_SUPPORT = APIVersion(3, 7)
BACKEND_STATE_REPORT = APIVersion(3, 49)

# A service's fields as Cinder's os-services index gives them: the replication
# fields, frozen and (from 3.49) backend_state belong to cinder-volume services only,
# so a backup service's entry never has them.
FIELDS = {
    "binary": Field(),
    "host": Field(),
    "zone": Field(),
    "status": Field(),
    "state": Field(),
    "updated_at": Field(),
    "cluster": Field(CLUSTER_SUPPORT),
    "disabled_reason": Field(),
    "replication_status": Field(),
    "active_backend_id": Field(),
    "frozen": Field(),
    "backend_state": Field(BACKEND_STATE_REPORT),
}


def _wanted(params: Any, host: str, binary: str) -> bool:
    if "host" in params and params["host"] not in (host, host.split("@")[0]):
        return False
    return "binary" not in params or params["binary"] == binary


def _entry(binary: str, service: Any, up: bool, disabled_reason: str | None) -> dict[str, Any]:
    """What every service's entry has; `service` is a backend or a backup service."""
    return {
        "binary": binary,
        "host": service.host,
        "zone": service.availability_zone,
        "status": "disabled" if service.disabled else "enabled",
        "state": "up" if up else "down",
        "updated_at": iso(service.heard_at),
        "cluster": None,
        "disabled_reason": disabled_reason,
    }


@v3_route(router, "GET", "/os-services", **returns(S.ServiceListResponse))
async def list_services(
    read: ReadDep, ctx: Annotated[RequestContext, may("volume_extension:services:index")]
) -> dict[str, Any]:
    params = read.request.query_params
    out = []
    for backend in read.runtime.cache.backends():
        if not _wanted(params, backend.host, "cinder-volume"):
            continue
        up = read.runtime.cache.is_up(backend.host)
        entry = _entry("cinder-volume", backend, up, None)
        entry.update(
            replication_status="disabled",
            active_backend_id=None,
            frozen=False,
            backend_state="up" if up else "down",
        )
        out.append(select_fields(FIELDS, entry, read.version, ctx))
    down_time = read.runtime.settings.service_down_time
    for service in await backup_services.all_services(read.session):
        if not _wanted(params, service.host, "cinder-backup"):
            continue
        up = backup_services.is_up(service, down_time)
        entry = _entry("cinder-backup", service, up, service.disabled_reason)
        out.append(select_fields(FIELDS, entry, read.version, ctx))
    return {"services": out}
