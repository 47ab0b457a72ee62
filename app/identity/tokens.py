"""Signed, expiring bearer tokens (JWS, HS256) carrying the scope of a password
authentication. The ring's first key signs and names itself in the `kid` header; every
key of the ring verifies (app/identity/keyring.py)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from app.db.models import utcnow
from app.errors import Unauthorized
from app.identity.keyring import KeyRing, SigningKey, new_secret

ALGORITHM = "HS256"
ISSUER = "pumice"
UNAUTHORIZED = "The request you have made requires authentication."


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    is_admin: bool
    issued_at: datetime
    expires_at: datetime
    token_id: str
    # How the user proved who it is (Keystone's "methods"): ("password",), or
    # ("token", "password") for a token rescoped from a password one.
    methods: tuple[str, ...] = ("password",)
    # Keystone's audit chain: the audit id of the password token a rescoped token
    # descends from ("" for a password token itself). Revoking that token revokes
    # every token of its chain.
    chain: str = ""
    # The user's token generation at issue (users.token_generation): a password
    # change moves it on and so revokes every older token of the user.
    generation: int = 0

    @property
    def audit_chain_id(self) -> str:
        return self.chain or self.audit_id

    @property
    def audit_id(self) -> str:
        """Keystone's audit id: 22 url-safe characters that name the token in logs
        without revealing it; here derived from the token id."""
        raw = bytes.fromhex(self.token_id) if _is_hex(self.token_id) else self.token_id.encode()
        return base64.urlsafe_b64encode(raw[:16]).decode().rstrip("=")[:22]


def new_signing_key() -> str:
    return new_secret()


class TokenIssuer:
    def __init__(self, keys: KeyRing | str, ttl_seconds: int) -> None:
        """`keys`: the ring, or one secret (a ring of one)."""
        self._keys = keys if isinstance(keys, KeyRing) else KeyRing.of(keys)
        self._ttl = ttl_seconds

    def issue(
        self,
        *,
        user_id: str,
        user_name: str,
        project_id: str,
        project_name: str,
        roles: tuple[str, ...],
        is_admin: bool,
        expires_at: datetime | None = None,
        methods: tuple[str, ...] = ("password",),
        chain: str = "",
        generation: int = 0,
    ) -> tuple[str, TokenClaims]:
        """A new token; `expires_at` caps its life (a rescoped token keeps the expiry
        of the token it came from, as Keystone does)."""
        now = utcnow().replace(microsecond=0)
        expiry = now + timedelta(seconds=self._ttl)
        if expires_at is not None:
            expiry = min(expiry, expires_at.replace(microsecond=0))
        claims = TokenClaims(
            user_id, user_name, project_id, project_name, roles, is_admin,
            now, expiry, uuid.uuid4().hex, methods, chain, generation,
        )  # fmt: skip
        payload = {
            "iss": ISSUER,
            "sub": user_id,
            "unm": user_name,
            "pid": project_id,
            "pnm": project_name,
            "roles": list(roles),
            "adm": is_admin,
            "iat": int(_epoch(now)),
            "exp": int(_epoch(claims.expires_at)),
            "jti": claims.token_id,
            "amr": list(methods),  # RFC 8176: authentication methods references
            "chn": chain,
            "gen": generation,
        }
        key = self._keys.signing
        token = jwt.encode(payload, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, claims

    def verify(self, token: str) -> TokenClaims:
        p = self._decode(token)
        return TokenClaims(
            user_id=p["sub"],
            user_name=p.get("unm", ""),
            project_id=p["pid"],
            project_name=p.get("pnm", ""),
            roles=tuple(p.get("roles", ())),
            is_admin=bool(p.get("adm")),
            issued_at=_from_epoch(p["iat"]),
            expires_at=_from_epoch(p["exp"]),
            token_id=p.get("jti", ""),
            methods=tuple(p.get("amr", ("password",))),
            chain=str(p.get("chn", "")),
            generation=int(p.get("gen", 0)),
        )

    def _decode(self, token: str) -> dict[str, Any]:
        """The verified payload. A `kid` picks its key (an unknown one is refused); a
        token without one, from before key rings, is tried with every key."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthorized(UNAUTHORIZED) from exc
        candidates: tuple[SigningKey, ...] = self._keys.keys
        if kid is not None:
            found = self._keys.by_kid(kid) if isinstance(kid, str) else None
            if found is None:
                raise Unauthorized(UNAUTHORIZED)
            candidates = (found,)
        for key in candidates:
            try:
                payload: dict[str, Any] = jwt.decode(
                    token,
                    key.secret,
                    algorithms=[ALGORITHM],
                    issuer=ISSUER,
                    options={"require": ["exp", "iat", "sub", "pid"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise Unauthorized(UNAUTHORIZED) from exc
            return payload
        raise Unauthorized(UNAUTHORIZED)


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def _epoch(dt: datetime) -> float:
    return (dt - datetime(1970, 1, 1)).total_seconds()


def _from_epoch(ts: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=ts)
