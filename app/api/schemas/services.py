"""Responses of the read-only admin and discovery APIs: os-services, scheduler-stats,
capabilities, os-hosts, os-availability-zone, extensions, limits, messages and the
version documents. Request bodies: the scheduler dry run's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.groups import Link


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    binary: str
    host: str
    zone: str
    status: str
    state: str
    updated_at: str | None = None
    cluster: str | None = None  # from 3.7
    disabled_reason: str | None = None
    # cinder-volume services only.
    replication_status: str | None = None
    active_backend_id: str | None = None
    frozen: bool | None = None
    backend_state: str | None = None  # from 3.49


class ServiceListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    services: list[Service]


class Pool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    # With ?detail=true: the backend's report for the pool (open: drivers add keys).
    capabilities: dict[str, Any] | None = None


class PoolListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pools: list[Pool]


class DryRunRequest(BaseModel):
    """A volume create body (as POST /volumes takes), ranked without creating it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    volume: dict[str, Any]
    scheduler_hints: dict[str, Any] | None = Field(None, alias="OS-SCH-HNT:scheduler_hints")


class DryRunResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: dict[str, Any]


class CapabilitiesResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    namespace: str
    vendor_name: str | None = None
    volume_backend_name: str | None = None
    pool_name: str | None = None
    driver_version: str | None = None
    storage_protocol: str | list[str] | None = None
    display_name: str | None = None
    description: str | None = None
    visibility: str | None = None
    replication_targets: list[Any]
    properties: dict[str, dict[str, str]]


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    host_name: str
    service: str
    zone: str
    service_status: str = Field(alias="service-status")
    service_state: str = Field(alias="service-state")
    last_update: str | None = Field(None, alias="last-update")


class HostListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hosts: list[Host]


class HostUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str
    project: str
    volume_count: str
    total_volume_gb: str
    snapshot_count: str
    total_snapshot_gb: str


class HostResource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resource: HostUsage


class HostShowResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: list[HostResource]


class ZoneState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    available: bool


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zoneName: str  # Cinder's name
    zoneState: ZoneState  # Cinder's name


class ZoneListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    availabilityZoneInfo: list[Zone]  # Cinder's name


class Extension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alias: str
    name: str
    description: str
    links: list[Link]
    updated: str


class ExtensionListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extensions: list[Extension]


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: list[Any]
    absolute: dict[str, int]


class LimitsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limits: Limits


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    event_id: str
    user_message: str
    message_level: str
    resource_type: str
    resource_uuid: str | None = None
    created_at: str | None = None
    guaranteed_until: str | None = None
    request_id: str | None = None
    links: list[Link]


class MessageResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: Message


class MessageListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[Message]
    messages_links: list[Link] | None = None


class VersionLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rel: str
    href: str
    type: str | None = None


class MediaType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base: str
    type: str


class Version(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str
    status: str
    version: str
    min_version: str
    updated: str
    links: list[VersionLink]
    media_types: list[MediaType] = Field(alias="media-types")


class VersionsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    versions: list[Version]
