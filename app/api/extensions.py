"""/v3/{project_id}/extensions: the API extensions this service implements, as Cinder
lists them (clients probe this list before using an extension)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.common import UrlProject, v3_route
from app.api.deps import ContextDep
from app.api.schemas import services as S
from app.api.schemas.contract import returns

router = APIRouter(tags=["extensions"])

# When this list was last revised: Cinder shows each extension's own date; ours all
# arrived with this service.
UPDATED = "2026-12-07T00:00:00+00:00"

# (alias, name, description) of every extension whose API exists here; one that does
# not (encryption, transfers, consistency groups) stays out until it does.
EXTENSIONS = (
    ("os-hosts", "Hosts", "Admin-only host administration."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute",
     "Expose the internal project_id as an attribute of a volume."),
    ("os-quota-sets", "Quotas", "Quota management support."),
    ("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
    ("backups", "Backups", "Backups support."),
    ("os-snapshot-actions", "SnapshotActions", "Enable snapshot manager actions."),
    ("os-volume-actions", "VolumeActions", "Enable volume actions."),
    ("os-snapshot-manage", "SnapshotManage",
     "Allows existing backend storage to be 'managed' by Cinder."),
    ("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
    ("os-types-manage", "TypesManage", "Types manage support."),
    ("capabilities", "Capabilities", "Capabilities support."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
    ("os-used-limits", "UsedLimits",
     "Provide data on limited resources that are being used."),
    ("os-vol-mig-status-attr", "VolumeMigStatusAttribute",
     "Expose migration_status as an attribute of a volume."),
    ("os-volume-type-access", "VolumeTypeAccess", "Volume type access support."),
    ("os-extended-services", "ExtendedServices", "Extended services support."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes",
     "Extended SnapshotAttributes support."),
    ("os-quota-class-sets", "QuotaClasses", "Quota classes management support."),
    ("os-volume-manage", "VolumeManage",
     "Allows existing backend storage to be 'managed' by Cinder."),
    ("os-admin-actions", "AdminActions", "Enable admin actions."),
    ("os-services", "Services", "Services support."),
    ("scheduler-stats", "Scheduler_stats", "Scheduler stats support."),
    ("OS-SCH-HNT", "SchedulerHints", "Pass arbitrary key/value pairs to the scheduler."),
    ("qos-specs", "Qos_specs_manage", "QoS specs support."),
)  # fmt: skip


@v3_route(router, "GET", "/extensions", **returns(S.ExtensionListResponse))
async def list_extensions(_p: UrlProject, _ctx: ContextDep) -> dict[str, Any]:
    return {
        "extensions": [
            {"alias": alias, "name": name, "description": text, "links": [], "updated": UPDATED}
            for alias, name, text in EXTENSIONS
        ]
    }
