"""Token revocation, in the database so every replica refuses what one revoked.

Two kinds, as Keystone has them: one token by its audit id (Keystone's DELETE
/auth/tokens; a password token's audit id is also the chain id of every token rescoped
from it, so those go with it), and every token of a user at once (a password change),
done by moving the user's token generation on. A revoked audit id is kept until the
token would have expired anyway: past that its signature refuses it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import RevokedToken, User, utcnow
from app.db.upsert import insert_ignore
from app.identity.tokens import TokenClaims


async def revoke(session: AsyncSession, claims: TokenClaims) -> None:
    """Revoke one token (and, for a password token, the tokens rescoped from it)."""
    # Purging here keeps the table to the revocations that still matter with no
    # periodic task: a rescoped token never outlives its chain's root, so a row
    # past its token's expiry refuses nothing the signature check would not.
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    await session.execute(
        insert_ignore(
            session,
            RevokedToken,
            {"audit_id": claims.audit_id, "expires_at": claims.expires_at, "created_at": utcnow()},
        )
    )


def is_revoked(claims: TokenClaims) -> ColumnElement[bool]:
    """True in SQL when the token or the chain it belongs to was revoked."""
    ids = sorted({claims.audit_id, claims.audit_chain_id})
    return exists().where(RevokedToken.audit_id.in_(ids))


async def revoke_user_tokens(session: AsyncSession, user_id: str) -> None:
    """Every token the user holds now stops working (tokens carry the generation they
    were issued in); tokens issued afterwards work."""
    await session.execute(
        update(User).where(User.id == user_id).values(token_generation=User.token_generation + 1)
    )
