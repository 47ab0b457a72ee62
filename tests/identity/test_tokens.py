from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import jwt
import pytest

from app.db.models import utcnow
from app.errors import Unauthorized
from app.identity.keyring import KeyRing
from app.identity.tokens import ALGORITHM, TokenIssuer, new_signing_key


def issue(issuer: TokenIssuer, **overrides: object) -> str:
    fields: dict[str, object] = {
        "user_id": "u1",
        "user_name": "alice",
        "project_id": "p1",
        "project_name": "demo",
        "roles": ("member", "reader"),
        "is_admin": False,
    }
    fields.update(overrides)
    token, _ = issuer.issue(**fields)  # type: ignore[arg-type]
    return token


def test_a_token_round_trips_its_claims() -> None:
    issuer = TokenIssuer(new_signing_key(), 3600)
    token, claims = issuer.issue(
        user_id="u1", user_name="alice", project_id="p1", project_name="demo",
        roles=("member",), is_admin=False,
    )  # fmt: skip
    verified = issuer.verify(token)
    assert verified == claims
    assert verified.expires_at - verified.issued_at == timedelta(hours=1)
    assert len(verified.audit_id) == 22


def test_each_token_is_distinct() -> None:
    issuer = TokenIssuer(new_signing_key(), 3600)
    first, second = issue(issuer), issue(issuer)
    assert first != second
    assert issuer.verify(first).audit_id != issuer.verify(second).audit_id


def test_an_expired_token_is_rejected() -> None:
    issuer = TokenIssuer(new_signing_key(), -1)
    with pytest.raises(Unauthorized):
        issuer.verify(issue(issuer))


def test_expires_at_caps_the_lifetime() -> None:
    issuer = TokenIssuer(new_signing_key(), 3600)
    cap = utcnow() + timedelta(minutes=5)
    _, claims = issuer.issue(
        user_id="u1", user_name="alice", project_id="p1", project_name="demo",
        roles=("member",), is_admin=False, expires_at=cap,
    )  # fmt: skip
    assert claims.expires_at == cap.replace(microsecond=0)


def test_a_tampered_token_is_rejected() -> None:
    key = new_signing_key()
    issuer = TokenIssuer(key, 3600)
    token = issue(issuer)
    header, payload, signature = token.split(".")
    # Re-encode the claims with admin power but keep the old signature.
    claims = jwt.decode(token, key, algorithms=[ALGORITHM], issuer="pumice")
    claims["adm"] = True
    forged_payload = jwt.encode(claims, new_signing_key(), algorithm=ALGORITHM).split(".")[1]
    with pytest.raises(Unauthorized):
        issuer.verify(f"{header}.{forged_payload}.{signature}")
    with pytest.raises(Unauthorized):
        issuer.verify(f"{header}.{payload}.{signature[:-4]}AAAA")


def test_a_token_signed_with_another_key_is_rejected() -> None:
    other = TokenIssuer(new_signing_key(), 3600)
    with pytest.raises(Unauthorized):
        TokenIssuer(new_signing_key(), 3600).verify(issue(other))


def test_an_unsigned_token_is_rejected() -> None:
    issuer = TokenIssuer(new_signing_key(), 3600)
    claims = jwt.decode(issue(issuer), options={"verify_signature": False})
    unsigned = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(Unauthorized):
        issuer.verify(unsigned)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "🙂"])
def test_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(Unauthorized):
        TokenIssuer(new_signing_key(), 3600).verify(garbage)


def test_a_token_naming_a_key_outside_the_ring_is_rejected() -> None:
    key, other = new_signing_key(), new_signing_key()
    ring = KeyRing.of(key)
    issuer = TokenIssuer(ring, 3600)
    claims = jwt.decode(issue(issuer), options={"verify_signature": False})
    # The right signature under a kid the ring does not hold: the kid decides.
    unknown = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": "0" * 16})
    # The ring's kid on a signature by a key the ring does not hold.
    borrowed = jwt.encode(claims, other, algorithm=ALGORITHM, headers={"kid": ring.signing.kid})
    # A kid that is not a string (PyJWT will not write one: sign it by hand).
    header = _b64(json.dumps({"alg": ALGORITHM, "typ": "JWT", "kid": 7}).encode())
    body = unknown.split(".")[1]
    mac = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    odd = f"{header}.{body}.{_b64(mac)}"
    for token in (unknown, borrowed, odd):
        with pytest.raises(Unauthorized):
            issuer.verify(token)


def test_every_key_of_the_ring_verifies_and_the_first_signs() -> None:
    newest, older = new_signing_key(), new_signing_key()
    ring = KeyRing.of(newest, older)
    issuer = TokenIssuer(ring, 3600)
    assert jwt.get_unverified_header(issue(issuer))["kid"] == ring.signing.kid
    assert issuer.verify(issue(TokenIssuer(older, 3600))).user_id == "u1"
    # A token from before key rings names no key: each key of the ring is tried.
    claims = jwt.decode(issue(issuer), options={"verify_signature": False})
    assert issuer.verify(jwt.encode(claims, older, algorithm=ALGORITHM)).user_id == "u1"
    assert TokenIssuer(KeyRing.of(newest), 3600).verify(issue(issuer)).user_id == "u1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
