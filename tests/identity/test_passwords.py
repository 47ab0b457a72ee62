from __future__ import annotations

import time

from argon2 import PasswordHasher

from app.identity import passwords
from app.identity.passwords import (
    burn_verification,
    hash_password,
    verify_password,
    verify_password_async,
)


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse").ok
    assert not verify_password(stored, "battery staple").ok


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("same") != hash_password("same")


def test_a_placeholder_hash_never_verifies() -> None:
    assert not verify_password("!", "").ok
    assert not verify_password("", "anything").ok


def test_a_weaker_hash_is_rehashed_on_success() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    verdict = verify_password(weak, "pw")
    assert verdict.ok
    assert verdict.new_hash is not None
    assert verify_password(verdict.new_hash, "pw") == passwords.Verdict(ok=True)


def test_a_current_hash_needs_no_rehash() -> None:
    assert verify_password(hash_password("pw"), "pw").new_hash is None


async def test_an_unknown_user_costs_a_real_verification() -> None:
    stored = hash_password("pw")
    burn_verification("warm-up")  # the dummy hash is computed once, lazily

    started = time.perf_counter()
    assert not (await verify_password_async(None, "pw")).ok
    unknown = time.perf_counter() - started

    started = time.perf_counter()
    assert not (await verify_password_async(stored, "wrong")).ok
    wrong = time.perf_counter() - started

    # Same work on both paths: neither is an order of magnitude faster.
    assert unknown > wrong / 5
    assert wrong > unknown / 5
