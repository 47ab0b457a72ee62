"""How a route documents what it answers, without changing what it sends: the view
builds the body (exactly Cinder's fields at the request's microversion) and the model
only describes it in /openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel, ConfigDict, create_model

from app.api.faults import FAULT_NAMES, OTHER_FAULT


def returns(model: Any, status_code: int = 200) -> dict[str, Any]:
    """Route options: `model` documents the `status_code` body; no response model runs."""
    return {
        "status_code": status_code,
        "response_model": None,
        "responses": {status_code: {"model": model}},
    }


def no_body(status_code: int, *also: int) -> dict[str, Any]:
    """Route options of an answer with an empty body (documented without content); `also`
    are other statuses it may answer, with no body either."""
    return {
        "status_code": status_code,
        "response_class": Response,
        "responses": {code: {"description": "No body."} for code in also},
    }


class FaultDetail(BaseModel):
    code: int
    message: str


# Cinder's error body: one member, named after the status (`itemNotFound` for a 404,
# `badRequest` for a 400, `computeFault` for any other), holding the code and message.
_FAULT_MEMBERS: dict[str, Any] = {
    name: (FaultDetail | None, None) for name in sorted({*FAULT_NAMES.values(), OTHER_FAULT})
}
Fault = create_model(
    "Fault",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1}),
    **_FAULT_MEMBERS,
)


# Every Block Storage operation may answer a fault; documenting the ranges also keeps
# FastAPI from documenting a 422 that the fault handlers never send (they answer 400).
FAULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Fault, "description": "A Cinder fault (e.g. `itemNotFound` for a 404)."},
    "5XX": {"model": Fault, "description": "A Cinder fault (`computeFault`)."},
}
