"""Request bodies are capped before anything authenticates or parses them (Cinder's
`osapi_max_request_body_size`): a body over the cap is a 413 fault, and is never read
whole. Agents' capability reports have a cap of their own."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.middleware import send_fault

AGENT_PREFIX = "/agent/"
TOO_LARGE = "Request is too large: the body exceeds {limit} bytes."


class RequestBodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int, agent_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.agent_limit = agent_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.agent_limit if path.startswith(AGENT_PREFIX) else self.limit
        declared = _content_length(scope)
        if declared is not None:
            # The server delivers no more than Content-Length: the header decides.
            if declared > limit:
                await _refuse(send, path, limit)
                return
            await self.app(scope, receive, send)
            return
        # No length given (chunked): read up to the cap, then hand the app what was read.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            size += len(message.get("body", b""))
            if size > limit:
                await _refuse(send, path, limit)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(messages, receive), send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # malformed: count the bytes as for a chunked body
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # after the body: a disconnect, when it comes

    return replayed


async def _refuse(send: Send, path: str, limit: int) -> None:
    await send_fault(send, path, 413, TOO_LARGE.format(limit=limit))
