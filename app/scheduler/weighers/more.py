"""Cinder's other weighers: allocated capacity, volume count, goodness, chance."""

from __future__ import annotations

import numpy as np

from app.scheduler.context import Context
from app.scheduler.functions import goodness
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState
from app.scheduler.weighers.base import BaseWeigher, register_weigher


@register_weigher
class AllocatedCapacityWeigher(BaseWeigher):
    """Allocated GB (claims included); the default -1 prefers the emptiest."""

    name = "AllocatedCapacityWeigher"
    default_multiplier = -1.0

    def weigh(self, pool: PoolState, request: VolumeRequest) -> float:
        return pool.allocated_capacity_gb

    def weigh_array(self, ctx: Context, slots: np.ndarray) -> np.ndarray | None:
        return ctx.table.floats["allocated"][slots]


@register_weigher
class VolumeNumberWeigher(BaseWeigher):
    """Live volumes on the pool (set from the database); -1 spreads them."""

    name = "VolumeNumberWeigher"
    default_multiplier = -1.0

    def weigh(self, pool: PoolState, request: VolumeRequest) -> float:
        return float(pool.volume_count)

    def weigh_array(self, ctx: Context, slots: np.ndarray) -> np.ndarray | None:
        return ctx.table.floats["volume_count"][slots]


@register_weigher
class GoodnessWeigher(BaseWeigher):
    """The backend's goodness_function, 0..100."""

    name = "GoodnessWeigher"

    def weigh(self, pool: PoolState, request: VolumeRequest) -> float:
        return goodness(pool, request)

    def weigh_array(self, ctx: Context, slots: np.ndarray) -> np.ndarray | None:
        table = ctx.table
        out = np.zeros(len(slots))
        for i in np.flatnonzero(table.bools["has_goodness_function"][slots]):
            out[i] = goodness(table.pools[slots[i]], ctx.request)
        return out


@register_weigher
class ChanceWeigher(BaseWeigher):
    """A random score: spreads volumes with no regard to the backends."""

    name = "ChanceWeigher"

    def weigh(self, pool: PoolState, request: VolumeRequest) -> float:
        return self.rng.random()

    def weigh_array(self, ctx: Context, slots: np.ndarray) -> np.ndarray | None:
        # One draw from the seeded rng seeds numpy's, so tests stay repeatable.
        return np.random.default_rng(self.rng.getrandbits(64)).random(len(slots))
