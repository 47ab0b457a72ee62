"""A backup's `manifest.json` (docs/CONTRACTS.md, "Repository layout"): what it holds,
how it is read (versions 1 and 2) and written (last, atomically).

Version 2 adds incremental backups: a chunk whose bytes equal the parent's chunk at the
same index is not stored again; its entry names the backup whose folder holds the object
(`"backup_id"` and `"container"`, always the backup that stored it, never a chain of
references), and `depends_on` lists every such backup. An entry without `backup_id`
is an object of this backup's own folder, as in version 1."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from app.drivers.backup.fsops import BackupCorrupt, create_file, read_file, safe_name, write_all

FORMAT = "pumice-backup"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"
DEFAULT_CONTAINER = "volumebackups"

Manifest = dict[str, Any]
Chunk = dict[str, Any]


@dataclass(frozen=True, order=True)
class BackupRef:
    """A backup of the repository: its container and id (both safe file names)."""

    container: str
    backup_id: str

    @classmethod
    def of(cls, backup_id: str, container: str | None) -> BackupRef:
        return cls(
            safe_name(container or DEFAULT_CONTAINER, "container"),
            safe_name(backup_id, "backup id"),
        )

    @classmethod
    def load(cls, value: Any, label: str) -> BackupRef:
        if not isinstance(value, dict):
            raise BackupCorrupt(f"backup {label}: a backup reference is not an object")
        try:
            return cls.of(str(value["backup_id"]), str(value["container"]))
        except (KeyError, BackupCorrupt) as exc:
            raise BackupCorrupt(f"backup {label}: bad backup reference {value!r}") from exc

    def dump(self) -> dict[str, str]:
        return {"backup_id": self.backup_id, "container": self.container}

    def __str__(self) -> str:
        return f"{self.backup_id} (container {self.container})"


def owner(chunk: Chunk) -> BackupRef | None:
    """The other backup whose folder holds the chunk's object; None for the folder the
    manifest is in."""
    if "backup_id" not in chunk:
        return None
    return BackupRef.of(str(chunk["backup_id"]), str(chunk.get("container")))


def depends_on(manifest: Manifest, label: str) -> list[BackupRef]:
    return [BackupRef.load(ref, label) for ref in manifest.get("depends_on", [])]


def load_manifest(folder: int, label: str, name: str = MANIFEST_NAME) -> Manifest:
    """The manifest in the folder `folder` (version 1 or 2); BackupCorrupt when it is
    missing (the backup is incomplete), unreadable or of another format."""
    try:
        text = read_file(folder, name).decode()
    except FileNotFoundError:
        raise no_manifest(label) from None
    except BackupCorrupt:
        raise
    except (OSError, ValueError) as exc:
        raise BackupCorrupt(f"backup {label}: unreadable manifest: {exc}") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise BackupCorrupt(f"backup {label}: unreadable manifest: {exc}") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("version") not in READABLE_VERSIONS
        or not isinstance(manifest.get("chunks"), list)
    ):
        raise BackupCorrupt(
            f"backup {label}: not a {FORMAT} manifest of version "
            + " or ".join(str(v) for v in READABLE_VERSIONS)
        )
    return manifest


def has_manifest(folder: int) -> bool:
    try:
        return os.stat(MANIFEST_NAME, dir_fd=folder, follow_symlinks=False).st_size > 0
    except FileNotFoundError:
        return False


def write_manifest(folder: int, manifest: Manifest) -> None:
    """Write the manifest atomically: a temp file, fsync, rename, fsync of the folder.
    Until the rename the backup has no manifest: it is incomplete, whatever it holds."""
    temp = f".{MANIFEST_NAME}.tmp"
    try:
        os.unlink(temp, dir_fd=folder)
    except FileNotFoundError:
        pass
    fd = create_file(folder, temp)
    try:
        write_all(fd, json.dumps(manifest, indent=1).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, MANIFEST_NAME, src_dir_fd=folder, dst_dir_fd=folder)
    os.fsync(folder)


def no_manifest(label: str) -> BackupCorrupt:
    return BackupCorrupt(f"backup {label} has no manifest: it does not exist or never completed")
