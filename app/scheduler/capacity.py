"""Cinder's CapacityFilter/CapacityWeigher arithmetic, as pure functions.

Everything here follows Cinder 29 (the shared workload's oracle is the spec):

    reserved = floor(total * reserved_percentage / 100);  T = total - reserved
    mosr     = the pool's max_over_subscription_ratio for thin pools, 1.0 for
               thick ones; 'auto' -> 1 + provisioned / (total - free + 1)
               (20 while nothing is provisioned)
    thin request on a thin pool:
        avail = T * mosr;  vf = round(avail - provisioned, 2)
        passes iff total > 0, mosr >= 1,
                   (provisioned + size) / round(avail, 2) <= mosr and vf >= size
    otherwise:
        vf = round(min(free, T - provisioned), 2); passes iff total > 0 and vf >= size

'infinite'/'unknown' free space passes any size; an 'infinite'/'unknown' total
passes only without a reserved percentage. Such capacity is UNLIMITED_GB here,
a finite stand-in so the database's claim guard (`allocated + size <= limit`)
stays plain arithmetic.

Claims (docs/CONTRACTS.md): with A the reported allocated_capacity_gb and the
ledger the database's sum of sizes placed on the pool,
    pending = max(0, ledger - A);  virtual free = vf - pending
which is what Cinder would compute had the agent already reported those
volumes as provisioned (provisioned + pending, free - pending).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

UNKNOWN = ("infinite", "unknown")
# Cinder's max_over_subscription_ratio option default (a thin pool that
# reports no ratio) and its ratio for 'auto' while nothing is provisioned.
DEFAULT_MOSR = 20.0
INITIAL_AUTO_MOSR = 20.0
# Capacity of a pool that reports 'infinite'/'unknown': larger than any real
# pool, finite so it can sit in a database column and in sums.
UNLIMITED_GB = 1e15


class CapacityFigures(NamedTuple):
    """What one pool report says about room, computed once per report."""

    thin_pool: bool  # thin_provisioning_support
    mosr: float  # effective max_over_subscription_ratio ('auto' resolved)
    unknown: bool  # free or total is 'infinite'/'unknown' (weighed as -1)
    provisioned_gb: float
    allocated_gb: float  # A, the reported allocated_capacity_gb
    # For a thin request (the type does not say provisioning:type=thick):
    eligible_thin: bool  # could pass for some size
    vf_thin: float
    # The ratio check's denominator round(T * mosr, 2); inf when not applied.
    ratio_denominator: float
    # For a thick request:
    eligible_thick: bool
    vf_thick: float

    def virtual_free(self, thin_request: bool, pending_gb: float = 0.0) -> float:
        vf = self.vf_thin if thin_request else self.vf_thick
        return vf - pending_gb

    def passes(self, size_gb: float, thin_request: bool, pending_gb: float = 0.0) -> bool:
        """CapacityFilter for a request of size_gb with pending_gb not yet reported."""
        if size_gb == 0:
            return True  # Cinder: a manage request (nothing to allocate)
        if thin_request:
            if not self.eligible_thin:
                return False
            ratio_ok = (
                self.provisioned_gb + pending_gb + size_gb
            ) / self.ratio_denominator <= self.mosr
            return ratio_ok and self.vf_thin - pending_gb >= size_gb
        return self.eligible_thick and self.vf_thick - pending_gb >= size_gb


def _num(value: Any, default: float = 0.0) -> float:
    if value is None:
        return default
    return float(value)


def max_over_subscription_ratio(pool: Mapping[str, Any], default: float = DEFAULT_MOSR) -> float:
    """The ratio Cinder's PoolState holds (calculate_max_over_subscription_ratio)."""
    if not pool.get("thin_provisioning_support", False):
        return 1.0
    total = pool.get("total_capacity_gb", 0)
    free = pool.get("free_capacity_gb", 0)
    if total in UNKNOWN or free in UNKNOWN:
        return 1.0
    prov = _num(pool.get("provisioned_capacity_gb", pool.get("allocated_capacity_gb", 0)))
    ratio = pool.get("max_over_subscription_ratio") or default
    if ratio == "auto":
        used = _num(total) - _num(free) + 1
        # A pool reporting more free than total has no meaningful usage to scale by:
        # treat it as Cinder treats an empty one.
        if prov != 0 and used > 0:
            return 1 + prov / used
        return INITIAL_AUTO_MOSR
    return float(ratio)


def figures(pool: Mapping[str, Any], default_mosr: float = DEFAULT_MOSR) -> CapacityFigures:
    """CapacityFigures of a validated pool report (numbers or 'infinite'/'unknown')."""
    thin_pool = bool(pool.get("thin_provisioning_support", False))
    free = pool.get("free_capacity_gb", 0)
    total = pool.get("total_capacity_gb", 0)
    reserved_pct = _num(pool.get("reserved_percentage", 0))
    allocated = _num(pool.get("allocated_capacity_gb", 0))
    prov = _num(pool.get("provisioned_capacity_gb", allocated))
    mosr = max_over_subscription_ratio(pool, default_mosr)
    inf = math.inf
    if free is None:  # Cinder's fail-safe: volume node info collection broken
        return CapacityFigures(
            thin_pool, mosr, False, prov, allocated, False, -1.0, inf, False, -1.0
        )
    if free in UNKNOWN:
        return CapacityFigures(
            thin_pool, mosr, True, prov, allocated, True, UNLIMITED_GB, inf, True, UNLIMITED_GB
        )
    if total in UNKNOWN:
        ok = reserved_pct == 0
        vf = UNLIMITED_GB if ok else -1.0
        return CapacityFigures(thin_pool, mosr, True, prov, allocated, ok, vf, inf, ok, vf)
    total_f = float(total)
    free_f = float(free)
    usable = total_f - math.floor(total_f * (reserved_pct / 100))
    calculated = usable - prov
    vf_thick = round(free_f if free_f < calculated else calculated, 2)
    eligible_thick = total_f > 0
    if not thin_pool:
        return CapacityFigures(
            thin_pool, mosr, False, prov, allocated, eligible_thick, vf_thick, inf,
            eligible_thick, vf_thick,
        )  # fmt: skip
    avail = usable * mosr
    vf_thin = round(avail - prov, 2)
    denominator = round(avail, 2)
    # A zero denominator (all of it reserved) would divide by zero in Cinder.
    eligible_thin = total_f > 0 and mosr >= 1 and denominator > 0
    return CapacityFigures(
        thin_pool, mosr, False, prov, allocated, eligible_thin, vf_thin,
        denominator if eligible_thin else inf, eligible_thick, vf_thick,
    )  # fmt: skip


def virtual_free_report(pool: Mapping[str, Any], thin_request: bool) -> tuple[bool, float]:
    """(can the pool pass CapacityFilter at all, Cinder's virtual free GB) for a report."""
    fig = figures(pool)
    if thin_request:
        return fig.eligible_thin, fig.vf_thin
    return fig.eligible_thick, fig.vf_thick


def capacity(pool: Mapping[str, Any], size_gb: float, thin_request: bool = True) -> bool:
    """CapacityFilter on a fresh report (no pending claims)."""
    return figures(pool).passes(size_gb, thin_request)


def claim_limits(pool: Mapping[str, Any]) -> tuple[float, float]:
    """(limit_gb, limit_thick_gb) = A + vf for a thin / a thick request.

    A claim of S GB is accepted iff max(ledger, A) + S <= limit. A pool that
    cannot take anything gets a limit below A, so every claim fails.
    """
    return _limits(figures(pool))


def _limits(fig: CapacityFigures) -> tuple[float, float]:
    a = fig.allocated_gb

    def limit(eligible: bool, vf: float) -> float:
        if not eligible:
            return a - 1.0
        if vf >= UNLIMITED_GB:
            return UNLIMITED_GB
        return a + vf

    return limit(fig.eligible_thin, fig.vf_thin), limit(fig.eligible_thick, fig.vf_thick)
