"""Backup drivers run by the agent: a volume's bytes into a repository and back.

No database and no HTTP: the agent hands them the path of a volume (the volume driver's
`local_path`) and posts what they return."""

from app.drivers.backup.posix import (
    MANIFEST_NAME,
    BackupCorrupt,
    BackupInUse,
    PosixBackupRepository,
    restore,
)

__all__ = ["MANIFEST_NAME", "BackupCorrupt", "BackupInUse", "PosixBackupRepository", "restore"]
