from __future__ import annotations

import numpy as np

from app.scheduler.context import Context
from app.scheduler.filters.base import BaseFilter, register_filter, slots_of
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


@register_filter
class IgnoreAttemptedHostsFilter(BaseFilter):
    """Skip what a retry already tried: 'node@backend' (all its pools) or
    'node@backend#pool' (Cinder's retry list holds the latter)."""

    name = "IgnoreAttemptedHostsFilter"

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        tried = request.ignore_hosts
        return not tried or (pool.host not in tried and pool.key not in tried)

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        tried = ctx.request.ignore_hosts
        if not tried:
            return True
        out = np.ones(ctx.table.size, dtype=bool)
        out[slots_of(ctx, tried)] = False
        return out

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        return "already tried"
