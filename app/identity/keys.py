"""Where a replica's token signing keys come from at start: the `token_keys` setting, or
else the key file in the data directory (created on first start). The database holds no
key: an install whose key is still in `system_secrets` has it moved out on start."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import SystemSecret, utcnow
from app.identity import keyring
from app.identity.keyring import KeyRing, SigningKey

log = structlog.get_logger(__name__)

# The row where earlier versions kept the one signing key.
LEGACY_SIGNING_KEY = "token-signing-key"


async def load_key_ring(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> KeyRing:
    async with sessionmaker() as session, session.begin():
        legacy = await _legacy_key(session)
    if settings.token_keys is not None:
        ring = KeyRing.from_setting(settings.token_keys.get_secret_value())
        source = "setting"
    else:
        path = keyring.key_file(settings.data_dir)
        ring = await asyncio.to_thread(_key_file_ring, settings, legacy)
        source = str(path)
    if settings.token_keys is None and not settings.resolved_database_url().startswith("sqlite"):
        log.info(
            "token keys come from this replica's data directory: every replica must hold "
            "the same key ring (a shared data directory, or PUMICE_TOKEN_KEYS)",
            key_file=source,
        )
    if legacy is not None:
        # Only now that the key file holds it (or the setting replaces it) may it go.
        async with sessionmaker() as session, session.begin():
            await session.execute(
                delete(SystemSecret).where(SystemSecret.name == LEGACY_SIGNING_KEY)
            )
        if settings.token_keys is None:
            log.warning("moved the token signing key out of the database", key_file=source)
        else:
            log.warning(
                "removed the token signing key from the database: PUMICE_TOKEN_KEYS signs "
                "now, and tokens the old key signed are refused (clients log in again)"
            )
    return ring


async def _legacy_key(session: AsyncSession) -> str | None:
    result = await session.execute(
        select(SystemSecret.value).where(SystemSecret.name == LEGACY_SIGNING_KEY)
    )
    return result.scalar_one_or_none()


def _key_file_ring(settings: Settings, legacy: str | None) -> KeyRing:
    """The ring in the key file, created on first start; a key still in the database
    joins it (first when there was no file, so tokens issued before keep verifying)."""
    path = keyring.key_file(settings.data_dir)
    with keyring.locked(settings.data_dir):
        ring = keyring.read(path)
        if ring is None:
            first = KeyRing.fresh() if legacy is None else KeyRing((SigningKey(legacy, utcnow()),))
            return keyring.create(path, first)
        if legacy is not None and ring.with_key(legacy) is not ring:
            ring = ring.with_key(legacy)
            keyring.replace(path, ring)
        return ring
