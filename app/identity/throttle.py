"""Login throttling: failed password checks are counted in the database, so guesses
spread over replicas add up, and past a limit the next attempts are refused with
TooManyRequests until the window that began with the first failure ends.

Three counters per attempt, because each stops a different guesser:
- a user from one address: one address guessing one password, without locking the
  user out for anyone else;
- one address: one address spraying guesses over many users;
- a user from every address: many addresses guessing one password. Its limit is
  higher than one address can reach (an address is locked first), so locking a user
  out for everyone takes several addresses, and lasts one window at most; that is the
  price of bounding a distributed guess.
A successful login clears the user's counters (not the address's: one's own account
must not reset the count of guesses at others). Checks and counts are separate steps,
so parallel guesses may each pass the check before any is counted: the overshoot is
bounded by the attacker's concurrency, and the next window starts from the count."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, case, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import LoginFailure, utcnow
from app.db.upsert import insert_ignore
from app.errors import TooManyRequests

REFUSED = "Too many failed authentication attempts. Try again later."


@dataclass(frozen=True)
class Rules:
    max_failures: int
    user_max_failures: int
    window_seconds: int
    delay_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            max_failures=settings.login_max_failures,
            user_max_failures=settings.login_user_max_failures,
            window_seconds=settings.login_failure_window_seconds,
            delay_seconds=settings.login_failure_delay_seconds,
        )

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int
    cleared_by_success: bool


def _counters(rules: Rules, user: str, address: str) -> list[_Counter]:
    counters = [
        _Counter(_key("pair", user, address), rules.max_failures, True),
        _Counter(_key("address", address), rules.max_failures, False),
        _Counter(_key("user", user), rules.user_max_failures, True),
    ]
    # One order for every transaction that locks counter rows: no deadlock between
    # concurrent failures and successes on PostgreSQL.
    return sorted(counters, key=lambda c: c.key)


def _key(*parts: str) -> str:
    # Hashed: what people type as a user name is sometimes their password.
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


async def check(
    session: AsyncSession, rules: Rules, user: str, address: str, now: datetime | None = None
) -> None:
    """Refuse (TooManyRequests) while any counter of this attempt is at its limit."""
    now = now or utcnow()
    counters = {c.key: c for c in _counters(rules, user, address)}
    rows = await session.execute(
        select(LoginFailure.key, LoginFailure.failures, LoginFailure.window_started).where(
            LoginFailure.key.in_(list(counters)),
            LoginFailure.window_started > now - rules.window,
        )
    )
    ends = [
        started + rules.window for key, failures, started in rows if failures >= counters[key].limit
    ]
    if ends:
        wait = (max(ends) - now).total_seconds()
        raise TooManyRequests(REFUSED, retry_after=max(1, math.ceil(wait)))


async def record_failure(
    session: AsyncSession, rules: Rules, user: str, address: str, now: datetime | None = None
) -> float:
    """Count a failed password check. Returns how long to hold the answer back: the
    delay once half of some limit is spent, else 0."""
    now = now or utcnow()
    expired = now - rules.window
    slow = False
    for counter in _counters(rules, user, address):
        await session.execute(
            insert_ignore(
                session,
                LoginFailure,
                {"key": counter.key, "failures": 0, "window_started": now},
            )
        )
        restart = LoginFailure.window_started <= expired
        failures = await session.scalar(
            update(LoginFailure)
            .where(LoginFailure.key == counter.key)
            .values(
                failures=case((restart, 1), else_=LoginFailure.failures + 1),
                window_started=case(
                    (restart, literal(now, DateTime())), else_=LoginFailure.window_started
                ),
            )
            .returning(LoginFailure.failures)
        )
        slow = slow or (failures or 0) * 2 >= counter.limit
    await _purge(session, expired)
    return rules.delay_seconds if slow else 0.0


async def record_success(session: AsyncSession, rules: Rules, user: str, address: str) -> None:
    for counter in _counters(rules, user, address):
        if counter.cleared_by_success:
            await session.execute(delete(LoginFailure).where(LoginFailure.key == counter.key))


async def _purge(session: AsyncSession, expired: datetime) -> None:
    # Rows whose window is over count nothing. Skip rows another transaction holds
    # (SKIP LOCKED; SQLite has a single writer anyway): this transaction already holds
    # its own counters, and must not wait for another's while holding them.
    stale = (
        select(LoginFailure.key)
        .where(LoginFailure.window_started <= expired)
        .with_for_update(skip_locked=True)
    )
    await session.execute(delete(LoginFailure).where(LoginFailure.key.in_(stale)))
