"""Weigher plugins, registered by name, and Cinder's weight arithmetic.

Each weigher scores every candidate; the scores are normalised to 0..1 over
the candidates (min-max; all equal -> all 0, Cinder's base_weight.normalize),
multiplied by the weigher's multiplier and summed. Highest total first; equal
totals keep report order (Cinder sorts stably).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from app.scheduler.context import Context
from app.scheduler.plugins import Plugins
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


class BaseWeigher:
    name: ClassVar[str] = ""
    default_multiplier: ClassVar[float] = 1.0

    def __init__(self, multiplier: float | None = None, rng: random.Random | None = None) -> None:
        self.multiplier = self.default_multiplier if multiplier is None else float(multiplier)
        self.rng = rng or random.Random()

    def weigh(self, pool: PoolState, request: VolumeRequest) -> float:
        """The raw score of one pool."""
        raise NotImplementedError

    def weigh_array(self, ctx: Context, slots: np.ndarray) -> np.ndarray | None:
        """Raw scores of the candidate slots at once, or None to use weigh_pools()."""
        return None

    def weigh_pools(self, pools: Sequence[PoolState], request: VolumeRequest) -> list[float]:
        """Raw scores of the candidates, ready for normalize()."""
        return [self.weigh(pool, request) for pool in pools]


def normalize(weights: Sequence[float]) -> list[float]:
    """Cinder's base_weight.normalize with the list's own min and max."""
    if not weights:
        return []
    lo, hi = float(min(weights)), float(max(weights))
    if lo == hi:
        return [0.0] * len(weights)
    span = hi - lo
    return [(w - lo) / span for w in weights]


def normalize_array(weights: np.ndarray) -> np.ndarray:
    """normalize() over an array, with the same float arithmetic."""
    if len(weights) == 0:
        return weights
    lo, hi = float(weights.min()), float(weights.max())
    if lo == hi:
        return np.zeros(len(weights))
    return (weights - lo) / (hi - lo)


_WEIGHERS = Plugins[type[BaseWeigher]]("weigher")
WEIGHERS = _WEIGHERS.by_name
register_weigher = _WEIGHERS.register
weigher_class = _WEIGHERS.get
