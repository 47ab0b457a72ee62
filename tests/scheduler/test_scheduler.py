from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.errors import BadRequest
from app.scheduler import CapabilityCache, Scheduler, VolumeRequest
from app.scheduler.weighers import normalize
from app.scheduler.weighers.capacity import replace_infinite
from tests.scheduler.conftest import NOW, feed, to_request
from tests.scheduler.helpers import make_pool, report


@pytest.mark.parametrize("n_pools", [100, 1000, 10000])
@pytest.mark.parametrize("kind", ["untyped", "typed"])
def test_select_is_the_oracle(wl: Any, n_pools: int, kind: str) -> None:
    backends = wl.make_backends(n_pools)
    cache = CapabilityCache()
    feed(cache, backends)
    raw = wl.make_requests(kind)
    chosen = Scheduler(cache).select(to_request(raw), NOW)
    assert {p.key for p in chosen} == wl.oracle(backends, raw)
    assert chosen[0].key == wl.best(backends, raw)
    # best first: virtual free never grows down the list
    free = [p.virtual_free(True) for p in chosen]
    assert free == sorted(free, reverse=True)


THICK = {"provisioning:type": "thick"}


def small_cache() -> CapabilityCache:
    cache = CapabilityCache()
    cache.ingest("n1@lvm", "az1", report(
        make_pool("a", free_capacity_gb=90.0, disk_type="ssd"),
        make_pool("b", free_capacity_gb=10.0, thin_provisioning_support=False,
                  thick_provisioning_support=True, max_over_subscription_ratio="1.0",
                  provisioned_capacity_gb=90.0, disk_type="hdd"),
    ), NOW)  # fmt: skip
    cache.ingest("n2@lvm", "az2", report(make_pool("c", disk_type="ssd", multiattach=False)), NOW)
    return cache


@pytest.mark.parametrize(
    ("request_kw", "expected"),
    [
        ({"size_gb": 1}, ["n1@lvm#a", "n2@lvm#c", "n1@lvm#b"]),
        ({"size_gb": 1, "availability_zone": "az2"}, ["n2@lvm#c"]),
        ({"size_gb": 1, "availability_zone": "nowhere"}, []),
        ({"size_gb": 11}, ["n1@lvm#a", "n2@lvm#c"]),  # b is thick with 10 GB free
        ({"size_gb": 1, "extra_specs": {"disk_type": "ssd"}}, ["n1@lvm#a", "n2@lvm#c"]),
        ({"size_gb": 1, "extra_specs": THICK}, ["n2@lvm#c", "n1@lvm#a", "n1@lvm#b"]),
        ({"size_gb": 98, "extra_specs": THICK}, []),
        ({"size_gb": 1, "multiattach": True}, ["n1@lvm#a", "n1@lvm#b"]),
        ({"size_gb": 1, "extra_specs": {"capabilities:storage_protocol": "iscsi"}},
         ["n1@lvm#a", "n2@lvm#c", "n1@lvm#b"]),
    ],
)  # fmt: skip
def test_default_filters(request_kw: dict[str, Any], expected: list[str]) -> None:
    chosen = Scheduler(small_cache()).select(VolumeRequest(**request_kw), NOW)
    assert [p.key for p in chosen] == expected


def test_down_and_disabled_backends_are_not_considered() -> None:
    cache = small_cache()
    sched = Scheduler(cache)
    request = VolumeRequest(size_gb=1)
    cache.set_disabled("n1@lvm", True)
    assert [p.key for p in sched.select(request, NOW)] == ["n2@lvm#c"]
    cache.set_disabled("n1@lvm", False)
    cache.heard("n1@lvm", NOW + timedelta(seconds=100))
    later = NOW + timedelta(seconds=100)
    assert [p.key for p in sched.select(request, later)] == ["n1@lvm#a", "n1@lvm#b"]


def test_pending_claims_move_the_choice() -> None:
    cache = small_cache()
    sched = Scheduler(cache)
    request = VolumeRequest(size_gb=1, extra_specs={"provisioning:type": "thick"})
    assert sched.select(request, NOW)[0].key == "n2@lvm#c"  # 97 GB free vs 90
    cache.set_allocated("n2@lvm", "c", 3.0 + 10.0)  # 10 GB claimed since the report
    assert sched.select(request, NOW)[0].key == "n1@lvm#a"


def test_ties_keep_report_order() -> None:
    cache = CapabilityCache()
    for host in ("n3@x", "n1@x", "n2@x"):
        cache.ingest(host, "az", report(make_pool("p"), make_pool("q")), NOW)
    chosen = Scheduler(cache).select(VolumeRequest(size_gb=1), NOW)
    assert [p.key for p in chosen] == [
        "n3@x#p", "n3@x#q", "n1@x#p", "n1@x#q", "n2@x#p", "n2@x#q",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([], []),
        ([5.0], [0.0]),
        ([3.0, 3.0], [0.0, 0.0]),
        ([0.0, 5.0, 10.0], [0.0, 0.5, 1.0]),
        ([-10.0, 10.0], [0.0, 1.0]),
    ],
)
def test_normalize(weights: list[float], expected: list[float]) -> None:
    assert normalize(weights) == expected


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([1.0, 2.0], [1.0, 2.0]),
        ([1.0, 3.0, float("inf")], [1.0, 3.0, 5.0]),  # max + (max - min)
        ([2.0, 2.0, float("inf")], [2.0, 2.0, 10002.0]),  # OFFSET_MIN
        ([float("inf"), float("inf")], [0.0, 0.0]),
    ],
)
def test_capacity_weigher_infinite(weights: list[float], expected: list[float]) -> None:
    assert replace_infinite(weights) == expected


def test_negative_multiplier_stacks() -> None:
    sched = Scheduler(small_cache(), weigher_multipliers={"CapacityWeigher": -1.0})
    chosen = sched.select(VolumeRequest(size_gb=1), NOW)
    assert [p.key for p in chosen] == ["n1@lvm#b", "n1@lvm#a", "n2@lvm#c"]  # a, c tie


def test_unknown_capacity_is_weighed_last() -> None:
    cache = small_cache()
    cache.ingest("n9@x", "az1", report(make_pool("u", free_capacity_gb="unknown")), NOW)
    chosen = Scheduler(cache).select(VolumeRequest(size_gb=1), NOW)
    assert chosen[-1].key == "n9@x#u"
    stacked = Scheduler(cache, weigher_multipliers={"CapacityWeigher": -1.0})
    assert stacked.select(VolumeRequest(size_gb=1), NOW)[-1].key == "n9@x#u"


def test_explain() -> None:
    sched = Scheduler(small_cache())
    out = sched.explain(VolumeRequest(size_gb=11, availability_zone="az1"), NOW)
    assert [(f["name"], f["before"], f["after"], f["removed"]) for f in out["filters"]] == [
        ("AvailabilityZoneFilter", 3, 2, 1),
        ("CapacityFilter", 2, 1, 1),
        ("CapabilitiesFilter", 1, 1, 0),
    ]
    assert out["filters"][1]["reasons"] == {"n1@lvm#b": "10.00 GB virtual free (thin)"}
    assert out["candidates"] == [
        {"pool": "n1@lvm#a", "weight": 0.0, "weights": {}},
    ]


def test_no_valid_backend_reason() -> None:
    sched = Scheduler(small_cache())
    msg = sched.no_valid_backend_reason(VolumeRequest(size_gb=5000, availability_zone="az1"), NOW)
    assert msg == (
        "No valid backend was found. AvailabilityZoneFilter removed 1 of 3 pools "
        "(availability zone 'az1'); CapacityFilter removed 2 of 2 pools (requested 5000 GB)."
    )
    empty = Scheduler(CapabilityCache())
    assert "No backend has reported" in empty.no_valid_backend_reason(VolumeRequest(size_gb=1))


def test_a_backend_down_or_disabled_is_named_in_the_reason() -> None:
    cache = small_cache()
    sched = Scheduler(cache)
    later = NOW + timedelta(seconds=cache.service_down_time + 1)
    cache.heard("n2@lvm", later)  # n1 went silent, n2 still reports
    msg = sched.no_valid_backend_reason(VolumeRequest(size_gb=1, availability_zone="az1"), later)
    assert msg == (
        "No valid backend was found. backend n1@lvm is down; "
        "AvailabilityZoneFilter removed 1 of 1 pools (availability zone 'az1')."
    )
    cache.set_disabled("n2@lvm", True)
    assert sched.no_valid_backend_reason(VolumeRequest(size_gb=1), later) == (
        "No valid backend was found. backend n1@lvm is down; backend n2@lvm is disabled."
    )


def test_unknown_plugin_names() -> None:
    with pytest.raises(BadRequest, match="NoSuchFilter"):
        Scheduler(CapabilityCache(), filters=["NoSuchFilter"])
    with pytest.raises(BadRequest, match="NoSuchWeigher"):
        Scheduler(CapabilityCache(), weighers=["NoSuchWeigher"])
