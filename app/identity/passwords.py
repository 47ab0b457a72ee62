"""Password hashing with Argon2id (argon2-cffi).

Hashing and verifying cost tens of milliseconds of CPU and 64 MiB of memory by design.
The async helpers run them on a pool of their own, one thread per CPU: the event loop
keeps serving other requests, and a burst of logins queues instead of taking
threads x 64 MiB or starving other users of asyncio.to_thread."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")


@dataclass(frozen=True)
class Verdict:
    """The outcome of a password check; `new_hash` is set when the stored hash uses
    weaker parameters than the current ones and the caller should store this instead."""

    ok: bool
    new_hash: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> Verdict:
    try:
        _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        # InvalidHashError: a row with a placeholder such as '!' never authenticates.
        return Verdict(ok=False)
    if _hasher.check_needs_rehash(stored_hash):
        return Verdict(ok=True, new_hash=_hasher.hash(password))
    return Verdict(ok=True)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("pumice-dummy-password")


def burn_verification(password: str) -> None:
    """Spend the time of a real verification when there is no user to check against,
    so an attacker cannot tell unknown user names from wrong passwords by timing."""
    verify_password(_dummy_hash(), password)


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> Verdict:
    """Verify against `stored_hash`, or against a dummy hash when it is None (no such
    user): both paths take the same time and the dummy one always fails."""
    loop = asyncio.get_running_loop()
    if stored_hash is None:
        await loop.run_in_executor(_pool, burn_verification, password)
        return Verdict(ok=False)
    return await loop.run_in_executor(_pool, verify_password, stored_hash, password)
