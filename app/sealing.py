"""Secrets the database keeps sealed (CHAP secrets in volumes and in export jobs):
Fernet tokens under a key ring whose first key seals and whose every key opens, so a key
can be replaced without losing what the old one sealed.

The ring comes from the `secret_keys` setting (PUMICE_SECRET_KEYS, secrets of at least 32
characters separated by commas: every replica given it opens every replica's seals) or
else from a 0600 `secret-keys` file in the data directory, made on first use, in the
format and with the care of the token key file (app/identity/keyring.py)."""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.config import Settings
from app.identity import keyring
from app.identity.keyring import KeyRing, KeyRingError

KEY_FILE = "secret-keys"


class SealingError(ValueError):
    """A sealed value that the configured keys cannot open, or unusable keys."""


def fernet_key(secret: str) -> bytes:
    """The Fernet key of one ring secret: a digest, so any long random text will do,
    and a secret shared with another purpose still yields a key of its own."""
    digest = hashlib.sha256(b"pumice-sealing\0" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest)


class Sealer:
    """Seals and opens short secrets; the key ring is read when first needed."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    def seal(self, plain: str) -> str:
        return self._ring().encrypt(plain.encode()).decode()

    def unseal(self, sealed: str) -> str:
        try:
            return self._ring().decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealingError(
                "a sealed secret cannot be opened with the configured secret keys"
            ) from None

    def _ring(self) -> MultiFernet:
        with self._lock:
            if self._fernet is None:
                ring = _load(self._settings)
                self._fernet = MultiFernet([Fernet(fernet_key(k.secret)) for k in ring.keys])
            return self._fernet


def _load(settings: Settings) -> KeyRing:
    if settings.secret_keys is not None:
        parts = [p.strip() for p in settings.secret_keys.get_secret_value().split(",")]
        parts = [p for p in parts if p]
        if not parts or any(len(p) < keyring.MIN_SECRET_LENGTH for p in parts):
            raise KeyRingError(
                f"PUMICE_SECRET_KEYS needs one or more secrets of at least "
                f"{keyring.MIN_SECRET_LENGTH} characters, separated by commas"
            )
        return KeyRing.of(*parts)
    return _key_file_ring(settings.data_dir)


def _key_file_ring(data_dir: Path) -> KeyRing:
    path = data_dir / KEY_FILE
    with keyring.locked(data_dir):
        ring = keyring.read(path)
        return ring if ring is not None else keyring.create(path, KeyRing.fresh())
