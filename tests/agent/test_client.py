"""The API client: token handling and which answers are retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from app.agent.client import AgentClient, ApiError, Job, LeaseLost
from tests.agent.conftest import eventually
from tests.agent.fake_api import PASSWORD, PROJECT, USERNAME, FakeApiServer


def client_for(
    url: str, *, password: str = PASSWORD, transport: httpx.AsyncBaseTransport | None = None
) -> AgentClient:
    return AgentClient(
        api_url=url,
        auth_url=f"{url}/identity/v3",
        username=USERNAME,
        password=password,
        project_name=PROJECT,
        agent_id="node1",
        retry_initial=0.01,
        retry_max=0.05,
        transport=transport,
    )


async def test_authenticates_with_keystone_password_body(api: FakeApiServer) -> None:
    client = client_for(api.url)
    try:
        assert (await client.report_capabilities({"host": "node1@file1"})).accepted is True
    finally:
        await client.aclose()
    [body] = api.state.auth_bodies
    assert body == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": USERNAME, "domain": {"id": "default"}, "password": PASSWORD}
                },
            },
            "scope": {"project": {"name": PROJECT, "domain": {"id": "default"}}},
        }
    }


async def test_token_is_reused_then_refreshed_before_expiry(api: FakeApiServer) -> None:
    api.state.token_ttl = timedelta(seconds=1)
    client = client_for(api.url)
    try:
        await client.report_capabilities({"host": "node1@file1"})
        await client.report_capabilities({"host": "node1@file1"})
        assert api.state.auth_requests == 1
        await asyncio.sleep(0.9)  # within the last quarter of the token's life
        await client.report_capabilities({"host": "node1@file1"})
    finally:
        await client.aclose()
    assert api.state.auth_requests == 2
    assert api.state.unauthorized == 0


async def test_reauthenticates_once_on_401(api: FakeApiServer) -> None:
    client = client_for(api.url)
    try:
        await client.report_capabilities({"host": "node1@file1"})
        api.state.revoke_tokens()
        await asyncio.gather(*(client.report_capabilities({"host": "x"}) for _ in range(5)))
    finally:
        await client.aclose()
    # Five calls refused at once share one new login.
    assert api.state.auth_requests == 2
    assert len(api.state.reports) == 6


async def test_wrong_password_keeps_retrying(api: FakeApiServer) -> None:
    client = client_for(api.url, password="wrong")
    try:
        call = asyncio.create_task(client.report_capabilities({"host": "node1@file1"}))
        await eventually(lambda: api.state.auth_requests >= 3, "repeated logins")
        assert not call.done()
        call.cancel()
    finally:
        await client.aclose()


def scripted(answers: list[httpx.Response]) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/auth/tokens"):
            return httpx.Response(201, headers={"X-Subject-Token": "t"}, json={"token": {}})
        return answers.pop(0)

    return httpx.MockTransport(handler), seen


async def test_5xx_and_connection_errors_are_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/tokens"):
            return httpx.Response(201, headers={"X-Subject-Token": "t"}, json={})
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused")
        if len(calls) == 2:
            return httpx.Response(503, json={"overLimit": {"message": "restarting"}})
        return httpx.Response(200, json={"state": "succeeded"})

    calls: list[str] = []
    client = client_for("http://api", transport=httpx.MockTransport(handler))
    try:
        state = await asyncio.wait_for(client.post_result(7, result={"a": 1}, attempt=1), 10)
    finally:
        await client.aclose()
    assert state == "succeeded"
    assert calls == ["/agent/v1/jobs/7/result"] * 3


async def test_4xx_is_not_retried_and_409_is_lease_lost() -> None:
    transport, seen = scripted(
        [
            httpx.Response(409, json={"conflict": {"code": 409, "message": "lease lost"}}),
            httpx.Response(400, json={"badRequest": {"code": 400, "message": "bad report"}}),
        ]
    )
    client = client_for("http://api", transport=transport)
    try:
        with pytest.raises(LeaseLost, match="lease lost"):
            await client.heartbeat(3, attempt=1)
        with pytest.raises(ApiError, match="400: bad report"):
            await client.report_capabilities({})
    finally:
        await client.aclose()
    assert seen.count("/agent/v1/jobs/3/heartbeat") == 1


async def test_claim_parses_a_job_or_none() -> None:
    job = {
        "id": 7,
        "kind": "create_volume",
        "backend": "node1@file1",
        "resource_type": "volume",
        "resource_id": "u",
        "payload_version": 1,
        "payload": {"volume": {"id": "u", "size_gb": 1}},
        "attempts": 1,
        "lease_seconds": 30,
        "lease_expires_at": "2026-11-25T15:38:23.000000",
    }
    transport, _ = scripted(
        [httpx.Response(200, json={"job": job}), httpx.Response(200, json={"job": None})]
    )
    client = client_for("http://api", transport=transport)
    try:
        claimed = await client.claim_job(["node1@file1"], 0)
        assert await client.claim_job(["node1@file1"], 0) is None
    finally:
        await client.aclose()
    assert claimed == Job(
        id=7,
        kind="create_volume",
        backend="node1@file1",
        resource_type="volume",
        resource_id="u",
        payload_version=1,
        payload={"volume": {"id": "u", "size_gb": 1}},
        attempts=1,
        lease_seconds=30.0,
        lease_expires_at="2026-11-25T15:38:23.000000",
    )
