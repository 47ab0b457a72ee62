"""Filter plugins: one small class per Cinder filter, registered by name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np

from app.scheduler.context import Context
from app.scheduler.plugins import Plugins
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


class BaseFilter:
    """A filter keeps the pools that can serve a request.

    passes() decides for one pool. filter_mask() decides for every row of the
    cache's PoolTable at once: the scheduler's hot path. Both must agree (the
    tests check them pool by pool).
    """

    name: ClassVar[str] = ""

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        raise NotImplementedError

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        """A bool per table slot (only slots in ctx.mask matter), True when
        every pool passes, or None to have passes() asked pool by pool."""
        return None

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        """Why the pool was removed, for explain()."""
        return "did not pass"

    def summary(self, request: VolumeRequest) -> str:
        """What this filter wanted, for the 'no valid backend' message."""
        return ""


def slots_of(ctx: Context, hosts: Iterable[str]) -> list[int]:
    """Table slots of 'node@backend' (all its pools) and 'node@backend#pool' names."""
    out: list[int] = []
    for name in hosts:
        host, _, pool_name = name.partition("#")
        backend = ctx.cache.backend(host)
        if backend is None:
            continue
        if pool_name:
            pool = backend.pools.get(pool_name)
            if pool is not None:
                out.append(pool.slot)
        else:
            out.extend(p.slot for p in backend.pools.values())
    return out


_FILTERS = Plugins[type[BaseFilter]]("filter")
FILTERS = _FILTERS.by_name
register_filter = _FILTERS.register
filter_class = _FILTERS.get
