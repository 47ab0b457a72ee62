"""The scheduler: filters, then weighers, then the choice among the best.

select() returns every pool that can take the volume, best first; the caller
claims them in that order in the database (claims.py) and moves on to the
next one when a claim loses a race.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from app.scheduler.cache import CapabilityCache, utc_naive, utcnow
from app.scheduler.filters import BaseFilter, filter_class
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState
from app.scheduler.weighers import BaseWeigher, normalize, weigher_class

DEFAULT_FILTERS = ["AvailabilityZoneFilter", "CapacityFilter", "CapabilitiesFilter"]
DEFAULT_WEIGHERS = ["CapacityWeigher"]
REASON_SAMPLES = 3


class Scheduler:
    def __init__(
        self,
        cache: CapabilityCache,
        filters: list[str] | None = None,
        weighers: list[str] | None = None,
        weigher_multipliers: dict[str, float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.cache = cache
        self.filters: list[BaseFilter] = [
            filter_class(name)() for name in (filters or DEFAULT_FILTERS)
        ]
        multipliers = weigher_multipliers or {}
        self.weighers: list[BaseWeigher] = [
            weigher_class(name)(multipliers.get(name)) for name in (weighers or DEFAULT_WEIGHERS)
        ]
        self.rng = rng or random.Random()

    # -- the decision ---------------------------------------------------------
    def _considered(self, now: datetime | None) -> list[PoolState]:
        """Pools of backends that are up and enabled (Cinder's host manager)."""
        at = utc_naive(now) if now is not None else utcnow()
        return [
            pool
            for backend in self.cache.backends()
            if not backend.disabled and self.cache.is_up(backend.host, at)
            for pool in backend.pools.values()
        ]

    def _filter(self, request: VolumeRequest, pools: list[PoolState]) -> list[PoolState]:
        for flt in self.filters:
            pools = [p for p in pools if flt.passes(p, request)]
            if not pools:
                break
        return pools

    def _weigh(
        self, request: VolumeRequest, pools: list[PoolState]
    ) -> tuple[list[float], dict[str, list[float]]]:
        totals = [0.0] * len(pools)
        parts: dict[str, list[float]] = {}
        if len(pools) <= 1:
            return totals, parts
        for weigher in self.weighers:
            scores = normalize(weigher.weigh_pools(pools, request))
            part = [weigher.multiplier * s for s in scores]
            parts[weigher.name] = part
            totals = [t + p for t, p in zip(totals, part, strict=True)]
        return totals, parts

    def select(self, request: VolumeRequest, now: datetime | None = None) -> list[PoolState]:
        """Every pool that passes the filters, up and enabled, best first."""
        pools = self._filter(request, self._considered(now))
        totals, _ = self._weigh(request, pools)
        order = sorted(range(len(pools)), key=lambda i: -totals[i])  # stable: report order
        return [pools[i] for i in order]

    # -- explaining -----------------------------------------------------------
    def _trace(
        self, request: VolumeRequest, now: datetime | None
    ) -> tuple[list[dict[str, Any]], list[PoolState]]:
        pools = self._considered(now)
        steps: list[dict[str, Any]] = []
        for flt in self.filters:
            kept: list[PoolState] = []
            reasons: dict[str, str] = {}
            for pool in pools:
                if flt.passes(pool, request):
                    kept.append(pool)
                elif len(reasons) < REASON_SAMPLES:
                    reasons[pool.key] = flt.reason(pool, request)
            steps.append(
                {
                    "name": flt.name,
                    "before": len(pools),
                    "after": len(kept),
                    "removed": len(pools) - len(kept),
                    "reasons": reasons,
                    "wanted": flt.summary(request),
                }
            )
            pools = kept
        return steps, pools

    def explain(
        self, request: VolumeRequest, now: datetime | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """A dry run: what each filter removed (with sample reasons), and the
        best candidates with their weights."""
        steps, pools = self._trace(request, now)
        totals, parts = self._weigh(request, pools)
        order = sorted(range(len(pools)), key=lambda i: -totals[i])
        candidates = [
            {
                "pool": pools[i].key,
                "weight": totals[i],
                "weights": {name: part[i] for name, part in parts.items()},
            }
            for i in order[:limit]
        ]
        return {
            "pools": len(self.cache.pools()),
            "considered": steps[0]["before"] if steps else len(pools),
            "filters": steps,
            "candidates": candidates,
            "count": len(pools),
        }

    def no_valid_backend_reason(self, request: VolumeRequest, now: datetime | None = None) -> str:
        """Cinder's 'No valid backend was found.' with what removed the pools."""
        head = "No valid backend was found."
        steps, pools = self._trace(request, now)
        if pools:
            return f"{head} Every candidate was taken before it could be claimed."
        total = len(self.cache.pools())
        if not steps or steps[0]["before"] == 0:
            if total == 0:
                return f"{head} No backend has reported capabilities."
            return f"{head} No backend is up and enabled ({total} pools known)."
        said = []
        for step in steps:
            if step["removed"]:
                wanted = f" ({step['wanted']})" if step["wanted"] else ""
                said.append(
                    f"{step['name']} removed {step['removed']} of {step['before']} pools{wanted}"
                )
        return f"{head} {'; '.join(said)}."
