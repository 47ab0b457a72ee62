"""Bodies of /attachments (3.27+): see schemas/volumes.py for how requests and
responses are used. Fields as Cinder's views/attachments.py (the summary of lists, the
detail of everything else)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, JsonValue

from app.api.schemas.base import Part, RequestBody, View
from app.api.schemas.volumes import ConnectionInfo, Connector


class AttachmentCreate(Part):
    volume_uuid: str | None = None
    instance_uuid: str | None = None
    connector: Connector | None = None
    mode: str | None = Field(None, description="rw or ro, from 3.54.")


class AttachmentCreateRequest(RequestBody):
    member: ClassVar[str] = "attachment"
    attachment: AttachmentCreate


class AttachmentUpdate(Part):
    connector: Connector | None = None


class AttachmentUpdateRequest(RequestBody):
    member: ClassVar[str] = "attachment"
    attachment: AttachmentUpdate


class AttachmentActionRequest(RequestBody):
    element: ClassVar[str] = "action"
    # Cinder reads no argument of os-complete, so any value is taken: openstacksdk (and
    # so `openstack volume attachment complete`) sends the attachment's id, cinderclient null.
    complete: JsonValue = Field(
        None, alias="os-complete", description="From 3.44; its value is ignored."
    )


class AttachmentSummary(View):
    id: str
    status: str
    instance: str | None = None
    volume_id: str


class Attachment(AttachmentSummary):
    attached_at: str
    detached_at: str
    attach_mode: str | None = None
    connection_info: ConnectionInfo | None = None


class AttachmentResponse(View):
    attachment: Attachment


class AttachmentListResponse(View):
    attachments: list[AttachmentSummary]


class AttachmentDetailListResponse(View):
    attachments: list[Attachment]
