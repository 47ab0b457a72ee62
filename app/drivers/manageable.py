"""Manageable listings (Cinder's get_manageable_volumes / get_manageable_snapshots):
what a backend holds, each piece of storage as one item

    {"reference": {"source-name": name}, "size": GiB rounded up, "safe_to_manage": bool,
     "reason_not_safe": str | None, "cinder_id": str | None, "extra_info": str | None}

(snapshots add "source_reference": {"source-name": the volume's storage}). Storage named
for a volume or snapshot the API knows (`<prefix><id>`, id in `known_ids`) is "already
managed", with its id as cinder_id; storage in use is not safe either. Each driver
finds its storage; the verdict is made here, once."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from app.drivers.sizes import GiB

ALREADY_MANAGED = "already managed"


def size_gb(size_bytes: int) -> int:
    """Whole GiB, rounded up, at least 1 (what a manage would make of it)."""
    return max(1, math.ceil(size_bytes / GiB))


def item(
    name: str,
    size_bytes: int,
    prefix: str,
    known_ids: Collection[str],
    *,
    busy: str | None = None,
    source: str | None = None,
    snapshot: bool = False,
) -> dict[str, Any]:
    """One item of a listing: storage `name` of `size_bytes`; `prefix` is how the
    driver names the kind of storage listed ("volume-"), `busy` why it is in use (not
    safe), `source` (snapshots) the storage it is a snapshot of."""
    cinder_id = None
    reason = busy
    own_id = name.removeprefix(prefix) if name.startswith(prefix) else None
    if own_id is not None and own_id in known_ids:
        cinder_id, reason = own_id, ALREADY_MANAGED
    out: dict[str, Any] = {
        "reference": {"source-name": name},
        "size": size_gb(size_bytes),
        "safe_to_manage": reason is None,
        "reason_not_safe": reason,
        "cinder_id": cinder_id,
        "extra_info": None,
    }
    if snapshot:
        out["source_reference"] = {"source-name": source}
    return out
