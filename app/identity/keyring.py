"""The token signing keys: a ring whose first key signs and whose every key verifies, so
a key can be replaced without refusing the tokens it signed (rotation, in
docs/CONTRACTS.md "Trust boundaries").

A ring comes from the `token_keys` setting (every replica given it shares it) or from a
0600 key file in the data directory (JSON, newest key first)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from app.db.models import utcnow

KEY_FILE = "token-keys"
FORMAT = "pumice-token-keys"
FORMAT_VERSION = 1
# A shorter secret could be guessed offline from any token it signed (HS256).
MIN_SECRET_LENGTH = 32


class KeyRingError(ValueError):
    """A key file or setting that cannot be used."""


def new_secret() -> str:
    return secrets.token_urlsafe(48)


@dataclass(frozen=True)
class SigningKey:
    secret: str = field(repr=False)
    # When the key was made (key file keys only): prune keeps old keys for a token TTL.
    created_at: datetime | None = None

    @property
    def kid(self) -> str:
        """The JWS `kid`: names the key in a token header without revealing it, and is
        the same wherever the same secret is configured."""
        return hashlib.sha256(b"pumice-token-key\0" + self.secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("a key ring needs at least one key")

    @classmethod
    def of(cls, *values: str) -> KeyRing:
        return cls(tuple(SigningKey(v) for v in values))

    @classmethod
    def fresh(cls) -> KeyRing:
        return cls((SigningKey(new_secret(), utcnow()),))

    @classmethod
    def from_setting(cls, value: str) -> KeyRing:
        """`value`: secrets separated by commas or whitespace, the signing key first."""
        parts = [p for p in value.replace(",", " ").split() if p]
        for part in parts:
            if len(part) < MIN_SECRET_LENGTH:
                raise KeyRingError(
                    f"every token key must have at least {MIN_SECRET_LENGTH} characters "
                    "(make one with 'pumice token-keys generate')"
                )
        if not parts:
            raise KeyRingError("the token key setting names no key")
        return cls.of(*parts)

    @property
    def signing(self) -> SigningKey:
        return self.keys[0]

    def by_kid(self, kid: str) -> SigningKey | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def rotated(self) -> KeyRing:
        """A new signing key first; the others still verify."""
        return KeyRing((SigningKey(new_secret(), utcnow()), *self.keys))

    def pruned(self) -> KeyRing:
        return KeyRing(self.keys[:1])

    def with_key(self, secret: str) -> KeyRing:
        """The ring plus `secret` as a key that verifies only (it keeps signing order)."""
        if any(k.secret == secret for k in self.keys):
            return self
        return KeyRing((*self.keys, SigningKey(secret, utcnow())))


# --- the key file -----------------------------------------------------------------------


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def read(path: Path) -> KeyRing | None:
    """The ring in `path`, or None when there is no file. A symbolic link is refused:
    the key must be the data directory's own file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyRingError(f"cannot read the token key file {path}: {exc.strerror}") from None
    with os.fdopen(fd) as handle:
        text = handle.read()
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} file")
        keys = tuple(
            SigningKey(
                str(k["secret"]),
                datetime.fromisoformat(k["created_at"]) if k.get("created_at") else None,
            )
            for k in doc["keys"]
        )
        return KeyRing(keys)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyRingError(f"the token key file {path} is damaged: {exc}") from None


def create(path: Path, ring: KeyRing) -> KeyRing:
    """Write `ring` to `path` unless a file is already there; the ring on disk either
    way. The file appears whole or not at all (written aside, then hard-linked into
    place, which fails if another process got there first), so racing starts agree."""
    temp = _write_aside(path, ring)
    try:
        os.link(temp, path)
    except FileExistsError:
        existing = read(path)
        if existing is None:  # removed in between: nothing sensible to agree on
            raise KeyRingError(f"the token key file {path} vanished while being created") from None
        return existing
    finally:
        os.unlink(temp)
    _fsync_dir(path.parent)
    return ring


def replace(path: Path, ring: KeyRing) -> None:
    """Atomically put `ring` in place of the file (rotate, prune)."""
    temp = _write_aside(path, ring)
    os.replace(temp, path)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    """Serialize changes of the key file (a start moving a key out of the database, a
    rotation) among processes on this host: an flock on the data directory itself."""
    fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_aside(path: Path, ring: KeyRing) -> Path:
    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "keys": [
            {
                "kid": k.kid,
                "secret": k.secret,
                "created_at": k.created_at.isoformat() if k.created_at else None,
            }
            for k in ring.keys
        ],
    }
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            os.fchmod(fd, 0o600)  # exact, whatever the umask
            out.write(json.dumps(doc, indent=1) + "\n")
            out.flush()
            os.fsync(fd)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
