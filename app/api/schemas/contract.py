"""How a route documents what it answers, without changing what it sends: the view
builds the body (exactly Cinder's fields at the request's microversion) and the model
only describes it in /openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import Response


def returns(model: Any, status_code: int = 200) -> dict[str, Any]:
    """Route options: `model` documents the `status_code` body; no response model runs."""
    return {
        "status_code": status_code,
        "response_model": None,
        "responses": {status_code: {"model": model}},
    }


def no_body(status_code: int) -> dict[str, Any]:
    """Route options of an answer with an empty body (documented without content)."""
    return {"status_code": status_code, "response_class": Response}
