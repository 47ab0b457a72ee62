"""The scheduler's group operations: select_for_group (Cinder's schedule_create_group),
its no-valid-backend reason, only_pool restriction, and validate_host_capacity."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import BadRequest
from app.scheduler import CapabilityCache, Scheduler, VolumeRequest
from tests.scheduler.conftest import NOW
from tests.scheduler.helpers import make_pool, report

THICK = {"provisioning:type": "thick"}


def cache() -> CapabilityCache:
    """Three backends: 'a' is ssd only, 'b' replicated hdd, 'c' the one with both (and
    the least free space, so the capacity weigher alone would rank it last)."""
    out = CapabilityCache()
    out.ingest("n1@a", "az1", report(make_pool("a", free_capacity_gb=90.0, disk="ssd")), NOW)
    out.ingest(
        "n1@b", "az1", report(make_pool("b", free_capacity_gb=80.0, disk="hdd", repl=True)), NOW
    )
    out.ingest(
        "n1@c",
        "az1",
        report(
            make_pool(
                "c",
                total_capacity_gb=12.0,
                free_capacity_gb=10.0,
                allocated_capacity_gb=2.0,
                provisioned_capacity_gb=2.0,
                thin_provisioning_support=False,
                thick_provisioning_support=True,
                max_over_subscription_ratio="1.0",
                disk="ssd",
                repl=True,
                group_replication=True,
            )
        ),
        NOW,
    )
    return out


def req(*specs: dict[str, str], size: int = 1) -> VolumeRequest:
    merged = {k: v for spec in specs for k, v in spec.items()}
    return VolumeRequest(size_gb=size, extra_specs=merged, volume_type_name="t")


SSD = {"disk": "ssd"}
REPL = {"repl": "<is> True"}


@pytest.mark.parametrize(
    ("requests", "group_specs", "expected"),
    [
        ([SSD], {}, ["n1@a#a", "n1@c#c"]),
        ([REPL], {}, ["n1@b#b", "n1@c#c"]),
        ([SSD, REPL], {}, ["n1@c#c"]),
        ([SSD], {"group_replication": "<is> True"}, ["n1@c#c"]),
        ([SSD], {"consistent_group_snapshot_enabled": "<is> True"}, []),
        ([SSD, {"disk": "hdd"}], {}, []),
        # Keys of another scope are not capabilities: the filter skips them.
        ([SSD], {"other:key": "x"}, ["n1@a#a", "n1@c#c"]),
    ],
)
def test_select_for_group(
    requests: list[dict[str, str]], group_specs: dict[str, str], expected: list[str]
) -> None:
    scheduler = Scheduler(cache())
    chosen = scheduler.select_for_group([req(s) for s in requests], group_specs, NOW)
    assert [p.key for p in chosen] == expected


def test_each_type_is_filtered_with_its_own_size_and_provisioning() -> None:
    scheduler = Scheduler(cache())
    # 'c' is thick with 10 GB free: a 20 GB request of either type rules it out.
    chosen = scheduler.select_for_group([req(SSD), req(REPL, size=20)], {}, NOW)
    assert chosen == []
    chosen = scheduler.select_for_group([req(SSD), req(REPL, THICK, size=10)], {}, NOW)
    assert [p.key for p in chosen] == ["n1@c#c"]


def test_group_reason_names_what_failed() -> None:
    scheduler = Scheduler(cache())
    why = scheduler.group_no_valid_backend_reason([req(SSD), req({"disk": "hdd"})], {}, NOW)
    assert why.startswith("No valid backend was found. No pool passes the filters for every")
    assert "volume type t: 2" in why and "volume type t: 1" in why
    why = scheduler.group_no_valid_backend_reason([req(SSD), req({"disk": "nvme"})], {}, NOW)
    assert "CapabilitiesFilter removed 3 of 3 pools" in why
    specs = {"consistent_group_snapshot_enabled": "<is> True"}
    why = scheduler.group_no_valid_backend_reason([req(SSD)], specs, NOW)
    assert "group specs: 0" in why
    with pytest.raises(BadRequest):
        scheduler.select_for_group([], {}, NOW)


def test_only_pool_restricts_the_candidates_before_any_filter() -> None:
    scheduler = Scheduler(cache())
    request = req(SSD)
    request.only_pool = "n1@c#c"
    assert [p.key for p in scheduler.select(request, NOW)] == ["n1@c#c"]
    request.only_pool = "n1@b#b"  # known, but not ssd
    assert scheduler.select(request, NOW) == []
    request.only_pool = "n9@nowhere#x"
    assert scheduler.select(request, NOW) == []
    request.only_pool = "n1@c#c"
    request.size_gb = 11  # more than 'c' has
    assert scheduler.select(request, NOW) == []
    assert "CapacityFilter removed 1 of 1 pools" in scheduler.no_valid_backend_reason(request, NOW)


@pytest.mark.parametrize(
    ("sizes", "total", "why"),
    [
        ([3, 4], 7, None),
        ([10], 10, None),
        ([6, 5], 11, "CapacityFilter: 10.00 GB virtual free, 11 GB requested for the group"),
        ([11], 11, "CapacityFilter"),
        ([], 0, None),
    ],
)
def test_validate_host_capacity(sizes: list[int], total: int, why: str | None) -> None:
    scheduler = Scheduler(cache())
    requests = [req(SSD, size=size) for size in sizes]
    answer = scheduler.validate_host_capacity("n1@c#c", requests, total, NOW)
    if why is None:
        assert answer is None
    else:
        assert answer is not None and why in answer


def test_validate_host_capacity_checks_each_members_type() -> None:
    scheduler = Scheduler(cache())
    why: Any = scheduler.validate_host_capacity("n1@a#a", [req(REPL)], 1, NOW)
    assert why is not None and why.startswith("CapabilitiesFilter")
    why = scheduler.validate_host_capacity("n1@x#x", [], 0, NOW)
    assert why == "no pool n1@x#x has been reported"
