"""Bodies of /volumes (schemas/base.py says how requests and responses are used)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.base import (
    Boolean,
    Empty,
    Integer,
    Labels,
    Link,
    Metadata,
    Part,
    RequestBody,
    RequestMetadata,
    Resource,
    View,
    listing,
    wrapped,
)

# --- requests -----------------------------------------------------------------------------


class VolumeCreate(Labels):
    # Required, but checked by the router for Cinder's message.
    model_config = ConfigDict(json_schema_extra={"required": ["size"]})
    size: Integer | None = Field(None, description="Size in GiB (required).")
    volume_type: str | None = None
    availability_zone: str | None = None
    multiattach: Boolean | None = None
    group_id: str | None = Field(None, description="From 3.13.")
    snapshot_id: str | None = Field(None, description="Not supported by this release.")
    source_volid: str | None = Field(None, description="Not supported by this release.")
    imageRef: str | None = Field(None, description="Not supported by this release.")
    backup_id: str | None = Field(None, description="Not supported by this release.")


class VolumeCreateRequest(RequestBody):
    member: ClassVar[str] = "volume"
    volume: VolumeCreate
    scheduler_hints: dict[str, Any] | None = Field(None, alias="OS-SCH-HNT:scheduler_hints")


class VolumeUpdate(Labels):
    pass


class VolumeUpdateRequest(RequestBody):
    member: ClassVar[str] = "volume"
    volume: VolumeUpdate


class MetadataRequest(RequestBody):
    member: ClassVar[str] = "metadata"
    metadata: RequestMetadata


class MetaItemRequest(RequestBody):
    member: ClassVar[str] = "meta"
    meta: RequestMetadata = Field(description="Exactly the key of the URI, with its value.")


class Extend(Part):
    new_size: Integer


class Retype(Part):
    new_type: str
    migration_policy: str | None = Field(None, description="'never' (default) or 'on-demand'.")


class MigrateVolume(Part):
    host: str | None = Field(None, description="Required before 3.16.")
    force_host_copy: Boolean | None = None
    lock_volume: Boolean | None = None


class ExtendVolumeCompletion(Part):
    error: Boolean | None = None


class SetBootable(Part):
    bootable: Boolean


class UpdateReadonlyFlag(Part):
    readonly: Boolean


class ResetStatus(Part):
    status: str | None = None
    attach_status: str | None = None
    migration_status: str | None = None


class Connector(Part):
    """The host's connector (os-brick's get_connector_properties)."""

    initiator: str | None = None
    ip: str | None = None
    host: str | None = None
    platform: str | None = None
    os_type: str | None = None
    multipath: Boolean | None = None
    mountpoint: str | None = None
    mode: str | None = None


class WithConnector(Part):
    connector: Connector


class Attach(Part):
    instance_uuid: str | None = None
    host_name: str | None = None
    mountpoint: str | None = None
    mode: str | None = None


class Detach(Part):
    attachment_id: str | None = None


class ForceDetach(Part):
    attachment_id: str | None = None
    connector: Connector | None = None


class VolumeActionRequest(RequestBody):
    """Exactly one action (one member) per request."""

    element: ClassVar[str] = "action"
    extend: Extend | None = Field(None, alias="os-extend")
    retype: Retype | None = Field(None, alias="os-retype")
    migrate_volume: MigrateVolume | None = Field(None, alias="os-migrate_volume")
    extend_volume_completion: ExtendVolumeCompletion | None = Field(
        None, alias="os-extend_volume_completion", description="From 3.71."
    )
    set_bootable: SetBootable | None = Field(None, alias="os-set_bootable")
    update_readonly_flag: UpdateReadonlyFlag | None = Field(None, alias="os-update_readonly_flag")
    reset_status: ResetStatus | None = Field(None, alias="os-reset_status")
    force_delete: Empty | None = Field(None, alias="os-force_delete")
    reserve: Empty | None = Field(None, alias="os-reserve")
    unreserve: Empty | None = Field(None, alias="os-unreserve")
    begin_detaching: Empty | None = Field(None, alias="os-begin_detaching")
    roll_detaching: Empty | None = Field(None, alias="os-roll_detaching")
    initialize_connection: WithConnector | None = Field(
        None, alias="os-initialize_connection", description="Answers 200 with connection_info."
    )
    terminate_connection: WithConnector | None = Field(None, alias="os-terminate_connection")
    attach: Attach | None = Field(None, alias="os-attach")
    detach: Detach | None = Field(None, alias="os-detach")
    force_detach: ForceDetach | None = Field(None, alias="os-force_detach")
    unmanage: Empty | None = Field(None, alias="os-unmanage")


# --- responses ----------------------------------------------------------------------------


class ConnectionInfo(BaseModel):
    """os-brick's connection_info: driver_volume_type and its data."""

    model_config = ConfigDict(extra="allow")
    driver_volume_type: str
    data: dict[str, Any]


class ConnectionResponse(View):
    connection_info: ConnectionInfo


class VolumeAttachmentItem(View):
    """One live attachment as the volume shows it."""

    id: str
    attachment_id: str
    volume_id: str
    server_id: str | None = None
    host_name: str | None = None
    device: str | None = None
    attached_at: str | None = None


class Volume(Resource):
    availability_zone: str | None = None
    bootable: str
    encrypted: bool
    multiattach: bool
    volume_type: str | None = None
    snapshot_id: str | None = None
    source_volid: str | None = None
    metadata: Metadata
    links: list[Link]
    user_id: str
    attachments: list[VolumeAttachmentItem]
    replication_status: str | None = None
    consistencygroup_id: str | None = None
    migration_status: str | None = Field(None, description="Admins only.")
    tenant_id: str | None = Field(
        None, alias="os-vol-tenant-attr:tenant_id", description="Show and list only."
    )
    host: str | None = Field(
        None, alias="os-vol-host-attr:host", description="Admins only; show and list only."
    )
    migstat: str | None = Field(
        None, alias="os-vol-mig-status-attr:migstat", description="Admins only."
    )
    name_id: str | None = Field(
        None, alias="os-vol-mig-status-attr:name_id", description="Admins only."
    )
    group_id: str | None = Field(None, description="From 3.13.")
    provider_id: str | None = Field(None, description="From 3.21, admins only.")
    shared_targets: bool | None = Field(None, description="From 3.48.")
    service_uuid: str | None = Field(None, description="From 3.48.")
    cluster_name: str | None = Field(None, description="From 3.61, admins only.")
    volume_type_id: str | None = Field(None, description="From 3.63.")
    consumes_quota: bool | None = Field(None, description="From 3.65.")


class VolumeSummary(View):
    id: str
    name: str | None = None
    links: list[Link]


VolumeResponse = wrapped("VolumeResponse", "volume", Volume)
VolumeListResponse = listing("VolumeListResponse", "volumes", VolumeSummary)
VolumeDetailListResponse = listing("VolumeDetailListResponse", "volumes", Volume)


class VolumesSummary(View):
    total_size: int
    total_count: int
    metadata: dict[str, list[str]] | None = Field(None, description="From 3.36.")


VolumesSummaryResponse = wrapped(
    "VolumesSummaryResponse", "summary", VolumesSummary, alias="volume-summary"
)
MetadataResponse = wrapped("MetadataResponse", "metadata", Metadata)
MetaItemResponse = wrapped("MetaItemResponse", "meta", Metadata)
