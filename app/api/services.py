"""/v3/{project_id}/os-services: the backends and their up/down state (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.common import UrlProject, iso, v3_route
from app.api.deps import AdminDep, RuntimeDep, SessionDep
from app.volumes import backup_services

router = APIRouter(tags=["services"])


@v3_route(router, "GET", "/os-services")
async def list_services(
    request: Request, _p: UrlProject, _ctx: AdminDep, runtime: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    params = request.query_params
    out = []
    for backend in runtime.cache.backends():
        entry = {
            "binary": "cinder-volume",
            "host": backend.host,
            "zone": backend.availability_zone,
            "status": "disabled" if backend.disabled else "enabled",
            "state": "up" if runtime.cache.is_up(backend.host) else "down",
            "updated_at": iso(backend.heard_at),
            "disabled_reason": None,
            "frozen": False,
            "cluster": None,
            "replication_status": "disabled",
            "active_backend_id": None,
            "backend_state": "up" if runtime.cache.is_up(backend.host) else "down",
        }
        if "host" in params and params["host"] not in (backend.host, backend.host.split("@")[0]):
            continue
        if "binary" in params and params["binary"] != "cinder-volume":
            continue
        out.append(entry)
    down_time = runtime.settings.service_down_time
    for service in await backup_services.all_services(session):
        if "host" in params and params["host"] not in (service.host, service.host.split("@")[0]):
            continue
        if "binary" in params and params["binary"] != "cinder-backup":
            continue
        up = backup_services.is_up(service, down_time)
        out.append(
            {
                "binary": "cinder-backup",
                "host": service.host,
                "zone": service.availability_zone,
                "status": "disabled" if service.disabled else "enabled",
                "state": "up" if up else "down",
                "updated_at": iso(service.heard_at),
                "disabled_reason": service.disabled_reason,
                "frozen": False,
                "cluster": None,
                "replication_status": "disabled",
                "active_backend_id": None,
                "backend_state": "up" if up else "down",
            }
        )
    return {"services": out}
