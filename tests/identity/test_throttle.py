"""Login throttling on SQLite and PostgreSQL: failures counted in the database per user
from an address, per address and per user; a lock answers 429 with Retry-After in
Keystone's format, ends with its window, and one address cannot lock a user out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from app.config import Settings
from app.db.models import utcnow
from app.errors import TooManyRequests
from app.identity import service, throttle
from app.main import create_app
from tests.identity.helpers import TOKENS, UNAUTHORIZED_BODY, password_auth

pytestmark = pytest.mark.both_databases  # login throttling counted in the database

RULES = throttle.Rules(max_failures=3, user_max_failures=5, window_seconds=300, delay_seconds=0)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "login_max_failures": RULES.max_failures,
            "login_user_max_failures": RULES.user_max_failures,
            "login_failure_delay_seconds": 0.0,
        }
    )


@pytest.fixture
async def users(app: FastAPI) -> None:
    async with app.state.runtime.sessionmaker() as session:
        await service.create_project(session, "demo")
        for name in ("alice", "bob", "carol", "dave"):
            await service.create_user(session, name, f"pw-{name}", project="demo")
            await service.add_role(session, name, "demo", "member")
        await session.commit()


@pytest.fixture
async def clients(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One client per source address."""
    made = {
        address: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 40000)),
            base_url="http://pumice.test",
        )
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    }
    yield made
    for c in made.values():
        await c.aclose()


async def attempt(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await client.post(TOKENS, json=password_auth(user, password))


async def fail(client: httpx.AsyncClient, user: str, times: int) -> None:
    for _ in range(times):
        response = await attempt(client, user, "wrong")
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {
        "error": {
            "code": 429,
            "message": throttle.REFUSED,
            "title": "Too Many Requests",
        }
    }
    assert 0 < int(response.headers["Retry-After"]) <= RULES.window_seconds
    assert "X-Subject-Token" not in response.headers


async def test_repeated_failures_lock_the_user_from_that_address(
    users: None, clients: dict[str, httpx.AsyncClient]
) -> None:
    attacker, other = clients["10.0.0.1"], clients["10.0.0.2"]
    await fail(attacker, "alice", RULES.max_failures)
    # Locked: even the right password is refused, without being checked.
    assert_refused(await attempt(attacker, "alice", "pw-alice"))
    # One address alone cannot lock alice out for everyone.
    assert (await attempt(other, "alice", "pw-alice")).status_code == 201


async def test_one_address_is_locked_across_users(
    users: None, clients: dict[str, httpx.AsyncClient]
) -> None:
    attacker = clients["10.0.0.1"]
    for user in ("alice", "bob", "nobody"):
        await fail(attacker, user, 1)
    assert_refused(await attempt(attacker, "carol", "pw-carol"))
    assert (await attempt(clients["10.0.0.2"], "carol", "pw-carol")).status_code == 201


async def test_many_addresses_lock_the_user_for_everyone(
    users: None, clients: dict[str, httpx.AsyncClient]
) -> None:
    await fail(clients["10.0.0.1"], "alice", 2)
    await fail(clients["10.0.0.2"], "alice", 2)
    await fail(clients["10.0.0.3"], "alice", 1)
    for client in clients.values():
        assert_refused(await attempt(client, "alice", "pw-alice"))
    # The lock is alice's, not the addresses'.
    assert (await attempt(clients["10.0.0.3"], "bob", "pw-bob")).status_code == 201


async def test_a_success_clears_the_users_count_not_the_addresss(
    users: None, clients: dict[str, httpx.AsyncClient]
) -> None:
    await fail(clients["10.0.0.1"], "alice", 2)
    await fail(clients["10.0.0.2"], "alice", 2)
    assert (await attempt(clients["10.0.0.3"], "alice", "pw-alice")).status_code == 201
    # Counted from zero again: two more failures leave alice below her limit of five.
    await fail(clients["10.0.0.3"], "alice", 2)
    assert (await attempt(clients["10.0.0.3"], "alice", "pw-alice")).status_code == 201
    # Logging into one's own account does not reset an address's guesses at others.
    assert (await attempt(clients["10.0.0.1"], "bob", "pw-bob")).status_code == 201
    await fail(clients["10.0.0.1"], "carol", 1)
    assert_refused(await attempt(clients["10.0.0.1"], "bob", "pw-bob"))


async def test_a_user_name_and_its_id_count_as_one_user(
    app: FastAPI, users: None, clients: dict[str, httpx.AsyncClient]
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        alice_id = (await service.get_user(session, "alice")).id
    client = clients["10.0.0.1"]
    await fail(client, "alice", RULES.max_failures - 1)
    response = await client.post(TOKENS, json=password_auth(alice_id, "wrong", by_id=True))
    assert response.status_code == 401
    response = await client.post(TOKENS, json=password_auth(alice_id, "pw-alice", by_id=True))
    assert_refused(response)


async def test_the_password_change_is_throttled_as_a_login(
    app: FastAPI, users: None, clients: dict[str, httpx.AsyncClient]
) -> None:
    async with app.state.runtime.sessionmaker() as session:
        alice_id = (await service.get_user(session, "alice")).id
    client = clients["10.0.0.1"]
    url = f"/identity/v3/users/{alice_id}/password"
    body = {"user": {"password": "new", "original_password": "wrong"}}
    for _ in range(RULES.max_failures):
        assert (await client.post(url, json=body)).status_code == 401
    body["user"]["original_password"] = "pw-alice"
    assert_refused(await client.post(url, json=body))
    assert_refused(await attempt(client, "alice", "pw-alice"))


async def test_failures_on_every_replica_add_up(settings: Settings, users: None) -> None:
    one, two = create_app(settings, background=False), create_app(settings, background=False)
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        c1, c2 = (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("10.0.0.9", 40000)),
                base_url="http://pumice.test",
            )
            for app in (one, two)
        )
        async with c1, c2:
            await fail(c1, "alice", 2)
            await fail(c2, "alice", RULES.max_failures - 2)
            assert_refused(await attempt(c1, "alice", "pw-alice"))
            assert_refused(await attempt(c2, "alice", "pw-alice"))


async def test_failed_logins_are_logged_without_the_password(
    users: None, clients: dict[str, httpx.AsyncClient]
) -> None:
    client = clients["10.0.0.1"]
    secret = "correct-horse-battery-staple"
    with capture_logs() as logs:
        response = await attempt(client, "alice", secret)
        assert response.status_code == 401
        await fail(client, "alice", RULES.max_failures - 1)
        assert (await attempt(client, "alice", secret)).status_code == 429
    failed = [e for e in logs if e["event"] == "authentication failed"]
    assert failed and all(e["user"] == "alice" and e["address"] == "10.0.0.1" for e in failed)
    refused = [e for e in logs if "repeated failures" in e["event"]]
    assert refused and refused[0]["address"] == "10.0.0.1"
    assert secret not in repr(logs)


# --- the counters themselves (time given explicitly) -------------------------------


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as s:
        yield s


async def test_a_lock_ends_with_its_window(session: AsyncSession) -> None:
    start = utcnow()
    for _ in range(RULES.max_failures):
        await throttle.record_failure(session, RULES, "alice", "10.0.0.1", start)
    await session.commit()
    almost = start + timedelta(seconds=RULES.window_seconds - 30)
    with pytest.raises(TooManyRequests) as refused:
        await throttle.check(session, RULES, "alice", "10.0.0.1", almost)
    assert refused.value.retry_after == 30
    later = start + timedelta(seconds=RULES.window_seconds + 1)
    await throttle.check(session, RULES, "alice", "10.0.0.1", later)
    # A failure after the window starts a new count from one.
    await throttle.record_failure(session, RULES, "alice", "10.0.0.1", later)
    await throttle.check(session, RULES, "alice", "10.0.0.1", later)


async def test_answers_slow_down_once_half_a_limit_is_spent(session: AsyncSession) -> None:
    rules = throttle.Rules(
        max_failures=4, user_max_failures=100, window_seconds=300, delay_seconds=2
    )
    now = utcnow()
    delays = [
        await throttle.record_failure(session, rules, "bob", "10.0.0.1", now) for _ in range(4)
    ]
    assert delays == [0.0, 2, 2, 2]


async def test_expired_counters_are_purged(session: AsyncSession) -> None:
    from sqlalchemy import func, select

    from app.db.models import LoginFailure

    start = utcnow()
    await throttle.record_failure(session, RULES, "alice", "10.0.0.1", start)
    later = start + timedelta(seconds=RULES.window_seconds + 1)
    await throttle.record_failure(session, RULES, "bob", "10.0.0.2", later)
    await session.commit()
    # Alice's counters (hers, her address's, hers from it) are over; bob's three remain.
    assert await session.scalar(select(func.count()).select_from(LoginFailure)) == 3
