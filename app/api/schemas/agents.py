"""Responses of /agent/v1 (its request bodies are the models in app/api/agents.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.api.schemas.base import View, wrapped


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


ClaimResponse = wrapped("ClaimResponse", "job", ClaimedJob | None)
HeartbeatResponse = wrapped("HeartbeatResponse", "lease_expires_at", str)
JobResultResponse = wrapped("JobResultResponse", "state", str)


class RestoredExports(View):
    """The volumes each of the agent's backends is to export (their exports queued
    when not already in flight); the agent removes its other targets."""

    exports: dict[str, list[str]]


class ReassignResponse(View):
    host: str
    agent: str
