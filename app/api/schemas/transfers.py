"""Bodies of volume transfers (schemas/base.py says how requests and responses are used)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from app.api.schemas.base import Boolean, Link, Part, RequestBody, View, listing, wrapped


class TransferCreate(Part):
    # Required, but checked by the router for Cinder's message.
    model_config = ConfigDict(json_schema_extra={"required": ["volume_id"]})
    volume_id: str | None = None
    name: str | None = None
    no_snapshots: Boolean | None = Field(None, description="From 3.55 (/volume-transfers).")


class TransferCreateRequest(RequestBody):
    member: ClassVar[str] = "transfer"
    transfer: TransferCreate


class TransferAccept(Part):
    model_config = ConfigDict(json_schema_extra={"required": ["auth_key"]})
    auth_key: str | None = None


class TransferAcceptRequest(RequestBody):
    member: ClassVar[str] = "accept"
    accept: TransferAccept


class TransferSummary(View):
    id: str
    name: str | None = None
    volume_id: str
    links: list[Link]


class TransferDetail(TransferSummary):
    created_at: str
    no_snapshots: bool | None = Field(None, description="From 3.55 (/volume-transfers).")
    source_project_id: str | None = Field(None, description="From 3.57 (/volume-transfers).")
    destination_project_id: str | None = Field(None, description="From 3.57 (/volume-transfers).")
    accepted: bool | None = Field(None, description="From 3.57 (/volume-transfers).")


class TransferCreated(TransferDetail):
    auth_key: str = Field(description="Shown once: never in show or list.")


TransferCreateResponse = wrapped("TransferCreateResponse", "transfer", TransferCreated)
TransferResponse = wrapped("TransferResponse", "transfer", TransferDetail)
TransferAcceptResponse = wrapped("TransferAcceptResponse", "transfer", TransferSummary)
TransferListResponse = listing("TransferListResponse", "transfers", TransferSummary, count=False)
TransferDetailListResponse = listing(
    "TransferDetailListResponse", "transfers", TransferDetail, count=False
)
