"""Responses of /agent/v1 (its request bodies are the models in app/api/agents.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ReportAccepted(BaseModel):
    """Whether the report was taken, and the sequence number the service now holds."""

    model_config = ConfigDict(extra="forbid")
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


class ClaimResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job: ClaimedJob | None


class HeartbeatResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_expires_at: str


class JobResultResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str


class ReassignResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str
    agent: str
