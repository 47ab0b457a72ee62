"""The database out of reach: 503 with Retry-After in the fault shape of each API, one
log line per outage (not a traceback per request), answers within the deadlines, and
recovery by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from app.config import Settings
from tests.api.helpers import TcpRelay, report
from tests.conftest import Caller

pytestmark = pytest.mark.both_databases

OUT = "database unreachable: answering 503 until it answers"
BACK = "database reachable again"


@pytest.fixture
async def relay(db_url: str) -> AsyncIterator[TcpRelay]:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite is a file of this process: it cannot be out of reach")
    relay = TcpRelay(make_url(db_url).port or 5432)
    await relay.start()
    yield relay
    await relay.cut()


@pytest.fixture
def pool_size() -> int | None:
    return None  # the default pool


@pytest.fixture
def settings(db_url: str, tmp_path: Path, relay: TcpRelay, pool_size: int | None) -> Settings:
    return Settings(
        database_url=make_url(db_url).set(port=relay.port).render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
        public_url="http://pumice.test",
        db_connect_timeout=1.0,
        db_pool_timeout=1.0,
        db_statement_timeout=2.0,
        # Every request asks the database about its token: none is answered from memory.
        token_check_ttl_seconds=0.0,
        db_pool_size=pool_size or 10,
        db_max_overflow=0 if pool_size else 10,
    )


async def until_back(app: FastAPI) -> None:
    for _ in range(300):
        if not app.state.outage.ongoing:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the outage never ended")


async def test_an_unreachable_database_answers_503_and_logs_once_per_outage(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, service: Caller, relay: TcpRelay
) -> None:
    await report(client, service)
    volumes = f"/v3/{member.project_id}/volumes"
    assert (await client.get(volumes, headers=member.headers())).status_code == 200

    with capture_logs() as logs:
        await relay.cut()  # refused at once
        for _ in range(3):
            r = await client.get(volumes, headers=member.headers(), timeout=60)
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert r.json()["serviceUnavailable"]["code"] == 503
        token = await client.post(
            "/identity/v3/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {"name": "nobody", "domain": {"id": "default"}, "password": "x"}
                        },
                    }
                }
            },
            timeout=60,
        )
        assert token.status_code == 503 and token.json()["error"]["code"] == 503  # Keystone's

        await relay.hang()  # accepted, never answered: the connect deadline answers
        r = await client.get(volumes, headers=member.headers(), timeout=60)
        assert r.status_code == 503

        await relay.restore()
        await until_back(app)
        assert (await client.get(volumes, headers=member.headers())).status_code == 200

    events = [entry["event"] for entry in logs]
    assert events.count(OUT) == 1 and events.count(BACK) == 1
    assert "unexpected error" not in events and "unhandled error" not in events
    back = next(entry for entry in logs if entry["event"] == BACK)
    assert back["failed_requests"] == 5


async def test_a_second_outage_is_logged_again(
    app: FastAPI, client: httpx.AsyncClient, member: Caller, relay: TcpRelay
) -> None:
    volumes = f"/v3/{member.project_id}/volumes"
    with capture_logs() as logs:
        for _ in range(2):
            await relay.cut()
            r = await client.get(volumes, headers=member.headers(), timeout=60)
            assert r.status_code == 503
            await relay.restore()
            await until_back(app)
    assert [e["event"] for e in logs if e["event"] in (OUT, BACK)] == [OUT, BACK, OUT, BACK]


@pytest.mark.parametrize("pool_size", [1])
async def test_an_exhausted_pool_is_busy_not_an_outage(
    app: FastAPI, client: httpx.AsyncClient, member: Caller
) -> None:
    volumes = f"/v3/{member.project_id}/volumes"
    assert (await client.get(volumes, headers=member.headers())).status_code == 200
    with capture_logs() as logs:
        async with app.state.runtime.engine.connect():  # the pool's one connection, held
            r = await client.get(volumes, headers=member.headers(), timeout=60)
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "busy" in r.json()["serviceUnavailable"]["message"]
    events = [entry["event"] for entry in logs]
    assert "database pool exhausted: answering 503" in events and OUT not in events
    assert not app.state.outage.ongoing
    assert (await client.get(volumes, headers=member.headers())).status_code == 200
