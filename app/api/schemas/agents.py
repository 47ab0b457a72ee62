"""Responses of /agent/v1 (its request bodies are the models in app/api/agents.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.api.schemas.volumes import View


class ReportAccepted(View):
    """Whether the report was taken, and the sequence number the service now holds."""

    accepted: bool
    seq: int | None = None


class ClaimedJob(BaseModel):
    # Open: a job's description may grow members an older agent ignores.
    model_config = ConfigDict(extra="allow")
    id: int
    kind: str
    backend: str
    resource_type: str | None = None
    resource_id: str | None = None
    payload_version: int | None = None
    payload: dict[str, Any]
    attempts: int
    lease_seconds: int
    lease_expires_at: str | None = None
    request_id: str | None = None


class ClaimResponse(View):
    job: ClaimedJob | None


class HeartbeatResponse(View):
    lease_expires_at: str


class JobResultResponse(View):
    state: str


class ReassignResponse(View):
    host: str
    agent: str
