"""Builders shared by the scheduler tests: capability reports and their pools."""

from __future__ import annotations

from typing import Any


def report(*pools: dict[str, Any], **backend: Any) -> dict[str, Any]:
    caps: dict[str, Any] = {
        "volume_backend_name": "file1",
        "vendor_name": "Pumice",
        "driver_version": "1.0.0",
        "storage_protocol": "iSCSI",
        "pools": list(pools) or [make_pool("p1")],
    }
    caps.update(backend)
    return caps


def make_pool(name: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pool_name": name,
        "total_capacity_gb": 100.0,
        "free_capacity_gb": 97.0,
        "allocated_capacity_gb": 3.0,
        "provisioned_capacity_gb": 3.0,
        "thin_provisioning_support": True,
        "thick_provisioning_support": False,
        "max_over_subscription_ratio": "20.0",
        "reserved_percentage": 0,
        "multiattach": True,
    }
    out.update(kw)
    return out
