"""/v3/{project_id}/os-hosts (admin): the services by host, and what volumes and
snapshots each volume host holds per project."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter
from sqlalchemy import func, or_, select

from app.api.common import ReadDep, iso, v3_route
from app.api.policy import may
from app.api.schemas import services as S
from app.api.schemas.contract import returns
from app.context import RequestContext
from app.db.models import Snapshot, Volume
from app.errors import NotFound
from app.volumes.backups import services as backup_services

router = APIRouter(tags=["hosts"])
Admin = Annotated[RequestContext, may("volume_extension:hosts")]


@v3_route(router, "GET", "/os-hosts", **returns(S.HostListResponse))
async def list_hosts(read: ReadDep, _ctx: Admin) -> dict[str, Any]:
    hosts = []
    for backend in read.runtime.cache.backends():
        up = read.runtime.cache.is_up(backend.host)
        hosts.append(
            _host("cinder-volume", backend.host, backend.availability_zone, up, backend.disabled)
            | {"last-update": iso(backend.heard_at)}
        )
    down_time = read.runtime.settings.service_down_time
    for service in await backup_services.all_services(read.session):
        up = backup_services.is_up(service, down_time)
        hosts.append(
            _host("cinder-backup", service.host, service.availability_zone, up, service.disabled)
            | {"last-update": iso(service.heard_at)}
        )
    zone = read.request.query_params.get("zone")
    if zone:
        hosts = [h for h in hosts if h["zone"] == zone]
    return {"hosts": hosts}


@v3_route(router, "GET", "/os-hosts/{host_name}", **returns(S.HostShowResponse))
async def show_host(host_name: str, read: ReadDep, _ctx: Admin) -> dict[str, Any]:
    # Only a volume service holds volumes (Cinder looks the host up by its volume topic).
    if host_name not in {backend.host for backend in read.runtime.cache.backends()}:
        raise NotFound("Host not found")
    on_host = or_(Volume.host == host_name, Volume.host.startswith(f"{host_name}#"))
    volumes = await read.session.execute(
        select(Volume.project_id, func.count(), func.coalesce(func.sum(Volume.size), 0))
        .where(on_host)
        .group_by(Volume.project_id)
    )
    snapshots = await read.session.execute(
        select(Snapshot.project_id, func.count(), func.coalesce(func.sum(Snapshot.size), 0))
        .join(Volume, Volume.id == Snapshot.volume_id)
        .where(on_host)
        .group_by(Snapshot.project_id)
    )
    # project -> [volume count, volume GB, snapshot count, snapshot GB]; unlike Cinder,
    # whose per-project rows count the project everywhere, each row counts this host only,
    # so the "(total)" row is their sum.
    usage: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for project, count, gigabytes in volumes:
        usage[project][0:2] = [int(count), int(gigabytes)]
    for project, count, gigabytes in snapshots:
        usage[project][2:4] = [int(count), int(gigabytes)]
    total = [sum(row[i] for row in usage.values()) for i in range(4)]
    rows = [("(total)", total), *sorted(usage.items())]
    return {"host": [{"resource": _usage(host_name, project, row)} for project, row in rows]}


def _host(service: str, host: str, zone: str, up: bool, disabled: bool) -> dict[str, Any]:
    return {
        "host_name": host,
        "service": service,
        "zone": zone,
        "service-status": "available" if up else "unavailable",
        "service-state": "disabled" if disabled else "enabled",
    }


def _usage(host: str, project: str, row: list[int]) -> dict[str, str]:
    # Cinder answers every number as a string here.
    volumes, volume_gb, snapshots, snapshot_gb = row
    return {
        "host": host,
        "project": project,
        "volume_count": str(volumes),
        "total_volume_gb": str(volume_gb),
        "snapshot_count": str(snapshots),
        "total_snapshot_gb": str(snapshot_gb),
    }
