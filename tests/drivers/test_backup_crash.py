"""A backup killed mid-way (SIGKILL, in another process) leaves a folder without a
manifest: it never restores, a retry starts over, and an incremental's parent stays
deletable once the killed backup is deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.drivers.backup import MANIFEST_NAME, BackupCorrupt, BackupInUse, PosixBackupRepository
from tests.drivers.helpers import (
    BACKUP_CHUNK,
    backed_up_volume,
    rewrite_chunks,
    write_backup_volume,
)

CHUNK = BACKUP_CHUNK
FULL = "00000000-0000-4000-8000-0000000000f1"
CHILD = "00000000-0000-4000-8000-0000000000c1"
ROOT = Path(__file__).resolve().parents[2]

# Backs up argv[2] as argv[3] (parent argv[4] or "", chunks of argv[6] bytes), and at
# half-way touches argv[5] and waits to be killed.
_BACKUP_UNTIL_KILLED = """
import sys, time
from pathlib import Path
from app.drivers.backup import PosixBackupRepository
root, source, backup_id, parent, flag, chunk = sys.argv[1:]

def halfway(percent):
    if percent >= 50:
        Path(flag).touch()
        time.sleep(600)

PosixBackupRepository(Path(root), chunk_bytes=int(chunk)).create_backup(
    backup_id, Path(source), parent=parent or None, progress=halfway
)
"""


def _kill_halfway(repo: PosixBackupRepository, source: Path, backup_id: str, parent: str) -> None:
    flag = source.parent / f"halfway-{backup_id}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _BACKUP_UNTIL_KILLED,
            str(repo.root),
            str(source),
            backup_id,
            parent,
            str(flag),
            str(CHUNK),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert process.poll() is None, "the backup ended before half-way"
            assert time.monotonic() < deadline, "the backup never reached half-way"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def test_a_killed_backup_has_no_manifest_and_a_retry_works(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    source = tmp_path / "volume"
    data = write_backup_volume(source, CHUNK)
    _kill_halfway(repo, source, FULL, "")

    folder = repo.backup_dir(FULL, None)
    left = sorted(p.name for p in folder.iterdir())
    assert MANIFEST_NAME not in left
    assert any(name.startswith("chunk-") for name in left)  # it was killed mid-way
    with pytest.raises(BackupCorrupt, match="no manifest"):
        repo.restore(FULL, tmp_path / "out")

    repo.create_backup(FULL, source)
    repo.restore(FULL, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def test_a_killed_incremental_holds_its_parent_until_it_is_deleted(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    source, _ = backed_up_volume(repo, tmp_path, FULL)
    changed = rewrite_chunks(source, CHUNK, [0, 7])
    _kill_halfway(repo, source, CHILD, FULL)

    assert not (repo.backup_dir(CHILD, None) / MANIFEST_NAME).exists()
    # A backup folder that exists may still become a complete child: the parent stays.
    with pytest.raises(BackupInUse, match=CHILD):
        repo.delete_backup(FULL)
    # The retry completes it...
    repo.create_backup(CHILD, source, parent=FULL)
    repo.restore(CHILD, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == changed
    # ...or deleting it frees the parent.
    repo.delete_backup(CHILD)
    repo.delete_backup(FULL)
    assert not any((repo.root / "volumebackups").iterdir())
