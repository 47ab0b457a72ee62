"""One request id follows a request: its response header, its log lines, its jobs."""

from __future__ import annotations

import httpx
import structlog
from structlog.testing import capture_logs

from tests.api.helpers import claim, report
from tests.conftest import Caller


async def test_log_lines_of_a_request_carry_its_id(client: httpx.AsyncClient) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        r = await client.post(
            "/identity/v3/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {"user": {"name": "nobody", "password": "wrong"}},
                    }
                }
            },
        )
    assert r.status_code == 401
    request_id = r.headers["x-openstack-request-id"]
    lines = [line for line in logs if line.get("request_id") == request_id]
    assert lines, logs
    # And the id does not leak into lines logged after the request.
    structlog.get_logger().info("after the request")
    assert structlog.contextvars.get_contextvars().get("request_id") is None


async def test_a_job_carries_the_id_of_the_request_that_queued_it(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    r = await client.post(
        f"/v3/{member.project_id}/volumes", json={"volume": {"size": 1}}, headers=member.headers()
    )
    assert r.status_code == 202, r.text
    job = await claim(client, service, ["node1@file"])
    assert job is not None
    assert job["request_id"] == r.headers["x-openstack-request-id"]
