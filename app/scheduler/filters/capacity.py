from __future__ import annotations

import numpy as np

from app.scheduler.context import Context
from app.scheduler.filters.base import BaseFilter, register_filter
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


@register_filter
class CapacityFilter(BaseFilter):
    """Cinder's CapacityFilter (see capacity.py), less claims not yet reported."""

    name = "CapacityFilter"

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        return pool.passes_capacity(request.size_gb, request.thin)

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        size = float(ctx.request.size_gb)
        if size == 0:
            return True
        f, b = ctx.table.floats, ctx.table.bools
        if not ctx.request.thin:
            return b["eligible_thick"] & (f["vf_thick"] - f["pending"] >= size)
        # Thick pools carry vf_thin = vf_thick and an infinite denominator, so
        # one formula serves both (see CapacityFigures).
        ok = b["eligible_thin"] & (f["vf_thin"] - f["pending"] >= size)
        ok &= (f["provisioned"] + size) / f["ratio_denominator"] <= f["mosr"]
        return ok

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        kind = "thin" if request.thin else "thick"
        return f"{pool.virtual_free(request.thin):.2f} GB virtual free ({kind})"

    def summary(self, request: VolumeRequest) -> str:
        return f"requested {request.size_gb} GB"
