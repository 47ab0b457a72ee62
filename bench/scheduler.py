#!/usr/bin/env python3
"""Scheduler benchmark: Pumice's CapabilityCache + Scheduler on the shared workload.

    python bench/scheduler.py --workload /work/shared/bench/workload.py \
        --pools 100,1000,10000 --json

For each size it ingests the workload's backends into a CapabilityCache ('host'
and 'availability_zone' are the arguments, the rest is the report), checks that
select() returns exactly workload.oracle() with workload.best() first, and only
then times whole decisions (filters + weighers + choice, no database): one line
per size and request kind. Ingest is timed per backend report, first sight
(cold: new rows) and again with a newer timestamp (warm: the steady state).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shlex
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from app.scheduler import CapabilityCache, Scheduler, VolumeRequest

NOW = datetime(2026, 11, 25, 15, 0, 0)


def load_workload(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("workload", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the workload from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def to_request(raw: dict[str, Any]) -> VolumeRequest:
    vtype = raw.get("volume_type") or {}
    return VolumeRequest(
        size_gb=raw["size_gb"],
        availability_zone=raw.get("availability_zone"),
        extra_specs=dict(vtype.get("extra_specs") or {}),
        volume_type_name=vtype.get("name"),
    )


def reports(backends: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for backend in backends:
        report = {k: v for k, v in backend.items() if k not in ("host", "availability_zone")}
        out.append((backend["host"], backend["availability_zone"], report))
    return out


def time_ingest(
    cache: CapabilityCache, feed: list[tuple[str, str, dict[str, Any]]], at: datetime
) -> float:
    """Microseconds per report."""
    started = time.perf_counter()
    for host, zone, report in feed:
        if not cache.ingest(host, zone, report, at):
            raise SystemExit(f"report of {host} refused")
    return (time.perf_counter() - started) / len(feed) * 1e6


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def time_select(
    scheduler: Scheduler, request: VolumeRequest, iterations: int, limit: int | None = None
) -> list[float]:
    for _ in range(5):  # warm: the capability index and mask caches
        scheduler.select(request, NOW, limit=limit)
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        scheduler.select(request, NOW, limit=limit)
        times.append((time.perf_counter() - started) * 1e3)
    return times


def run(wl: ModuleType, n_pools: int, iterations: int, command: str) -> list[dict[str, Any]]:
    backends = wl.make_backends(n_pools)
    feed = reports(backends)
    cache = CapabilityCache()
    ingest_cold = time_ingest(cache, feed, NOW)
    ingest_warm = time_ingest(cache, feed, NOW + timedelta(seconds=1))
    scheduler = Scheduler(cache)
    rows = []
    for kind in wl.REQUEST_KINDS:
        raw = wl.make_requests(kind)
        request = to_request(raw)
        chosen = scheduler.select(request, NOW + timedelta(seconds=1))
        expected = wl.oracle(backends, raw)
        got = {p.key for p in chosen}
        if got != expected:
            raise SystemExit(
                f"{n_pools} pools, {kind}: select() differs from the oracle "
                f"({len(got - expected)} extra, {len(expected - got)} missing)"
            )
        best = wl.best(backends, raw)
        if (chosen[0].key if chosen else None) != best:
            raise SystemExit(f"{n_pools} pools, {kind}: first is not workload.best() ({best})")
        times = time_select(scheduler, request, iterations)
        top3 = time_select(scheduler, request, iterations, limit=3)
        rows.append(
            {
                "pools": n_pools,
                "backends": len(backends),
                "request": kind,
                "candidates": len(chosen),
                "best": best,
                "oracle_ok": True,
                "median_ms": round(statistics.median(times), 4),
                "p95_ms": round(percentile(times, 95), 4),
                "min_ms": round(min(times), 4),
                "top3_median_ms": round(statistics.median(top3), 4),
                "ingest_us": round(ingest_warm, 2),
                "ingest_first_us": round(ingest_cold, 2),
                "iterations": iterations,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "command": command,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", required=True, help="path to the shared workload.py")
    parser.add_argument("--pools", default="100,1000,10000")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="one JSON line per size and kind")
    args = parser.parse_args(argv)
    command = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(argv)
    wl = load_workload(args.workload)
    if not args.json:
        print(
            f"{'pools':>7} {'request':>8} {'cand':>6} {'median ms':>10} {'p95 ms':>8}"
            f" {'top3 ms':>8} {'ingest us':>10} {'first us':>9}"
        )
    for n in (int(x) for x in args.pools.split(",") if x):
        for row in run(wl, n, args.iterations, command):
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{row['pools']:>7} {row['request']:>8} {row['candidates']:>6}"
                    f" {row['median_ms']:>10.3f} {row['p95_ms']:>8.3f}"
                    f" {row['top3_median_ms']:>8.3f} {row['ingest_us']:>10.1f}"
                    f" {row['ingest_first_us']:>9.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
