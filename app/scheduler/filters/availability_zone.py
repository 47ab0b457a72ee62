from __future__ import annotations

import numpy as np

from app.scheduler.context import Context
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

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        zone = ctx.request.availability_zone
        if not zone:
            return True
        table = ctx.table
        return table.az == table.zones.get(zone, -2)

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        return f"in zone {pool.availability_zone!r}, not {request.availability_zone!r}"

    def summary(self, request: VolumeRequest) -> str:
        return f"availability zone {request.availability_zone!r}"
