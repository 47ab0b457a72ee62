from __future__ import annotations

from typing import Any

import pytest

from app.scheduler.extra_specs_ops import match, match_any, spec_path, specs_match


@pytest.mark.parametrize(
    ("value", "req", "expected"),
    [
        # plain equality when the first word is no operator
        ("ssd", "ssd", True),
        ("hdd", "ssd", False),
        ("1", "1", True),
        (1, "1", False),  # no coercion: Cinder compares value == req
        # <is>: booleans from strings
        (True, "<is> True", True),
        (False, "<is> True", False),
        ("yes", "<is> true", True),
        ("False", "<is> False", True),
        (True, "<is> False", False),
        ("1", "<is> 1", True),
        (None, "<is> True", False),
        (True, "<is>", False),
        # <in>: substring / membership
        ("gold-ssd", "<in> ssd", True),
        ("gold", "<in> ssd", False),
        (5, "<in> 5", False),  # not a container: no match instead of an error
        # <or>
        ("gold", "<or> gold <or> silver", True),
        ("silver", "<or> gold <or> silver", True),
        ("bronze", "<or> gold <or> silver", False),
        (True, "<or> True <or> False", False),  # compares as given, not as text
        ("gold", "<or>", False),
        # '=' means at least, numerically
        (10, "= 10", True),
        (11, "= 10", True),
        (9, "= 10", False),
        ("abc", "= 10", False),
        # numeric comparisons
        (10, "== 10", True),
        ("10.0", "== 10", True),
        (10, "!= 10", False),
        (11, "!= 10", True),
        (10, ">= 10", True),
        (9.5, ">= 10", False),
        (10, "<= 10", True),
        (10.5, "<= 10", False),
        ("x", ">= 1", False),
        # string comparisons
        ("abc", "s== abc", True),
        ("abc", "s!= abc", False),
        ("abc", "s< abd", True),
        ("abd", "s< abc", False),
        ("abc", "s<= abc", True),
        ("abd", "s> abc", True),
        ("abc", "s>= abd", False),
        (5, "s== 5", False),
        # req None means the capability must be None
        (None, None, True),
        ("x", None, False),
        # unknown operator word: equality with the whole string
        ("<foo> x", "<foo> x", True),
        ("x", "<foo> x", False),
    ],
)
def test_match(value: Any, req: str | None, expected: bool) -> None:
    assert match(value, req) is expected


@pytest.mark.parametrize(
    ("cap", "req", "expected"),
    [
        (["iSCSI", "iscsi"], "iscsi", True),
        (["iSCSI", "iscsi"], "<in> SCS", True),
        (["FC", "fc"], "iscsi", False),
        ([], "x", False),
        ("ceph", "<in> ep", True),
    ],
)
def test_match_any_lists(cap: Any, req: str, expected: bool) -> None:
    assert match_any(cap, req) is expected


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("disk_type", ["disk_type"]),
        ("capabilities:disk_type", ["disk_type"]),
        ("capabilities:a:b", ["a", "b"]),
        ("provisioning:type", None),
        ("acme:replication_policy", None),
        ("qos:maxIOPS", None),
    ],
)
def test_spec_path(key: str, path: list[str] | None) -> None:
    assert spec_path(key) == path


CAPS = {
    "disk_type": "ssd",
    "tier": "gold",
    "nested": {"x": "1"},
    "storage_protocol": ["NFS", "nfs"],
}


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ({}, True),
        ({"disk_type": "ssd"}, True),
        ({"capabilities:disk_type": "ssd"}, True),
        ({"disk_type": "hdd"}, False),
        ({"missing": "x"}, False),  # a missing capability fails
        ({"capabilities:missing": "<is> False"}, False),
        ({"acme:whatever": "x", "provisioning:type": "thick"}, True),  # other scopes
        ({"capabilities:nested:x": "== 1"}, True),
        ({"capabilities:nested:y": "1"}, False),
        ({"capabilities:tier:x": "1"}, False),  # a string has no keys
        ({"storage_protocol": "nfs"}, True),
        ({"storage_protocol": "iscsi"}, False),
        ({"tier": "<or> gold <or> silver", "disk_type": "ssd"}, True),
        ({"tier": "<or> gold <or> silver", "disk_type": "hdd"}, False),
    ],
)
def test_specs_match(specs: dict[str, str], expected: bool) -> None:
    assert specs_match(CAPS, specs) is expected


def test_specs_match_agrees_with_the_workload(wl: Any, backends_10k: list[dict[str, Any]]) -> None:
    from app.scheduler.report import pool_capabilities

    specs_list = [
        wl.TYPED_EXTRA_SPECS,
        {"storage_protocol": "<in> csi"},
        {"volume_backend_name": "<or> ceph <or> lvm", "multiattach": "<is> True"},
        {"total_capacity_gb": ">= 100000", "reserved_percentage": "<= 5"},
        {"vendor_name": "s>= O", "driver_version": "s< 4"},
    ]
    for backend in backends_10k[:300]:
        for pool in backend["pools"]:
            ours = pool_capabilities(backend, pool)
            theirs = wl.pool_capabilities(backend, pool)
            assert ours == theirs
            for specs in specs_list:
                assert specs_match(ours, specs) == wl.specs_match(theirs, specs)
