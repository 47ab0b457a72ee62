"""Bodies of volume manage (schemas/base.py says how requests and responses are used);
the answer is schemas.volumes.VolumeResponse."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from app.api.schemas.base import Boolean, Naming, Part, RequestBody, RequestMetadata


class VolumeRef(Part):
    # Required, but checked by the router for Cinder's message.
    model_config = ConfigDict(json_schema_extra={"required": ["source-name"]})
    source_name: str | int | None = Field(None, alias="source-name")


class VolumeManage(Naming):
    model_config = ConfigDict(json_schema_extra={"required": ["host", "ref"]})
    host: str | None = None
    cluster: str | None = Field(None, description="Not supported by this release.")
    ref: VolumeRef | None = None
    volume_type: str | None = None
    availability_zone: str | None = None
    bootable: Boolean | None = None
    metadata: RequestMetadata | None = None


class VolumeManageRequest(RequestBody):
    member: ClassVar[str] = "volume"
    volume: VolumeManage
