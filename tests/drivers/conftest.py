"""Driver fixtures: a loop-mounted XFS filesystem with reflinks (needs root, losetup and
mkfs.xfs); skipped without them, required in CI. The private tgtd is in tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.drivers.backup import PosixBackupRepository
from tests.conftest import need
from tests.drivers.helpers import BACKUP_CHUNK


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@pytest.fixture
def xfs_folder(tmp_path: Path) -> Iterator[Path]:
    need(
        os.geteuid() == 0 and bool(shutil.which("mkfs.xfs")) and bool(shutil.which("losetup")),
        "root with mkfs.xfs (xfsprogs) and losetup",
    )
    image = tmp_path / "xfs.img"
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    with open(image, "wb") as f:
        f.truncate(512 * 1024 * 1024)
    try:
        _run("mkfs.xfs", "-q", "-m", "reflink=1", str(image))
        _run("mount", "-o", "loop", str(image), str(mountpoint))
    except subprocess.CalledProcessError as exc:
        need(False, f"a loop-mounted XFS image ({exc.stderr.decode().strip()})")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> PosixBackupRepository:
    """A backup repository (zstd, chunks of BACKUP_CHUNK) in the test's folder."""
    repository = PosixBackupRepository(tmp_path / "repo", chunk_bytes=BACKUP_CHUNK)
    repository.do_setup()
    return repository
