from __future__ import annotations

import numpy as np

from app.scheduler.context import Context
from app.scheduler.evaluator import EvaluationError
from app.scheduler.filters.base import BaseFilter, register_filter
from app.scheduler.functions import filter_passes, run
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


@register_filter
class DriverFilter(BaseFilter):
    """The backend's own filter_function (compiled at ingest) must hold."""

    name = "DriverFilter"

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        return filter_passes(pool, request)

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        table = ctx.table
        todo = np.flatnonzero(ctx.mask & table.bools["has_filter_function"])
        if not len(todo):
            return True
        out = np.ones(table.size, dtype=bool)
        for slot in todo:
            out[slot] = filter_passes(table.pools[slot], ctx.request)
        return out

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        fn = pool.filter_function
        if fn is None:
            return "passes"
        try:
            return f"filter_function {fn.source!r} is {run(fn, pool, request)!r}"
        except EvaluationError as err:
            return f"filter_function {fn.source!r} failed: {err}"
