"""The data directory holds the database, the token signing keys and credentials: it is
private to the service's user (folder 0700, files 0600), whatever the process umask.

SQLite creates `-wal` and `-shm` with the mode of the database file, so creating the
database file 0600 before SQLite opens it keeps those private too."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from app.config import Settings

log = structlog.get_logger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# The umask of server and agent processes: what they create is their user's alone.
PROCESS_UMASK = 0o077

# What the service (and `pumice up`) keeps in a data directory.
KNOWN_FILES = (
    "pumice.db",
    "pumice.db-wal",
    "pumice.db-shm",
    "token-keys",
    "secret-keys",
    "agent.toml",
    "clouds.yaml",
)
KNOWN_DIRS = ("volumes", "backups")


def restrict_umask() -> None:
    os.umask(PROCESS_UMASK)


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents, which keep the usual mode) as a 0700 folder;
    an existing folder is left to `tighten`."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_DIR)  # the umask may have taken bits we asked for


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file unless something is already there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory SQLite)."""
    from sqlalchemy.engine import make_url  # here: `pumice --help` needs none of it

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def prepare(settings: Settings) -> list[str]:
    """Make the data directory (and a SQLite database file) private before anything
    writes there; an existing install is tightened with one log line. Returns what was
    tightened."""
    make_private_dir(settings.data_dir)
    database = sqlite_path(settings.resolved_database_url())
    if database is not None and database.parent.is_dir():
        create_private_file(database)
    tightened = tighten(settings.data_dir, database)
    if tightened:
        log.warning(
            "tightened file modes: the data directory must be readable by its owner only",
            paths=tightened,
        )
    return tightened


def tighten(data_dir: Path, database: Path | None = None) -> list[str]:
    """Take group and other permissions off the data directory and what the service keeps
    in it (and off a SQLite database kept elsewhere). Symbolic links are not followed."""
    paths = [data_dir, *(data_dir / name for name in KNOWN_FILES + KNOWN_DIRS)]
    if database is not None:
        paths += [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    tightened: list[str] = []
    for path in dict.fromkeys(p.absolute() for p in paths):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
            continue
        if info.st_uid != os.geteuid():
            continue  # not ours to change (and chmod would fail)
        mode = stat.S_IMODE(info.st_mode) & ~0o077
        os.chmod(path, mode)
        tightened.append(f"{path} {stat.S_IMODE(info.st_mode):o}->{mode:o}")
    return tightened
