"""Responses of the read-only admin and discovery APIs: os-services, scheduler-stats,
capabilities, os-hosts, os-availability-zone, extensions, limits, messages and the
version documents. Request bodies: the scheduler dry run's."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.base import Link, RequestBody, View, listing, wrapped


class Service(View):
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


ServiceListResponse = wrapped("ServiceListResponse", "services", list[Service])


class Pool(View):
    name: str
    # With ?detail=true: the backend's report for the pool (open: drivers add keys).
    capabilities: dict[str, Any] | None = None


PoolListResponse = wrapped("PoolListResponse", "pools", list[Pool])


class DryRunRequest(RequestBody):
    """A volume create body (as POST /volumes takes), ranked without creating it."""

    member: ClassVar[str] = "volume"
    volume: dict[str, Any]
    scheduler_hints: dict[str, Any] | None = Field(None, alias="OS-SCH-HNT:scheduler_hints")


DryRunResponse = wrapped("DryRunResponse", "dry_run", dict[str, Any])


class CapabilitiesResponse(View):
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


HostListResponse = wrapped("HostListResponse", "hosts", list[Host])


class HostUsage(View):
    host: str
    project: str
    volume_count: str
    total_volume_gb: str
    snapshot_count: str
    total_snapshot_gb: str


class HostResource(View):
    resource: HostUsage


HostShowResponse = wrapped("HostShowResponse", "host", list[HostResource])


class ZoneState(View):
    available: bool


class Zone(View):
    zoneName: str  # Cinder's name
    zoneState: ZoneState  # Cinder's name


ZoneListResponse = wrapped("ZoneListResponse", "availabilityZoneInfo", list[Zone])


class Extension(View):
    alias: str
    name: str
    description: str
    links: list[Link]
    updated: str


ExtensionListResponse = wrapped("ExtensionListResponse", "extensions", list[Extension])


class Limits(View):
    rate: list[Any]
    absolute: dict[str, int]


LimitsResponse = wrapped("LimitsResponse", "limits", Limits)


class Message(View):
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


MessageResponse = wrapped("MessageResponse", "message", Message)
MessageListResponse = listing("MessageListResponse", "messages", Message, count=False)


class VersionLink(View):
    rel: str
    href: str
    type: str | None = None


class MediaType(View):
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


VersionsResponse = wrapped("VersionsResponse", "versions", list[Version])
