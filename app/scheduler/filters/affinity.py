"""SameBackendFilter / DifferentBackendFilter: the same_host / different_host
hints name volumes; a pool passes when it holds one of them / none of them.

The scheduler has no database, so the volumes' placements come resolved:
request.resolved_hints maps each live volume id to its 'node@backend#pool'
(the caller fills it, or the Scheduler's volume_hosts callable does). A
volume that is not there (deleted, unknown) is simply not on any pool, as in
Cinder's database query. As in Cinder, a hint that is not a UUID (or a list
of them) fails every pool rather than being ignored.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import numpy as np

from app.scheduler.context import Context
from app.scheduler.filters.base import BaseFilter, register_filter, slots_of
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


def is_uuid_like(value: Any) -> bool:
    try:
        return isinstance(value, str) and uuid.UUID(value).hex == value.replace("-", "").lower()
    except ValueError:
        return False


def hinted_volumes(request: VolumeRequest, hint: str) -> list[str] | None:
    """The hint's volume ids; None when the hint is malformed."""
    value = request.scheduler_hints.get(hint)
    if value is None or value == []:
        return []
    ids = value if isinstance(value, list) else [value]
    if not all(is_uuid_like(v) for v in ids):
        return None
    return ids


def holds_any(pool: PoolState, request: VolumeRequest, ids: list[str]) -> bool:
    placed = request.resolved_hints or {}
    for volume_id in ids:
        host = placed.get(volume_id)
        # A placement without a pool (a legacy record) means the whole backend.
        if host is not None and (host == pool.key or host == pool.host):
            return True
    return False


def hinted_slots(ctx: Context, ids: list[str]) -> list[int]:
    placed = ctx.request.resolved_hints or {}
    return slots_of(ctx, [placed[v] for v in ids if v in placed])


class HintedVolumesFilter(BaseFilter):
    """A pool passes when it holds one of the volumes `hint` names (`together`), or
    none of them (not `together`); no hint passes every pool."""

    hint: ClassVar[str]
    together: ClassVar[bool]
    refusal: ClassVar[str]  # the reason a pool fails a well-formed hint

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        ids = hinted_volumes(request, self.hint)
        if ids is None:
            return False
        return not ids or holds_any(pool, request, ids) == self.together

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        ids = hinted_volumes(ctx.request, self.hint)
        if ids == []:
            return True
        if ids is None:
            return np.zeros(ctx.table.size, dtype=bool)
        out = np.full(ctx.table.size, not self.together, dtype=bool)
        out[hinted_slots(ctx, ids)] = self.together
        return out

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        if hinted_volumes(request, self.hint) is None:
            return f"{self.hint} is not a volume id or a list of them"
        return self.refusal


@register_filter
class SameBackendFilter(HintedVolumesFilter):
    name = "SameBackendFilter"
    hint = "same_host"
    together = True
    refusal = "holds none of the same_host volumes"


@register_filter
class DifferentBackendFilter(HintedVolumesFilter):
    name = "DifferentBackendFilter"
    hint = "different_host"
    together = False
    refusal = "holds a different_host volume"
