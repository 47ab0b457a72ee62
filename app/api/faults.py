"""Cinder's fault bodies: {"itemNotFound": {"code": 404, "message": "..."}}."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import PumiceError
from app.identity import keystone

log = structlog.get_logger(__name__)

FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    501: "notImplemented",
    503: "serviceUnavailable",
}
OTHER_FAULT = "computeFault"  # the name of any other status's fault

INTERNAL_ERROR = (
    "The server has either erred or is incapable of performing the requested operation."
)


def fault_body(code: int, message: str) -> dict[str, Any]:
    return {FAULT_NAMES.get(code, OTHER_FAULT): {"code": code, "message": message}}


def is_identity(path: str) -> bool:
    return path == "/identity" or path.startswith("/identity/")


def error_body_for(path: str, code: int, message: str) -> dict[str, Any]:
    """Keystone's error body under /identity, Cinder's fault everywhere else."""
    if is_identity(path):
        return keystone.error_body(code, message)
    return fault_body(code, message)


def error_response(
    request: Request, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = error_body_for(request.url.path, code, message)
    return JSONResponse(body, status_code=code, headers=headers)


def missing(element: str) -> str:
    return f"Missing required element '{element}' in request body."


def required_element(request: Request) -> str | None:
    """What the route's body must hold, named for the 400 of an empty body: the model's
    `element` (formatted with the path's parameters), else its `member`, else its first
    required field; None when the route takes no model."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        return None
    element = getattr(model, "element", "") or getattr(model, "member", "")
    if element:
        return str(element).format(**request.path_params)
    for name, info in model.model_fields.items():
        if info.is_required():
            return info.alias or name
    return None


def _describe_validation(request: Request, exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "Malformed request body"
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "missing" and loc[:1] == ("body",) and len(loc) <= 2:
            # Cinder names what is missing rather than pydantic's "Field required".
            element = str(loc[1]) if len(loc) == 2 else required_element(request)
            return missing(element) if element else "Missing request body."
        where = ".".join(str(p) for p in loc if p != "body")
        msg = err.get("msg", "invalid")
        parts.append(f"{where}: {msg}" if where else msg)
    return "Invalid input for field/attribute " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(PumiceError)
    async def _domain(req: Request, exc: PumiceError) -> Response:
        return error_response(req, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(req: Request, exc: RequestValidationError) -> Response:
        return error_response(req, 400, _describe_validation(req, exc))

    @app.exception_handler(json.JSONDecodeError)
    async def _json(req: Request, _exc: json.JSONDecodeError) -> Response:
        return error_response(req, 400, "Malformed request body")

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Error"
        if exc.status_code == 404 and message == "Not Found":
            message = "The resource could not be found."
        return error_response(req, exc.status_code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> Response:
        log.exception("unexpected error", error=str(exc))
        return error_response(req, 500, INTERNAL_ERROR)
