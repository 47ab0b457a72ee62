from __future__ import annotations

import itertools
import uuid
from typing import Any

import numpy as np
import pytest

from app.errors import BadRequest
from app.scheduler import CapabilityCache, Scheduler, VolumeRequest
from app.scheduler.context import Context
from app.scheduler.filters import FILTERS, filter_class
from tests.scheduler.conftest import NOW
from tests.scheduler.helpers import make_pool, report
from tests.scheduler.rich import VOLUME_A, VOLUME_B, reference_select, requests

ALL_FILTERS = sorted(FILTERS)
ALL_WEIGHERS = [
    "CapacityWeigher",
    "AllocatedCapacityWeigher",
    "VolumeNumberWeigher",
    "GoodnessWeigher",
]


def test_every_filter_is_registered() -> None:
    assert ALL_FILTERS == [
        "AvailabilityZoneFilter", "CapabilitiesFilter", "CapacityFilter", "DifferentBackendFilter",
        "DriverFilter", "IgnoreAttemptedHostsFilter", "JsonFilter", "SameBackendFilter",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ALL_FILTERS)
def test_filter_mask_agrees_with_passes(rich: CapabilityCache, name: str) -> None:
    flt = filter_class(name)()
    table = rich.table
    considered = rich.considered(NOW)
    for request in requests(rich):
        ctx = Context(rich, request, considered.copy())
        verdict = flt.filter_mask(ctx)
        if verdict is None:
            continue
        for slot in np.flatnonzero(considered):
            expected = flt.passes(table.pools[slot], request)
            got = True if verdict is True else bool(verdict[slot])  # type: ignore[index]
            assert got is expected, (name, request, table.pools[slot])


@pytest.mark.parametrize("weighers", [["CapacityWeigher"], ALL_WEIGHERS])
def test_select_agrees_with_the_per_pool_algorithm(
    rich: CapabilityCache, weighers: list[str]
) -> None:
    sched = Scheduler(rich, filters=ALL_FILTERS, weighers=weighers)
    for request in requests(rich):
        want = [p.key for p in reference_select(sched, request)]
        got = [p.key for p in sched.select(request, NOW)]
        assert got == want, request
        for limit in (1, 3, 50):
            assert [p.key for p in sched.select(request, NOW, limit=limit)] == want[:limit]


def test_index_follows_new_reports() -> None:
    cache = CapabilityCache()
    cache.ingest("n1@x", "az", report(make_pool("a", disk_type="ssd")), NOW)
    sched = Scheduler(cache)
    ssd = VolumeRequest(size_gb=1, extra_specs={"disk_type": "ssd"})
    assert [p.key for p in sched.select(ssd, NOW)] == ["n1@x#a"]
    cache.ingest("n1@x", "az", report(make_pool("a", disk_type="hdd")), NOW)
    assert sched.select(ssd, NOW) == []
    cache.ingest("n2@x", "az", report(make_pool("b", disk_type="ssd")), NOW)
    assert [p.key for p in sched.select(ssd, NOW)] == ["n2@x#b"]
    cache.remove("n2@x")
    assert sched.select(ssd, NOW) == []
    for i in range(100):  # the table grows; rows are reused
        cache.ingest(f"m{i}@x", "az", report(make_pool("p", disk_type="ssd")), NOW)
    assert len(sched.select(ssd, NOW)) == 100


def small() -> CapabilityCache:
    cache = CapabilityCache()
    cache.ingest("n1@lvm", "az1", report(
        make_pool("a", filter_function="volume.size < 10"),
        make_pool("b"),
        filter_function="volume.size < 100",
    ), NOW)  # fmt: skip
    cache.ingest("n2@lvm", "az1", report(make_pool("c", free_capacity_gb=5.0)), NOW)
    return cache


def keys(cache: CapabilityCache, flt: str, request: VolumeRequest, **kw: Any) -> list[str]:
    sched = Scheduler(cache, filters=[flt], **kw)
    return sorted(p.key for p in sched.select(request, NOW))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (5, ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        (50, ["n1@lvm#b", "n2@lvm#c"]),  # a's own function overrides the backend's
        (500, ["n2@lvm#c"]),  # no function: passes
    ],
)
def test_driver_filter(size: int, expected: list[str]) -> None:
    assert keys(small(), "DriverFilter", VolumeRequest(size_gb=size)) == expected


def test_driver_filter_fails_on_error() -> None:
    cache = CapabilityCache()
    cache.ingest("n1@x", "az", report(make_pool("a", filter_function="qos.maxIOPS > 5")), NOW)
    assert keys(cache, "DriverFilter", VolumeRequest(size_gb=1)) == []
    with_qos = VolumeRequest(size_gb=1, qos_specs={"maxIOPS": "10"})
    assert keys(cache, "DriverFilter", with_qos) == ["n1@x#a"]


@pytest.mark.parametrize(
    "function", ["7 ^ 7 ^ 9", "volume.size +", "os.system", "x" * 2000, "1 / 0"]
)
def test_bad_function_refuses_the_report(function: str) -> None:
    cache = CapabilityCache()
    for caps in (
        report(make_pool("a"), goodness_function=function),
        report(make_pool("a", filter_function=function)),
    ):
        with pytest.raises(BadRequest, match="function"):
            cache.ingest("n1@x", "az", caps, NOW)
        with pytest.raises(BadRequest, match="function"):
            cache.check_report("n1@x", "az", caps)
    assert cache.pools() == []


@pytest.mark.parametrize(
    ("ignore", "expected"),
    [
        (set(), ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ({"n1@lvm"}, ["n2@lvm#c"]),
        ({"n1@lvm#a"}, ["n1@lvm#b", "n2@lvm#c"]),
        ({"n9@zz", "n2@lvm#zz"}, ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
    ],
)
def test_ignore_attempted_hosts(ignore: set[str], expected: list[str]) -> None:
    request = VolumeRequest(size_gb=1, ignore_hosts=ignore)
    assert keys(small(), "IgnoreAttemptedHostsFilter", request) == expected


VOL_C = str(uuid.UUID(int=3))
PLACED = {VOLUME_A: "n1@lvm#a", VOLUME_B: "n2@lvm"}  # VOL_C: deleted


@pytest.mark.parametrize(
    ("flt", "hint", "expected"),
    [
        ("SameBackendFilter", None, ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ("SameBackendFilter", [], ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ("SameBackendFilter", VOLUME_A, ["n1@lvm#a"]),
        ("SameBackendFilter", [VOLUME_A, VOLUME_B], ["n1@lvm#a", "n2@lvm#c"]),
        ("SameBackendFilter", [VOL_C], []),
        ("SameBackendFilter", "nope", []),
        ("SameBackendFilter", [VOLUME_A, "nope"], []),
        ("DifferentBackendFilter", None, ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ("DifferentBackendFilter", VOLUME_A, ["n1@lvm#b", "n2@lvm#c"]),
        ("DifferentBackendFilter", [VOLUME_A, VOLUME_B], ["n1@lvm#b"]),
        ("DifferentBackendFilter", VOL_C, ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ("DifferentBackendFilter", 42, []),
    ],
)
def test_affinity_filters(flt: str, hint: Any, expected: list[str]) -> None:
    hints = (
        {} if hint is None else {"same_host" if flt.startswith("Same") else "different_host": hint}
    )
    request = VolumeRequest(size_gb=1, scheduler_hints=hints, resolved_hints=PLACED)
    assert keys(small(), flt, request) == expected
    # the same through the scheduler's lookup instead of resolved hints
    asked: list[list[str]] = []

    def lookup(ids: list[str]) -> dict[str, str]:
        asked.append(ids)
        return {i: PLACED[i] for i in ids if i in PLACED}

    request = VolumeRequest(size_gb=1, scheduler_hints=hints)
    assert keys(small(), flt, request, volume_hosts=lookup) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ('[">=", "$free_capacity_gb", 50]', ["n1@lvm#a", "n1@lvm#b"]),
        ('["<", "$free_capacity_gb", 50]', ["n2@lvm#c"]),
        ('["=", "$pool_name", "b"]', ["n1@lvm#b"]),
        ('["in", "$pool_name", "a", "c"]', ["n1@lvm#a", "n2@lvm#c"]),
        ('["not", ["=", "$pool_name", "b"]]', ["n1@lvm#a", "n2@lvm#c"]),
        ('["or", ["=", "$pool_name", "a"], ["=", "$pool_name", "c"]]', ["n1@lvm#a", "n2@lvm#c"]),
        ('["and", ["<=", "$free_capacity_gb", 97], [">", "$free_capacity_gb", 5]]',
         ["n1@lvm#a", "n1@lvm#b"]),
        ('["=", "$capabilities.multiattach", true]', ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ('["=", "$capabilities.nothing", 1]', []),  # dropped: one argument left
        ('[">", "$pool_name", 5]', []),  # a string against a number: no match
        ("[]", ["n1@lvm#a", "n1@lvm#b", "n2@lvm#c"]),
        ([">=", "$free_capacity_gb", 50], ["n1@lvm#a", "n1@lvm#b"]),  # already parsed
    ],
)  # fmt: skip
def test_json_filter(query: Any, expected: list[str]) -> None:
    hints = {} if query is None else {"query": query}
    request = VolumeRequest(size_gb=1, scheduler_hints=hints)
    assert keys(small(), "JsonFilter", request) == expected


def test_json_filter_sees_pending_claims() -> None:
    cache = small()
    cache.set_allocated("n1@lvm", "b", 3.0 + 60.0)
    request = VolumeRequest(size_gb=1, scheduler_hints={"query": '[">=", "$free_capacity_gb", 50]'})
    assert keys(cache, "JsonFilter", request) == ["n1@lvm#a"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("{not json", "not JSON"),
        ('{"a": 1}', "must be a JSON list"),
        ('["xor", 1, 2]', "unknown query command"),
        ('["and", ' * 40 + "1" + "]" * 40, "nests deeper"),
        ("[" * 5000 + "]" * 5000, "longer than"),
        ("[" * 4000 + "]" * 4000, "nests deeper"),
        ("[[1]]", "unknown query command"),
    ],
)
def test_bad_query_is_the_callers_mistake(query: str, reason: str) -> None:
    request = VolumeRequest(size_gb=1, scheduler_hints={"query": query})
    with pytest.raises(BadRequest, match=reason):
        Scheduler(small(), filters=["JsonFilter"]).select(request, NOW)


def test_explain_with_every_filter(rich: CapabilityCache) -> None:
    sched = Scheduler(rich, filters=ALL_FILTERS)
    out = sched.explain(requests(rich)[1], NOW, limit=5)
    steps = out["filters"]
    assert [s["name"] for s in steps] == ALL_FILTERS
    for a, b in itertools.pairwise(steps):
        assert a["after"] == b["before"]
    assert steps[0]["before"] == out["considered"] < out["pools"]
    assert out["count"] == steps[-1]["after"] == len(sched.select(requests(rich)[1], NOW))
    assert len(out["candidates"]) == 5
    for step in steps:
        assert len(step["reasons"]) == min(3, step["removed"])
