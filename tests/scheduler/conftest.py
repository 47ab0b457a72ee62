"""Scheduler fixtures: the shared workload (Cinder's semantics as an oracle)
loaded by path, and caches fed with its backends."""

from __future__ import annotations

import importlib.util
import os
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from app.scheduler import CapabilityCache, VolumeRequest
from tests.conftest import need

# The shared workload lives in shared/, beside the repository (as in CI's checkout).
_BESIDE = Path(__file__).resolve().parents[3] / "shared" / "bench" / "workload.py"
_FOUND = next((p for p in (_BESIDE, Path("/work/shared/bench/workload.py")) if p.exists()), _BESIDE)
WORKLOAD = Path(os.environ.get("PUMICE_WORKLOAD", str(_FOUND)))
NOW = datetime(2026, 11, 25, 15, 0, 0)


def load_workload() -> ModuleType:
    spec = importlib.util.spec_from_file_location("workload", WORKLOAD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def wl() -> ModuleType:
    need(WORKLOAD.exists(), f"the shared workload at {WORKLOAD} (set PUMICE_WORKLOAD)")
    return load_workload()


def feed(cache: CapabilityCache, backends: list[dict[str, Any]], at: datetime = NOW) -> None:
    """Ingest workload backends: 'host' and 'availability_zone' are not the report."""
    for backend in backends:
        report = {k: v for k, v in backend.items() if k not in ("host", "availability_zone")}
        assert cache.ingest(backend["host"], backend["availability_zone"], report, at)


def to_request(raw: dict[str, Any]) -> VolumeRequest:
    vtype = raw.get("volume_type") or {}
    return VolumeRequest(
        size_gb=raw["size_gb"],
        availability_zone=raw.get("availability_zone"),
        extra_specs=dict(vtype.get("extra_specs") or {}),
        volume_type_name=vtype.get("name"),
    )


@pytest.fixture(scope="session")
def backends_10k(wl: ModuleType) -> list[dict[str, Any]]:
    backends: list[dict[str, Any]] = wl.make_backends(10000)
    return backends


@pytest.fixture(scope="session")
def cache_10k(backends_10k: list[dict[str, Any]]) -> CapabilityCache:
    """Shared and read-only: tests that change a cache build their own."""
    cache = CapabilityCache()
    feed(cache, backends_10k)
    return cache


@pytest.fixture(scope="module")
def rich(wl: Any) -> CapabilityCache:
    """The rich cache (tests/scheduler/rich.py) fed with the workload's backends."""
    from tests.scheduler.rich import rich_cache  # rich.py imports NOW from here

    return rich_cache(wl)
