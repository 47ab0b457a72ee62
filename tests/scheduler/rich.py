"""A workload cache with everything the vectorised path must get right:
filter/goodness functions, values the index cannot hold, unknown capacity,
claims, volume counts, a disabled and a down backend."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from typing import Any

from app.scheduler import CapabilityCache, PoolState, Scheduler, VolumeRequest
from app.scheduler.weighers import normalize
from tests.scheduler.conftest import NOW

VOLUME_A = str(uuid.UUID(int=1))
VOLUME_B = str(uuid.UUID(int=2))


QUERY = (
    '["and", [">=", "$free_capacity_gb", 20000], ["in", "$capabilities.tier", "gold", "bronze"]]'
)


def rich_backends(wl: Any, n_pools: int = 2000) -> list[dict[str, Any]]:
    backends: list[dict[str, Any]] = copy.deepcopy(wl.make_backends(n_pools, seed=7))
    for i, backend in enumerate(backends):
        if i % 7 == 0:
            backend["filter_function"] = "volume.size <= capabilities.total_capacity_gb / 1000"
            backend["goodness_function"] = "capabilities.disk_type == ssd ? 80 : 20"
        for j, pool in enumerate(backend["pools"]):
            if (i + j) % 11 == 0:
                pool["extra_info"] = {"x": "y" if j % 2 else "z"}
                pool["tags"] = ["a", {"b": 1}]
            if (i + j) % 13 == 0:
                pool["tags"] = ["a", "b"]
            if (i + j) % 97 == 0:
                pool["free_capacity_gb"] = "unknown" if j % 2 else "infinite"
            if (i + j) % 31 == 0:
                pool["goodness_function"] = "volume.size > 10"
    return backends


def rich_cache(wl: Any) -> CapabilityCache:
    cache = CapabilityCache()
    for i, backend in enumerate(rich_backends(wl)):
        report = {k: v for k, v in backend.items() if k not in ("host", "availability_zone")}
        heard = NOW - timedelta(seconds=3600) if i == 5 else NOW  # one backend down
        cache.ingest(backend["host"], backend["availability_zone"], report, NOW, heard)
        for j, pool in enumerate(backend["pools"]):
            if (i + j) % 5 == 0:
                cache.set_allocated(
                    backend["host"], pool["pool_name"], pool["allocated_capacity_gb"] + 40 * j
                )
            cache.set_volume_count(backend["host"], pool["pool_name"], (i * 7 + j) % 13)
    hosts = [b.host for b in cache.backends()]
    cache.set_disabled(hosts[3], True)
    return cache


def requests(cache: CapabilityCache) -> list[VolumeRequest]:
    hosts = [b.host for b in cache.backends()]
    some = cache.pools()[40]
    resolved = {VOLUME_A: some.key, VOLUME_B: hosts[12]}
    typed = {
        "capabilities:disk_type": "ssd",
        "thin_provisioning_support": "<is> True",
        "compression": "<is> True",
        "tier": "<or> gold <or> silver",
        "provisioning:type": "thin",
        "acme:replication_policy": "async",
    }
    return [
        VolumeRequest(size_gb=50),
        VolumeRequest(size_gb=50, availability_zone="az1", extra_specs=typed),
        VolumeRequest(size_gb=5000, extra_specs={"provisioning:type": "thick"}),
        VolumeRequest(size_gb=0),
        VolumeRequest(size_gb=10**9),
        VolumeRequest(size_gb=1, availability_zone="nowhere"),
        VolumeRequest(size_gb=1, multiattach=True),
        VolumeRequest(size_gb=1, extra_specs={"capabilities:extra_info:x": "y"}),
        VolumeRequest(size_gb=1, extra_specs={"extra_info": "<in> x", "disk_type": "hdd"}),
        VolumeRequest(size_gb=1, extra_specs={"tags": "b", "storage_protocol": "<in> csi"}),
        VolumeRequest(size_gb=1, extra_specs={"total_capacity_gb": ">= 100000", "x": "y"}),
        VolumeRequest(size_gb=1, ignore_hosts={hosts[0], some.key}),
        VolumeRequest(size_gb=1, scheduler_hints={"same_host": [VOLUME_A, VOLUME_B]},
                      resolved_hints=resolved),
        VolumeRequest(size_gb=1, scheduler_hints={"different_host": VOLUME_B},
                      resolved_hints=resolved),
        VolumeRequest(size_gb=1, scheduler_hints={"different_host": "not-a-uuid"}),
        VolumeRequest(size_gb=1, scheduler_hints={"query": QUERY}),
        VolumeRequest(size_gb=30, qos_specs={"maxIOPS": "100"}),
    ]  # fmt: skip


def reference_select(scheduler: Scheduler, request: VolumeRequest) -> list[PoolState]:
    """The plain per-pool algorithm (Cinder's), to hold the vectorised one to."""
    cache = scheduler.cache
    pools = [
        p
        for b in cache.backends()
        if not b.disabled and cache.is_up(b.host, NOW)
        for p in b.pools.values()
    ]
    for flt in scheduler.filters:
        pools = [p for p in pools if flt.passes(p, request)]
    totals = [0.0] * len(pools)
    if len(pools) > 1:
        for weigher in scheduler.weighers:
            scores = normalize(weigher.weigh_pools(pools, request))
            totals = [t + weigher.multiplier * s for t, s in zip(totals, scores, strict=True)]
    order = sorted(range(len(pools)), key=lambda i: -totals[i])
    return [pools[i] for i in order]
