"""What a filter or weigher sees of one decision in the vectorised path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.scheduler.cache import CapabilityCache
from app.scheduler.request import VolumeRequest
from app.scheduler.table import PoolTable


@dataclass
class Context:
    cache: CapabilityCache
    request: VolumeRequest
    # Bool per table slot: still a candidate. Filters read it (to limit
    # per-pool work to the survivors) and never write it.
    mask: np.ndarray

    @property
    def table(self) -> PoolTable:
        return self.cache.table
