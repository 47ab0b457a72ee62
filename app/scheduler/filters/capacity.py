from __future__ import annotations

from app.scheduler.filters.base import BaseFilter, register_filter
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


@register_filter
class CapacityFilter(BaseFilter):
    """Cinder's CapacityFilter (see capacity.py), less claims not yet reported."""

    name = "CapacityFilter"

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        return pool.passes_capacity(request.size_gb, request.thin)

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        kind = "thin" if request.thin else "thick"
        return f"{pool.virtual_free(request.thin):.2f} GB virtual free ({kind})"

    def summary(self, request: VolumeRequest) -> str:
        return f"requested {request.size_gb} GB"
