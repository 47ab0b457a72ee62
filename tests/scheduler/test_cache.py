from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.errors import BadRequest
from app.scheduler import CapabilityCache
from tests.scheduler.helpers import make_pool, report

T0 = datetime(2026, 11, 25, 15, 0, 0)
HOST = "node1@file1"


def test_ingest_builds_pools() -> None:
    cache = CapabilityCache()
    assert cache.ingest(HOST, "nova", report(make_pool("a"), make_pool("b")), T0)
    pool = cache.pool(HOST, "a")
    assert pool is not None
    assert (pool.host, pool.name, pool.key) == (HOST, "a", "node1@file1#a")
    assert pool.availability_zone == "nova"
    assert pool.capabilities["storage_protocol"] == ["iSCSI", "iscsi"]
    assert pool.capabilities["volume_backend_name"] == "file1"
    assert pool.thin and not pool.thick
    assert pool.max_over_subscription_ratio == 20.0
    assert pool.total_capacity_gb == 100.0 and pool.free_capacity_gb == 97.0
    assert pool.provisioned_capacity_gb == 3.0 and pool.reported_allocated_gb == 3.0
    assert pool.virtual_free(True) == 1997.0 and pool.virtual_free(False) == 97.0
    assert pool.limit_gb(True) == 2000.0 and pool.limit_gb(False) == 100.0
    assert [p.key for p in cache.pools()] == ["node1@file1#a", "node1@file1#b"]
    backend = cache.backend(HOST)
    assert backend is not None and backend.volume_backend_name == "file1"
    assert [b.host for b in cache.backends()] == [HOST]


@pytest.mark.parametrize(
    ("second", "accepted"),
    [
        (T0 - timedelta(seconds=1), False),  # older: ignored
        (T0, True),  # the same report again (a refresh from the database)
        (T0 + timedelta(seconds=1), True),
    ],
)
def test_older_report_is_ignored(second: datetime, accepted: bool) -> None:
    cache = CapabilityCache()
    cache.ingest(HOST, "nova", report(make_pool("a", free_capacity_gb=50.0)), T0)
    assert (
        cache.ingest(HOST, "nova", report(make_pool("a", free_capacity_gb=10.0)), second)
        is accepted
    )
    pool = cache.pool(HOST, "a")
    assert pool is not None
    assert pool.free_capacity_gb == (10.0 if accepted else 50.0)


def test_aware_timestamps_are_utc() -> None:
    cache = CapabilityCache()
    cache.ingest(HOST, "nova", report(), T0.replace(tzinfo=UTC))
    assert not cache.ingest(HOST, "nova", report(), T0 - timedelta(microseconds=1))
    assert cache.is_up(HOST, T0)


@pytest.mark.parametrize(
    ("heard_after", "now_after", "up"),
    [
        (0, 0, True),
        (0, 60, True),  # exactly service_down_time: still up
        (0, 61, False),
        (30, 61, True),  # a heartbeat keeps it up without a new report
        (0, -61, False),  # Cinder uses abs(): a clock far behind is down too
    ],
)
def test_up_by_heard_time(heard_after: int, now_after: int, up: bool) -> None:
    cache = CapabilityCache(service_down_time=60)
    cache.ingest(HOST, "nova", report(), T0)
    if heard_after:
        cache.heard(HOST, T0 + timedelta(seconds=heard_after))
    assert cache.is_up(HOST, T0 + timedelta(seconds=now_after)) is up


def test_heard_at_differs_from_reported_at() -> None:
    cache = CapabilityCache(service_down_time=60)
    cache.ingest(HOST, "nova", report(), T0, heard_at=T0 + timedelta(seconds=500))
    assert cache.is_up(HOST, T0 + timedelta(seconds=530))
    assert not cache.is_up("other@x", T0)


def test_pools_come_and_go_in_report_order() -> None:
    cache = CapabilityCache()
    cache.ingest("n1@b", "az", report(make_pool("a"), make_pool("b")), T0)
    cache.ingest("n2@b", "az", report(make_pool("x")), T0)
    # b goes, c comes: a keeps its place, c goes last of n1's pools
    cache.ingest("n1@b", "az", report(make_pool("c"), make_pool("a")), T0 + timedelta(1))
    assert [p.key for p in cache.pools()] == ["n1@b#a", "n1@b#c", "n2@b#x"]
    cache.remove("n1@b")
    assert [p.key for p in cache.pools()] == ["n2@b#x"]
    assert cache.backend("n1@b") is None and cache.pool("n1@b", "a") is None


@pytest.mark.parametrize(
    ("ledger", "pending", "vf_thin", "vf_thick"),
    [
        (0.0, 0.0, 1997.0, 97.0),  # the ledger is behind the report
        (3.0, 0.0, 1997.0, 97.0),
        (13.0, 10.0, 1987.0, 87.0),  # 10 GB claimed, not yet reported
    ],
)
def test_ledger_pending(ledger: float, pending: float, vf_thin: float, vf_thick: float) -> None:
    cache = CapabilityCache()
    cache.ingest(HOST, "nova", report(make_pool("a")), T0)
    cache.set_allocated(HOST, "a", ledger)
    pool = cache.pool(HOST, "a")
    assert pool is not None
    assert pool.allocated_gb == ledger
    assert pool.pending_gb == pending
    assert pool.virtual_free(True) == vf_thin
    assert pool.virtual_free(False) == vf_thick
    # the claim guard agrees with the cache
    for size in (int(vf_thick), int(vf_thick) + 1):
        fits = max(ledger, pool.reported_allocated_gb) + size <= pool.limit_gb(False)
        assert fits is pool.passes_capacity(size, thin=False)


def test_ledger_and_disabled_survive_and_precede_reports() -> None:
    cache = CapabilityCache()
    cache.set_allocated(HOST, "a", 50.0)
    cache.set_disabled(HOST, True)
    cache.ingest(HOST, "nova", report(make_pool("a")), T0)
    pool = cache.pool(HOST, "a")
    backend = cache.backend(HOST)
    assert pool is not None and backend is not None
    assert pool.allocated_gb == 50.0 and backend.disabled
    cache.ingest(HOST, "nova", report(make_pool("a")), T0 + timedelta(1))
    assert pool.allocated_gb == 50.0
    cache.set_disabled(HOST, False)
    assert not backend.disabled


def test_legacy_report_without_pools_is_one_pool() -> None:
    cache = CapabilityCache()
    caps = {k: v for k, v in make_pool("ignored").items() if k != "pool_name"}
    caps.update(volume_backend_name="lvm", storage_protocol="iSCSI")
    cache.ingest(HOST, "nova", caps, T0)
    assert [p.key for p in cache.pools()] == ["node1@file1#lvm"]


@pytest.mark.parametrize(
    ("host", "caps", "reason"),
    [
        ("nohost", report(), "node@backend"),
        ("a@b#c", report(), "node@backend"),
        (HOST, "not a dict", "capabilities must be an object"),
        (HOST, report(pools="x"), "pools must be a list"),
        (HOST, report("x"), "pools[0] must be an object"),  # type: ignore[arg-type]
        (HOST, report(make_pool("")), "pool_name"),
        (HOST, report(make_pool("a#b")), "pool_name"),
        (HOST, report(make_pool("a"), make_pool("a")), "reported twice"),
        (HOST, report(make_pool("a", total_capacity_gb="lots")), "total_capacity_gb"),
        (HOST, report(make_pool("a", free_capacity_gb=float("nan"))), "free_capacity_gb"),
        (HOST, report(make_pool("a", provisioned_capacity_gb="unknown")), "provisioned"),
        (HOST, report(make_pool("a", allocated_capacity_gb=True)), "allocated"),
        (HOST, report(make_pool("a", reserved_percentage=101)), "reserved_percentage"),
        (HOST, report(make_pool("a", max_over_subscription_ratio="x")), "max_over_subscription"),
        (HOST, report(make_pool("a", max_over_subscription_ratio=-1)), "max_over_subscription"),
        (HOST, report(make_pool("a", thin_provisioning_support="yes")), "thin_provisioning"),
        (HOST, report(filter_function=5), "filter_function"),
    ],
)
def test_malformed_report_is_refused(host: str, caps: Any, reason: str) -> None:
    cache = CapabilityCache()
    cache.ingest(HOST, "nova", report(make_pool("keep")), T0 - timedelta(1))
    with pytest.raises(BadRequest) as err:
        cache.ingest(host, "nova", caps, T0)
    assert reason in err.value.message
    assert [p.key for p in cache.pools()] == ["node1@file1#keep"]  # nothing changed


def test_volume_counts() -> None:
    cache = CapabilityCache()
    cache.set_volume_count(HOST, "a", 7)
    cache.ingest(HOST, "nova", report(make_pool("a")), T0)
    pool = cache.pool(HOST, "a")
    assert pool is not None and pool.volume_count == 7
    cache.set_volume_count(HOST, "a", 8)
    assert pool.volume_count == 8
