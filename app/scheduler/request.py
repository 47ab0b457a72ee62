"""What the scheduler is asked to place: one volume's size, zone, type and hints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class VolumeRequest:
    size_gb: int
    availability_zone: str | None = None
    # The volume type's extra specs (CapabilitiesFilter, provisioning:type).
    extra_specs: dict[str, str] = field(default_factory=dict)
    volume_type_id: str | None = None
    volume_type_name: str | None = None
    # Cinder's scheduler hints: query (JsonFilter), same_host / different_host.
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    project_id: str | None = None
    resource_id: str | None = None  # the volume id
    # 'node@backend' (every pool of it) or 'node@backend#pool' already tried.
    ignore_hosts: set[str] = field(default_factory=set)
    multiattach: bool = False
    # Volume id -> 'node@backend#pool' of the live volumes named by the
    # same_host / different_host hints, resolved by the caller (it owns the
    # database). See affinity_volume_ids().
    resolved_hints: dict[str, str] | None = None
    # The type's QoS specs, visible to filter/goodness functions as qos.x.
    qos_specs: dict[str, Any] = field(default_factory=dict)
    # 'node@backend#pool': the only pool that may take the volume (a volume of a group
    # lives on the group's pool); the filters still judge it.
    only_pool: str | None = None
    # 'node@backend' names: only pools of these backends may take the volume (a restore
    # of a backup lands where a backup service that reads it reaches); None: any.
    only_backends: frozenset[str] | None = None

    @property
    def thin(self) -> bool:
        """Cinder provisions thin unless the type says provisioning:type=thick."""
        return self.extra_specs.get("provisioning:type") != "thick"

    def affinity_volume_ids(self) -> list[str]:
        """Volume ids named by the same_host/different_host hints (to resolve)."""
        out: list[str] = []
        for hint in ("same_host", "different_host"):
            value = self.scheduler_hints.get(hint)
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out.extend(v for v in value if isinstance(v, str))
        return out

    def volume_properties(self) -> dict[str, Any]:
        """The request as filter/goodness functions see it (volume.x)."""
        return {
            "size": self.size_gb,
            "availability_zone": self.availability_zone,
            "volume_type_id": self.volume_type_id,
            "project_id": self.project_id,
            "id": self.resource_id,
            "multiattach": self.multiattach,
        }
