from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from app.scheduler.context import Context
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState
from app.scheduler.weighers.base import BaseWeigher, register_weigher

# Cinder's CapacityWeigher: an infinite score (only possible with a negative
# multiplier) becomes the largest finite score plus the spread, or this.
OFFSET_MIN = 10000.0
OFFSET_MULT = 1.0


def replace_infinite(weights: list[float]) -> list[float]:
    """Cinder's CapacityWeigher.weigh_objects: infinite scores just above the rest."""
    if not weights or not math.isinf(max(weights)):
        return weights
    finite = [w for w in weights if not math.isinf(w)]
    if not finite:
        return [0.0] * len(weights)  # all equal: normalise to 0
    lo, hi = min(finite), max(finite)
    offset = (hi - lo) * OFFSET_MULT
    hi += OFFSET_MIN if offset == 0.0 else offset
    return [hi if math.isinf(w) else w for w in weights]


def replace_infinite_array(weights: np.ndarray) -> np.ndarray:
    """replace_infinite() over an array."""
    if len(weights) == 0 or not np.isinf(weights.max()):
        return weights
    infinite = np.isinf(weights)
    finite = weights[~infinite]
    if len(finite) == 0:
        return np.zeros(len(weights))
    lo, hi = float(finite.min()), float(finite.max())
    offset = (hi - lo) * OFFSET_MULT
    hi += OFFSET_MIN if offset == 0.0 else offset
    out = weights.copy()
    out[infinite] = hi
    return out


@register_weigher
class CapacityWeigher(BaseWeigher):
    """Virtual free capacity: positive multiplier spreads, negative stacks."""

    name = "CapacityWeigher"
    default_multiplier = 1.0

    def weigh(self, pool: PoolState, request: VolumeRequest) -> float:
        if pool.figures.unknown:
            # Cinder gives 'infinite'/'unknown' the worst score so drivers stop
            # reporting it.
            return -1.0 if self.multiplier > 0 else math.inf
        return pool.virtual_free(request.thin)

    def weigh_array(self, ctx: Context, slots: np.ndarray) -> np.ndarray | None:
        f, b = ctx.table.floats, ctx.table.bools
        vf = f["vf_thin" if ctx.request.thin else "vf_thick"][slots] - f["pending"][slots]
        unknown = b["unknown"][slots]
        if unknown.any():
            vf[unknown] = -1.0 if self.multiplier > 0 else math.inf
        return replace_infinite_array(vf)

    def weigh_pools(self, pools: Sequence[PoolState], request: VolumeRequest) -> list[float]:
        return replace_infinite(super().weigh_pools(pools, request))
