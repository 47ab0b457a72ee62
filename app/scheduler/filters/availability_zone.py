from __future__ import annotations

from app.scheduler.filters.base import BaseFilter, register_filter
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


@register_filter
class AvailabilityZoneFilter(BaseFilter):
    """The backend's zone must be the requested one (none requested: any)."""

    name = "AvailabilityZoneFilter"

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        zone = request.availability_zone
        return not zone or pool.availability_zone == zone

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        return f"in zone {pool.availability_zone!r}, not {request.availability_zone!r}"

    def summary(self, request: VolumeRequest) -> str:
        return f"availability zone {request.availability_zone!r}"
