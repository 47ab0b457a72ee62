"""Request bodies are capped before authentication and parsing: 413 in the fault format
of the API asked (Cinder's, Keystone's under /identity), with or without Content-Length,
and a chunked body is not read past the cap. Agents' reports have a cap of their own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings

CAP = 4096
AGENT_CAP = 16384
PROJECT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"max_request_body_size": CAP, "max_agent_request_body_size": AGENT_CAP}
    )


def volume_body(size: int) -> bytes:
    """A JSON volume create of `size` bytes (the name pads it)."""
    head = b'{"volume": {"size": 1, "name": "'
    tail = b'"}}'
    return head + b"n" * (size - len(head) - len(tail)) + tail


class Chunks:
    """A chunked body of `count` pieces of `size` bytes that remembers how many were read."""

    def __init__(self, body: bytes, size: int = 1024) -> None:
        self.pieces = [body[i : i + size] for i in range(0, len(body), size)]
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            self.read += 1
            yield piece


def test_the_default_cap_is_cinders() -> None:
    assert Settings().max_request_body_size == 114688  # osapi_max_request_body_size


async def test_a_body_declared_over_the_cap_is_refused_before_authentication(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(f"/v3/{PROJECT}/volumes", content=volume_body(CAP + 1))
    assert r.status_code == 413
    assert r.json() == {
        "overLimit": {
            "code": 413,
            "message": f"Request is too large: the body exceeds {CAP} bytes.",
        }
    }
    assert r.headers["x-openstack-request-id"].startswith("req-")
    # At the cap it is no longer the size that stops it: authentication does.
    r = await client.post(f"/v3/{PROJECT}/volumes", content=volume_body(CAP))
    assert r.status_code == 401


async def test_a_chunked_body_over_the_cap_is_refused_without_being_read_whole(
    client: httpx.AsyncClient,
) -> None:
    body = Chunks(volume_body(1024 * 1024))
    r = await client.post(f"/v3/{PROJECT}/volumes", content=body)
    assert "content-length" not in r.request.headers
    assert r.status_code == 413 and "overLimit" in r.json()
    assert body.read <= CAP // 1024 + 1 < len(body.pieces)


async def test_a_chunked_body_within_the_cap_reaches_the_api_whole(
    client: httpx.AsyncClient,
) -> None:
    login = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "nobody", "domain": {"id": "default"}, "password": "x"}
                },
            }
        }
    }
    body = Chunks(json.dumps(login).encode(), size=16)
    r = await client.post(
        "/identity/v3/auth/tokens", content=body, headers={"Content-Type": "application/json"}
    )
    assert body.read == len(body.pieces) > 1
    assert r.status_code == 401  # parsed and checked: the password is wrong


async def test_identity_refuses_in_keystones_format(client: httpx.AsyncClient) -> None:
    for content in (b"x" * (CAP + 1), Chunks(b"x" * (CAP * 2))):
        r = await client.post("/identity/v3/auth/tokens", content=content)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == 413
        assert r.json()["error"]["title"] == "Request Entity Too Large"


async def test_agent_reports_have_a_cap_of_their_own(client: httpx.AsyncClient) -> None:
    report = b"{" + b" " * (CAP * 2) + b"}"  # over the API's cap, within the agents'
    r = await client.post("/agent/v1/capabilities", content=report)
    assert r.status_code == 401
    for content in (b"{" + b" " * AGENT_CAP + b"}", Chunks(b" " * (AGENT_CAP + 1))):
        r = await client.post("/agent/v1/capabilities", content=content)
        assert r.status_code == 413 and "overLimit" in r.json()
