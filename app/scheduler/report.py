"""Validation of a backend's capability report (Cinder's get_volume_stats shape).

A bad report is refused whole, with the reason, before anything is changed."""

from __future__ import annotations

import math
from typing import Any

from app.errors import BadRequest
from app.scheduler.capacity import UNKNOWN

# Cinder widens a reported storage_protocol to all its spellings, so a type
# asking for 'iscsi' matches a backend reporting 'iSCSI'.
PROTOCOL_VARIANTS: tuple[list[str], ...] = (
    ["iSCSI", "iscsi"],
    ["FC", "fibre_channel", "fc"],
    ["NFS", "nfs"],
    ["NVMe-oF", "NVMeOF", "nvmeof"],
)
# Backend-level names a pool inherits when it does not report its own.
INHERITED = ("volume_backend_name", "vendor_name", "driver_version")
FUNCTIONS = ("filter_function", "goodness_function")


_NUMBERS = (int, float)


def protocol_variants(protocol: Any) -> Any:
    for variants in PROTOCOL_VARIANTS:
        if protocol in variants:
            return list(variants)
    return protocol


def check_host(host: Any) -> str:
    if not isinstance(host, str) or host.count("@") != 1 or "#" in host:
        raise BadRequest(f"host must look like 'node@backend', not {host!r}")
    node, backend = host.split("@")
    if not node or not backend:
        raise BadRequest(f"host must look like 'node@backend', not {host!r}")
    return host


def _finite(value: Any, what: str, *, allow_unknown: bool = False, allow_none: bool = False) -> Any:
    if type(value) in _NUMBERS and math.isfinite(value):
        return value  # the common case, first
    if value is None and allow_none:
        return value
    if allow_unknown and value in UNKNOWN:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        extra = " or 'infinite'/'unknown'" if allow_unknown else ""
        raise BadRequest(f"{what} must be a finite number{extra}, not {value!r}")
    return value


def _check_pool(pool: Any, where: str) -> None:
    if not isinstance(pool, dict):
        raise BadRequest(f"{where} must be an object")
    for key in ("total_capacity_gb", "free_capacity_gb"):
        if key in pool:
            _finite(
                pool[key], f"{where}.{key}", allow_unknown=True,
                allow_none=key == "free_capacity_gb",
            )  # fmt: skip
    for key in ("allocated_capacity_gb", "provisioned_capacity_gb"):
        if key in pool:
            _finite(pool[key], f"{where}.{key}")
    if "reserved_percentage" in pool:
        pct = _finite(pool["reserved_percentage"], f"{where}.reserved_percentage")
        if not 0 <= pct <= 100:
            raise BadRequest(f"{where}.reserved_percentage must be within 0..100, not {pct!r}")
    for key in ("thin_provisioning_support", "thick_provisioning_support"):
        if key in pool and not isinstance(pool[key], bool):
            raise BadRequest(f"{where}.{key} must be true or false, not {pool[key]!r}")
    mosr = pool.get("max_over_subscription_ratio")
    if mosr is not None and mosr != "auto":
        try:
            ratio = float(mosr)
        except (TypeError, ValueError):
            ratio = math.nan
        if isinstance(mosr, bool) or not math.isfinite(ratio) or ratio < 0:
            raise BadRequest(
                f"{where}.max_over_subscription_ratio must be 'auto' or a number >= 0, not {mosr!r}"
            )
    for key in FUNCTIONS:
        if pool.get(key) is not None and not isinstance(pool[key], str):
            raise BadRequest(f"{where}.{key} must be a string or null")


def split_report(capabilities: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(backend-level capabilities, pool reports) of a validated report.

    A report without 'pools' is a legacy single-pool backend: Cinder names the
    pool after volume_backend_name (else '_pool0') and gives it every capability.
    """
    if not isinstance(capabilities, dict):
        raise BadRequest("capabilities must be an object")
    backend = {k: v for k, v in capabilities.items() if k != "pools"}
    for key in FUNCTIONS:
        if backend.get(key) is not None and not isinstance(backend[key], str):
            raise BadRequest(f"capabilities.{key} must be a string or null")
    if "pools" not in capabilities:
        pool = dict(backend)
        pool["pool_name"] = backend.get("volume_backend_name") or "_pool0"
        pools = [pool]
    else:
        pools = capabilities["pools"]
        if not isinstance(pools, list):
            raise BadRequest("capabilities.pools must be a list")
    names: set[str] = set()
    for i, pool in enumerate(pools):
        where = f"capabilities.pools[{i}]"
        _check_pool(pool, where)
        name = pool.get("pool_name")
        if not isinstance(name, str) or not name or "#" in name:
            raise BadRequest(f"{where}.pool_name must be a non-empty string without '#'")
        if name in names:
            raise BadRequest(f"{where}.pool_name {name!r} is reported twice")
        names.add(name)
    return backend, pools


def pool_capabilities(backend: dict[str, Any], pool: dict[str, Any]) -> dict[str, Any]:
    """The capabilities Cinder's CapabilitiesFilter sees for a pool."""
    caps = dict(pool)
    for key in INHERITED:
        if not caps.get(key):
            caps[key] = backend.get(key)
    caps["storage_protocol"] = protocol_variants(
        caps.get("storage_protocol") or backend.get("storage_protocol")
    )
    for key in FUNCTIONS:
        if key not in caps and key in backend:
            caps[key] = backend[key]
    return caps
