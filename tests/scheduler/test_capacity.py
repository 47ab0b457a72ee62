from __future__ import annotations

import math
from typing import Any

import pytest

from app.scheduler.capacity import (
    UNLIMITED_GB,
    capacity,
    claim_limits,
    figures,
    max_over_subscription_ratio,
    virtual_free_report,
)


def pool(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "pool_name": "p",
        "total_capacity_gb": 1000,
        "free_capacity_gb": 400.0,
        "allocated_capacity_gb": 600.0,
        "provisioned_capacity_gb": 600.0,
        "thin_provisioning_support": False,
        "thick_provisioning_support": True,
        "max_over_subscription_ratio": "1.0",
        "reserved_percentage": 0,
    }
    base.update(kw)
    return base


THIN = {"thin_provisioning_support": True, "thick_provisioning_support": False}


@pytest.mark.parametrize(
    ("report", "size", "thin", "passes", "vf"),
    [
        # thick pool: min(free, T - provisioned)
        (pool(), 400, True, True, 400.0),
        (pool(), 401, True, False, 400.0),
        (pool(free_capacity_gb=300.0), 301, False, False, 300.0),
        (pool(reserved_percentage=10), 300, True, True, 300.0),  # T = 900
        (pool(reserved_percentage=10), 301, True, False, 300.0),
        # thin pool, thin request: T * mosr - provisioned
        (pool(**THIN, max_over_subscription_ratio="20.0"), 19400, True, True, 19400.0),
        (pool(**THIN, max_over_subscription_ratio="20.0"), 19401, True, False, 19400.0),
        (pool(**THIN, max_over_subscription_ratio=2), 1400, True, True, 1400.0),
        # thin pool, thick request: like a thick pool
        (pool(**THIN, max_over_subscription_ratio="20.0"), 401, False, False, 400.0),
        # a ratio below 1 fails every thin request
        (pool(**THIN, max_over_subscription_ratio="0.5"), 1, True, False, -100.0),
        # 'auto': 1 + provisioned / (total - free + 1)
        (
            pool(**THIN, max_over_subscription_ratio="auto"),
            1,
            True,
            True,
            1000 * (1 + 600 / 601) - 600,
        ),
        (
            pool(**THIN, max_over_subscription_ratio="auto", provisioned_capacity_gb=0),
            19999,
            True,
            True,
            20000.0,
        ),
        # no ratio reported: the option's default (20)
        (pool(**THIN, max_over_subscription_ratio=None), 19400, True, True, 19400.0),
        # nothing there
        (pool(total_capacity_gb=0, free_capacity_gb=0), 1, True, False, -600.0),
        (pool(free_capacity_gb=None), 1, True, False, -1.0),
        # 'infinite' / 'unknown'
        (pool(free_capacity_gb="infinite"), 10**9, True, True, UNLIMITED_GB),
        (pool(free_capacity_gb="unknown"), 10**9, False, True, UNLIMITED_GB),
        (pool(total_capacity_gb="unknown"), 10**9, True, True, UNLIMITED_GB),
        (pool(total_capacity_gb="infinite", reserved_percentage=5), 1, True, False, -1.0),
        # size 0 is a manage request: always passes
        (pool(total_capacity_gb=0, free_capacity_gb=0), 0, True, True, -600.0),
    ],
)
def test_capacity_table(
    report: dict[str, Any], size: int, thin: bool, passes: bool, vf: float
) -> None:
    assert capacity(report, size, thin) is passes
    assert figures(report).virtual_free(thin) == pytest.approx(round(vf, 2))


def test_auto_ratio_matches_cinder() -> None:
    report = pool(**THIN, max_over_subscription_ratio="auto")
    assert max_over_subscription_ratio(report) == 1 + 600 / (1000 - 400 + 1)
    assert max_over_subscription_ratio(pool()) == 1.0
    assert max_over_subscription_ratio(pool(**THIN, free_capacity_gb="unknown")) == 1.0


@pytest.mark.parametrize("size", [1, 50, 500, 5000, 50000])
@pytest.mark.parametrize("thin", [True, False])
def test_capacity_matches_workload_on_every_pool(
    wl: Any, backends_10k: list[dict[str, Any]], size: int, thin: bool
) -> None:
    checked = 0
    for backend in backends_10k:
        for report in backend["pools"]:
            expected_ok, expected_vf = wl.capacity(report, size, thin)
            fig = figures(report)
            assert fig.passes(size, thin) is expected_ok, (backend["host"], report)
            assert fig.virtual_free(thin) == expected_vf
            assert virtual_free_report(report, thin)[1] == expected_vf
            checked += 1
    assert checked == 10000


@pytest.mark.parametrize(
    ("ledger", "size", "fits"),
    [
        (0.0, 400, True),  # ledger behind the report: the report decides
        (600.0, 400, True),  # ledger == reported allocated: nothing pending
        (650.0, 350, True),  # 50 pending
        (650.0, 351, False),
        (1000.0, 1, False),
    ],
)
def test_claim_limit_and_pending(ledger: float, size: int, fits: bool) -> None:
    report = pool()  # thick, A = 600, vf = 400
    limit, limit_thick = claim_limits(report)
    assert limit == limit_thick == 1000.0
    # the database's guard
    assert (max(ledger, 600.0) + size <= limit) is fits
    # the cache's view of the same claim
    pending = max(0.0, ledger - 600.0)
    assert figures(report).passes(size, True, pending) is fits


def test_claim_limits_thin_and_unusable() -> None:
    report = pool(**THIN, max_over_subscription_ratio="20.0")
    assert claim_limits(report) == (600.0 + 19400.0, 600.0 + 400.0)
    dead = pool(total_capacity_gb=0, free_capacity_gb=0)
    limit, _ = claim_limits(dead)
    assert max(0.0, 600.0) + 1 > limit
    unlimited = pool(free_capacity_gb="infinite")
    assert claim_limits(unlimited) == (UNLIMITED_GB, UNLIMITED_GB)
    assert math.isfinite(UNLIMITED_GB)
