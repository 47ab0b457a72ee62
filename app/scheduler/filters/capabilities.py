from __future__ import annotations

from app.scheduler.extra_specs_ops import lookup, match_any, spec_path
from app.scheduler.filters.base import BaseFilter, register_filter
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


def capability_specs(request: VolumeRequest) -> list[tuple[str, list[str], str]]:
    """(key, capability path, requirement) of every extra spec the filter checks.

    A multiattach request needs a pool that reports multiattach, unless its
    type already says something about it.
    """
    out = []
    for key, req in request.extra_specs.items():
        path = spec_path(key)
        if path is not None:
            out.append((key, path, req))
    if request.multiattach and not any(p == ["multiattach"] for _, p, _ in out):
        out.append(("multiattach", ["multiattach"], "<is> True"))
    return out


@register_filter
class CapabilitiesFilter(BaseFilter):
    """Cinder's CapabilitiesFilter: the type's extra specs against the pool's report."""

    name = "CapabilitiesFilter"

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        caps = pool.capabilities
        for _key, path, req in capability_specs(request):
            found, cap = lookup(caps, path)
            if not found or not match_any(cap, req):
                return False
        return True

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        for key, path, req in capability_specs(request):
            found, cap = lookup(pool.capabilities, path)
            if not found:
                return f"{key}: not reported"
            if not match_any(cap, req):
                return f"{key}: {cap!r} does not match {req!r}"
        return "passes"

    def summary(self, request: VolumeRequest) -> str:
        return f"type {request.volume_type_name or request.volume_type_id!r}"
