"""The scheduler: filters, then weighers, then the choice among the best.

select() returns every pool that can take the volume, best first; the caller
claims them in that order in the database (app/volumes/capacity/claims.py) and moves on to the
next one when a claim loses a race.

The decision runs over the cache's PoolTable: each filter answers for every
row at once (filter_mask) or, when it cannot, pool by pool for the rows still
in the running (passes); each weigher scores the survivors the same way.
Weights follow Cinder: per weigher min-max normalised over the candidates,
times its multiplier, summed; highest first, report order on ties.

Choosing among the best (weight_handler):
  "ordered"    (Cinder's OrderedHostWeightHandler, the default) the ranking;
               with host_subset_size N > 1 the first is drawn at random among
               the best N (Nova's option), so replicas racing for the same
               request spread instead of all claiming the same pool;
  "stochastic" (Cinder's StochasticHostWeightHandler) the first is drawn with
               probability proportional to its raw weighted score.
The rest keep their ranked order: they are the fallbacks for the claims.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from app import metrics
from app.errors import BadRequest
from app.scheduler.cache import CapabilityCache
from app.scheduler.context import Context
from app.scheduler.filters import BaseFilter, filter_class
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState
from app.scheduler.weighers import BaseWeigher, weigher_class
from app.scheduler.weighers.base import normalize_array

DEFAULT_FILTERS = ["AvailabilityZoneFilter", "CapacityFilter", "CapabilitiesFilter"]
DEFAULT_WEIGHERS = ["CapacityWeigher"]
REASON_SAMPLES = 3
OUT_OF_SERVICE_NAMED = 5
HANDLERS = {
    "ordered": "ordered",
    "OrderedHostWeightHandler": "ordered",
    "stochastic": "stochastic",
    "StochasticHostWeightHandler": "stochastic",
}

VolumeHosts = Callable[[list[str]], Mapping[str, str]]


@dataclasses.dataclass
class _Weighed:
    slots: np.ndarray  # candidates, best first
    totals: np.ndarray  # their weights, same order
    parts: dict[str, np.ndarray]  # each weigher's share, same order
    raw_totals: np.ndarray  # unnormalised weighted sums (stochastic handler)


def _rank(totals: np.ndarray, limit: int | None) -> np.ndarray:
    """Positions of the best first; equal weights keep report order (the
    positions' order), as Cinder's stable sorted() does."""
    n = len(totals)
    if n <= 1 or float(totals.min()) == float(totals.max()):
        return np.arange(n)[:limit]
    keys = -totals
    if limit is None or limit >= n // 4:
        return np.argsort(keys, kind="stable")[:limit]
    if limit <= 0:
        return np.arange(0)
    # Only the best `limit`: everything strictly better than the limit-th
    # weight, then the first of those equal to it in report order.
    kth = np.partition(keys, limit - 1)[limit - 1]
    better = np.flatnonzero(keys < kth)
    equal = np.flatnonzero(keys == kth)[: limit - len(better)]
    top = np.concatenate((better, equal))
    top.sort()
    return top[np.argsort(keys[top], kind="stable")]


class Scheduler:
    def __init__(
        self,
        cache: CapabilityCache,
        filters: list[str] | None = None,
        weighers: list[str] | None = None,
        weigher_multipliers: dict[str, float] | None = None,
        rng: random.Random | None = None,
        *,
        weight_handler: str = "ordered",
        host_subset_size: int = 1,
        volume_hosts: VolumeHosts | None = None,
    ) -> None:
        """volume_hosts resolves the same_host/different_host hints (volume id
        -> 'node@backend#pool') when the request does not carry resolved_hints."""
        self.cache = cache
        self.rng = rng or random.Random()
        self.filters: list[BaseFilter] = [
            filter_class(name)() for name in (DEFAULT_FILTERS if filters is None else filters)
        ]
        multipliers = weigher_multipliers or {}
        self.weighers: list[BaseWeigher] = [
            weigher_class(name)(multipliers.get(name), self.rng)
            for name in (DEFAULT_WEIGHERS if weighers is None else weighers)
        ]
        if weight_handler not in HANDLERS:
            raise BadRequest(f"unknown weight handler {weight_handler!r}")
        self.weight_handler = HANDLERS[weight_handler]
        if host_subset_size < 1:
            raise BadRequest("host_subset_size must be at least 1")
        self.host_subset_size = host_subset_size
        self.volume_hosts = volume_hosts

    # -- the decision ---------------------------------------------------------
    def select(
        self, request: VolumeRequest, now: datetime | None = None, limit: int | None = None
    ) -> list[PoolState]:
        """Every pool that passes the filters, up and enabled, best first.

        limit: only the best `limit` of them (the same as the full list cut
        short, but ranks a few instead of sorting thousands)."""
        with metrics.DECISION_SECONDS.time():
            ctx = self._filter(request, now, None)
            weighed = self._weigh(ctx, limit)
            slots = self._choose(weighed)
            chosen: list[PoolState] = self.cache.table.pools[slots].tolist()
        return chosen

    def _resolve(self, request: VolumeRequest) -> VolumeRequest:
        if request.resolved_hints is None and self.volume_hosts is not None:
            ids = request.affinity_volume_ids()
            if ids:
                placed = dict(self.volume_hosts(ids))
                return dataclasses.replace(request, resolved_hints=placed)
        return request

    def _filter(
        self, request: VolumeRequest, now: datetime | None, steps: list[dict[str, Any]] | None
    ) -> Context:
        ctx = Context(self.cache, self._resolve(request), self.cache.considered(now))
        mask = ctx.mask
        if request.only_pool is not None:
            mask &= self._only(request.only_pool)
        if request.only_backends is not None:
            mask &= self._of_backends(request.only_backends)
        for flt in self.filters:
            before = mask.copy() if steps is not None else None
            verdict = flt.filter_mask(ctx)
            if verdict is None:
                verdict = self._pool_by_pool(flt, ctx)
            if verdict is not True:
                np.logical_and(mask, verdict, out=mask)
            if before is not None and steps is not None:
                steps.append(self._step(flt, ctx, before))
            elif not mask.any():
                break
        return ctx

    def _only(self, key: str) -> np.ndarray:
        """The table mask of one named pool (all False when it is not known)."""
        out = np.zeros(self.cache.table.size, dtype=bool)
        host, _, name = key.partition("#")
        pool = self.cache.pool(host, name)
        if pool is not None:
            out[pool.slot] = True
        return out

    def _of_backends(self, hosts: frozenset[str]) -> np.ndarray:
        """The table mask of every pool of these backends."""
        out = np.zeros(self.cache.table.size, dtype=bool)
        for slot, pool in enumerate(self.cache.table.pools):
            if pool is not None and pool.host in hosts:
                out[slot] = True
        return out

    def _pool_by_pool(self, flt: BaseFilter, ctx: Context) -> np.ndarray:
        table = ctx.table
        out = np.zeros(table.size, dtype=bool)
        for slot in np.flatnonzero(ctx.mask):
            out[slot] = flt.passes(table.pools[slot], ctx.request)
        return out

    def _weigh(self, ctx: Context, limit: int | None = None) -> _Weighed:
        slots = ctx.table.in_report_order(ctx.mask)
        n = len(slots)
        totals = np.zeros(n)
        raw_totals = np.zeros(n)
        parts: dict[str, np.ndarray] = {}
        if n > 1:
            for weigher in self.weighers:
                raw = weigher.weigh_array(ctx, slots)
                if raw is None:
                    pools = ctx.table.pools[slots].tolist()
                    raw = np.asarray(weigher.weigh_pools(pools, ctx.request), dtype=float)
                part = weigher.multiplier * normalize_array(raw)
                parts[weigher.name] = part
                totals += part
                raw_totals += weigher.multiplier * raw
        if self.weight_handler == "stochastic":
            limit = None  # the lottery draws from every candidate
        order = _rank(totals, limit)
        return _Weighed(
            slots[order], totals[order], {k: v[order] for k, v in parts.items()},
            raw_totals[order],
        )  # fmt: skip

    def _choose(self, weighed: _Weighed) -> np.ndarray:
        slots = weighed.slots
        if len(slots) <= 1:
            return slots
        pick = 0
        if self.weight_handler == "stochastic":
            pick = self._lottery(weighed.raw_totals)
        elif self.host_subset_size > 1:
            pick = self.rng.randrange(min(self.host_subset_size, len(slots)))
        if pick == 0:
            return slots
        return np.concatenate(([slots[pick]], slots[:pick], slots[pick + 1 :]))

    def _lottery(self, weights: np.ndarray) -> int:
        """Cinder's StochasticHostWeightHandler: a draw proportional to weight."""
        if len(weights) == 0 or (weights < 0).any():
            return 0  # not a distribution: keep the ranking
        bounds = np.cumsum(weights)
        total = float(bounds[-1])
        if total <= 0:
            return 0
        winner = int(np.searchsorted(bounds, self.rng.random() * total, side="right"))
        return min(winner, len(weights) - 1)

    # -- explaining -----------------------------------------------------------
    def _step(self, flt: BaseFilter, ctx: Context, before: np.ndarray) -> dict[str, Any]:
        table = ctx.table
        removed = before & ~ctx.mask
        reasons = {}
        for slot in table.in_report_order(removed)[:REASON_SAMPLES]:
            pool = table.pools[slot]
            reasons[pool.key] = flt.reason(pool, ctx.request)
        n_before = int(np.count_nonzero(before))
        n_after = int(np.count_nonzero(ctx.mask))
        return {
            "name": flt.name,
            "before": n_before,
            "after": n_after,
            "removed": n_before - n_after,
            "reasons": reasons,
            "wanted": flt.summary(ctx.request),
        }

    def explain(
        self, request: VolumeRequest, now: datetime | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """A dry run: what each filter removed (with sample reasons), and the
        best candidates with their weights (each weigher's normalised share)."""
        steps: list[dict[str, Any]] = []
        ctx = self._filter(request, now, steps)
        weighed = self._weigh(ctx)
        table = ctx.table
        candidates = [
            {
                "pool": table.pools[slot].key,
                "weight": float(weighed.totals[i]),
                "weights": {name: float(part[i]) for name, part in weighed.parts.items()},
            }
            for i, slot in enumerate(weighed.slots[:limit])
        ]
        return {
            "pools": len(table.ordered()),
            "considered": int(np.count_nonzero(self.cache.considered(now))),
            "filters": steps,
            "count": len(weighed.slots),
            "candidates": candidates,
        }

    def pool_passes(
        self,
        key: str,
        request: VolumeRequest,
        now: datetime | None = None,
        *,
        skip: tuple[str, ...] = (),
    ) -> str | None:
        """Cinder's host_passes_filters for one named pool ('node@backend#pool'): None
        when it may serve the request, else why not. Retype, migrate and manage ask
        this of a pool they already have in mind."""
        host, _, name = key.partition("#")
        pool = self.cache.pool(host, name)
        if pool is None:
            return f"no pool {key} has been reported"
        backend = self.cache.backend(host)
        if backend is not None and backend.disabled:
            return f"backend {host} is disabled"
        if not self.cache.is_up(host, now):
            return f"backend {host} is down"
        for flt in self.filters:
            if flt.name not in skip and not flt.passes(pool, request):
                return f"{flt.name}: {flt.reason(pool, request)}"
        return None

    # -- groups -----------------------------------------------------------------
    def select_for_group(
        self,
        requests: Sequence[VolumeRequest],
        group_specs: Mapping[str, str],
        now: datetime | None = None,
        limit: int | None = None,
    ) -> list[PoolState]:
        """Cinder's schedule_create_group: the pools that pass the filters for every
        volume type of the group (one request each) and whose capabilities match the
        group type's specs, best first."""
        with metrics.DECISION_SECONDS.time():
            ctx = self._group_filter(requests, group_specs, now)
            # The group has no size or type of its own to weigh by: the candidates are
            # ranked for its first volume type, as Cinder weighs them with the first
            # request spec of the group (every type's filters already agreed on them).
            weighed = self._weigh(ctx, limit)
            chosen: list[PoolState] = self.cache.table.pools[self._choose(weighed)].tolist()
        return chosen

    def _group_filter(
        self,
        requests: Sequence[VolumeRequest],
        group_specs: Mapping[str, str],
        now: datetime | None,
    ) -> Context:
        if not requests:
            raise BadRequest("a group needs at least one volume type")
        first = self._filter(requests[0], now, None)
        for request in requests[1:]:
            np.logical_and(first.mask, self._filter(request, now, None).mask, out=first.mask)
        capabilities = self._group_specs_filter()
        if group_specs and capabilities is not None and first.mask.any():
            specs = Context(self.cache, self._group_specs_request(group_specs), first.mask)
            verdict = capabilities.filter_mask(specs)
            if verdict is None:
                verdict = self._pool_by_pool(capabilities, specs)
            if verdict is not True:
                np.logical_and(first.mask, verdict, out=first.mask)
        return first

    def _group_specs_filter(self) -> BaseFilter | None:
        # Group specs are matched as the CapabilitiesFilter matches a type's extra specs,
        # and only when that filter is configured, as in Cinder.
        return next((f for f in self.filters if f.name == "CapabilitiesFilter"), None)

    @staticmethod
    def _group_specs_request(group_specs: Mapping[str, str]) -> VolumeRequest:
        return VolumeRequest(size_gb=0, extra_specs=dict(group_specs), volume_type_name="group")

    def group_no_valid_backend_reason(
        self,
        requests: Sequence[VolumeRequest],
        group_specs: Mapping[str, str],
        now: datetime | None = None,
    ) -> str:
        """Why no pool can hold the group: the first volume type no pool takes, else how
        many pools each type (and the group specs) leave, none of them common."""
        said = []
        for request in requests:
            name = request.volume_type_name or request.volume_type_id
            left = int(np.count_nonzero(self._filter(request, now, None).mask))
            if not left:
                return f"{self.no_valid_backend_reason(request, now)} (volume type {name})"
            said.append(f"volume type {name}: {left}")
        capabilities = self._group_specs_filter()
        if group_specs and capabilities is not None:
            specs = self._group_specs_request(group_specs)
            left = sum(1 for pool in self.cache.iter_pools() if capabilities.passes(pool, specs))
            said.append(f"group specs: {left}")
        return (
            "No valid backend was found. No pool passes the filters for every volume type "
            f"of the group (pools that pass: {', '.join(said)})."
        )

    def validate_host_capacity(
        self,
        key: str,
        requests: Sequence[VolumeRequest],
        total_gb: int,
        now: datetime | None = None,
    ) -> str | None:
        """Cinder's validate_host_capacity for a group's pool ('node@backend#pool'): None
        when the pool passes the filters for each new member (its type and size) and can
        take their total size at once, else why not. Only the database's claim of the
        total makes it final."""
        for request in requests:
            why = self.pool_passes(key, request, now)
            if why is not None:
                name = request.volume_type_name or request.volume_type_id
                return f"{why} (volume type {name}, {request.size_gb} GB)"
        host, _, name = key.partition("#")
        pool = self.cache.pool(host, name)
        if pool is None:
            return f"no pool {key} has been reported"
        thin = all(r.thin for r in requests)
        if not pool.passes_capacity(total_gb, thin):
            return (
                f"CapacityFilter: {pool.virtual_free(thin):.2f} GB virtual free, "
                f"{total_gb} GB requested for the group"
            )
        return None

    def _out_of_service(self, now: datetime | None) -> list[str]:
        """'backend X is down' / 'backend X is disabled', a few by name."""
        notes = []
        for backend in self.cache.backends():
            if backend.disabled:
                notes.append(f"backend {backend.host} is disabled")
            elif not self.cache.is_up(backend.host, now):
                notes.append(f"backend {backend.host} is down")
        if len(notes) > OUT_OF_SERVICE_NAMED:
            more = len(notes) - OUT_OF_SERVICE_NAMED
            notes = [*notes[:OUT_OF_SERVICE_NAMED], f"{more} more backends are down or disabled"]
        return notes

    def no_valid_backend_reason(self, request: VolumeRequest, now: datetime | None = None) -> str:
        """Cinder's 'No valid backend was found.' with what removed the pools."""
        head = "No valid backend was found."
        steps: list[dict[str, Any]] = []
        ctx = self._filter(request, now, steps)
        if ctx.mask.any():
            return f"{head} Every candidate was taken before it could be claimed."
        total = len(ctx.table.ordered())
        considered = int(np.count_nonzero(self.cache.considered(now)))
        # Named first: a backend that is down or disabled is the news, not what a filter
        # then made of the pools that were left.
        said = self._out_of_service(now)
        if considered == 0:
            if total == 0:
                return f"{head} No backend has reported capabilities."
            return f"{head} {'; '.join(said)}."
        for step in steps:
            if step["removed"]:
                wanted = f" ({step['wanted']})" if step["wanted"] else ""
                said.append(
                    f"{step['name']} removed {step['removed']} of {step['before']} pools{wanted}"
                )
        return f"{head} {'; '.join(said)}."
