from __future__ import annotations

import numpy as np

from app.scheduler.context import Context
from app.scheduler.extra_specs_ops import lookup, match_any, spec_path
from app.scheduler.filters.base import BaseFilter, register_filter
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState
from app.scheduler.table import COMPLEX


def capability_specs(request: VolumeRequest) -> list[tuple[str, list[str], str]]:
    """(key, capability path, requirement) of every extra spec the filter checks.

    A multiattach request needs a pool that reports multiattach, unless its
    type already says something about it.
    """
    out = []
    for key, req in request.extra_specs.items():
        path = spec_path(key)
        if path is not None:
            out.append((key, path, req))
    if request.multiattach and not any(p == ["multiattach"] for _, p, _ in out):
        out.append(("multiattach", ["multiattach"], "<is> True"))
    return out


@register_filter
class CapabilitiesFilter(BaseFilter):
    """Cinder's CapabilitiesFilter: the type's extra specs against the pool's report."""

    name = "CapabilitiesFilter"

    def __init__(self) -> None:
        # A type's index-only mask, reused while no pool's value changes.
        self._masks: dict[tuple[tuple[str, str], ...], tuple[tuple[int, ...], np.ndarray]] = {}

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        caps = pool.capabilities
        for _key, path, req in capability_specs(request):
            found, cap = lookup(caps, path)
            if not found or not match_any(cap, req):
                return False
        return True

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        specs = capability_specs(ctx.request)
        if not specs:
            return True
        table = ctx.table
        indexed = tuple(sorted((path[0], req) for _, path, req in specs if len(path) == 1))
        columns = [table.column(key) for key, _ in indexed]
        versions = (table.size, *(c.version for c in columns))
        cached = self._masks.get(indexed)
        if cached is not None and cached[0] == versions:
            mask = cached[1]
        else:
            mask = np.ones(table.size, dtype=bool)
            for column, (_, req) in zip(columns, indexed, strict=True):
                mask &= column.lut(req)[column.codes]
            if len(self._masks) > 1024:
                self._masks.clear()
            self._masks[indexed] = (versions, mask)
        # What the index cannot say (nested paths, values such as dicts) is
        # asked pool by pool, for the pools still in the running.
        residual = [(p, r) for _, p, r in specs if len(p) != 1]
        complex_keys = {key for key, c in zip(indexed, columns, strict=True) if c.complex}
        if not residual and not complex_keys:
            return mask
        mask = mask.copy()
        pools = table.pools
        for key, req in complex_keys:
            codes = table.columns[key].codes
            for slot in np.flatnonzero(ctx.mask & (codes == COMPLEX)):
                mask[slot] = self._check_rest(pools[slot], [([key], req)], indexed)
        if residual:
            for slot in np.flatnonzero(ctx.mask & mask):
                mask[slot] = self._check_rest(pools[slot], residual, ())
        return mask

    @staticmethod
    def _check_rest(
        pool: PoolState, specs: list[tuple[list[str], str]], indexed: tuple[tuple[str, str], ...]
    ) -> bool:
        """Check some specs on one pool; for a complex value, also the other
        indexed specs (its index mask said False only because of this one)."""
        caps = pool.capabilities
        for path, req in specs:
            found, cap = lookup(caps, path)
            if not found or not match_any(cap, req):
                return False
        for key, req in indexed:
            found, cap = lookup(caps, [key])
            if not found or not match_any(cap, req):
                return False
        return True

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        for key, path, req in capability_specs(request):
            found, cap = lookup(pool.capabilities, path)
            if not found:
                return f"{key}: not reported"
            if not match_any(cap, req):
                return f"{key}: {cap!r} does not match {req!r}"
        return "passes"

    def summary(self, request: VolumeRequest) -> str:
        return f"type {request.volume_type_name or request.volume_type_id!r}"
