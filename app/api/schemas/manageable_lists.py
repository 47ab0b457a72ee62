"""Responses of the manageable listings (Cinder's views/manageable_volumes.py and
manageable_snapshots.py); schemas/base.py says how responses are used."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.api.schemas.base import View, wrapped


class ManageableVolume(View):
    reference: dict[str, Any]
    size: int = Field(description="In GiB, rounded up.")
    safe_to_manage: bool


class ManageableVolumeDetail(ManageableVolume):
    reason_not_safe: str | None = None
    cinder_id: str | None = None
    extra_info: Any = None


class ManageableSnapshot(ManageableVolume):
    source_reference: dict[str, Any]


class ManageableSnapshotDetail(ManageableSnapshot):
    reason_not_safe: str | None = None
    cinder_id: str | None = None
    extra_info: Any = None


MODELS = {
    "volume": (
        wrapped(
            "ManageableVolumeList",
            "manageable_volumes",
            list[ManageableVolume],
            alias="manageable-volumes",
        ),
        wrapped(
            "ManageableVolumeDetailList",
            "manageable_volumes",
            list[ManageableVolumeDetail],
            alias="manageable-volumes",
        ),
    ),
    "snapshot": (
        wrapped(
            "ManageableSnapshotList",
            "manageable_snapshots",
            list[ManageableSnapshot],
            alias="manageable-snapshots",
        ),
        wrapped(
            "ManageableSnapshotDetailList",
            "manageable_snapshots",
            list[ManageableSnapshotDetail],
            alias="manageable-snapshots",
        ),
    ),
}
