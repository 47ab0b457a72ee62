"""Pure ASGI middleware: request ids, microversion negotiation, and the headers every
response carries, errors included."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import microversion
from app.api.faults import INTERNAL_ERROR, error_body_for, is_identity
from app.errors import BadRequest, PumiceError

log = structlog.get_logger(__name__)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class OpenStackHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req-" + str(uuid.uuid4())
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        version = microversion.MIN_VERSION
        error: PumiceError | None = None
        extra = [(b"x-openstack-request-id", request_id.encode())]
        path: str = scope.get("path", "")
        if "\x00" in path or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            # No database stores a NUL: refuse it before anything looks it up.
            error = BadRequest("Invalid input: the URL must not contain NUL characters.")
        # The identity API is Keystone's: a volume microversion means nothing to it.
        if not is_identity(path):
            try:
                version = microversion.negotiate(
                    _header(scope, b"openstack-api-version"),
                    _header(scope, b"x-openstack-volume-api-version"),
                )
            except PumiceError as exc:
                error = error or exc
            extra += [
                (b"openstack-api-version", f"volume {version}".encode()),
                (b"vary", b"OpenStack-API-Version"),
            ]
        state["api_version"] = version
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                ours = {name for name, _ in extra}
                headers = [h for h in message.get("headers", []) if h[0].lower() not in ours]
                message["headers"] = headers + extra
            await send(message)

        if error is not None:
            await send_fault(send_with_headers, path, error.code, error.message)
            return
        # Every log line of this request carries its id, whoever writes it.
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception as exc:  # the last line of defence: no bare 500 without a fault
                log.exception("unhandled error", error=str(exc))
                if not started:
                    await send_fault(send_with_headers, path, 500, INTERNAL_ERROR)


async def send_fault(send: Send, path: str, code: int, message: str) -> None:
    body = json.dumps(error_body_for(path, code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
