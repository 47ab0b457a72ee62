"""Builders shared by the driver tests."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.drivers import VolumeDriver, VolumeSpec, create_driver
from app.drivers.file import FileDriver
from app.drivers.targets.tgtshow import Target, parse_accounts, parse_targets

# Every initiator run gets a timeout: a client of a force-deleted target may hang.
INITIATOR_TIMEOUT = 60


def make_driver(folder: Path, **options: Any) -> FileDriver:
    driver = create_driver("file1", "file", {"path": str(folder), **options})
    assert isinstance(driver, FileDriver)
    driver.do_setup()
    return driver


def make_export_driver(folder: Path, tgtd: PrivateTgtd, **options: Any) -> FileDriver:
    """A file driver whose exports go to the test's private tgtd."""
    return make_driver(
        folder,
        target_ip_address=tgtd.address,
        target_port=tgtd.port,
        tgt_control_port=tgtd.control_port,
        **options,
    )


def qemu_io(url: str, command: str, *, read_only: bool = False) -> subprocess.CompletedProcess[str]:
    """One qemu-io command on an iSCSI LUN over libiscsi (a userspace initiator)."""
    return subprocess.run(
        ["qemu-io", *(["-r"] if read_only else []), "-f", "raw", "-c", command, url],
        capture_output=True,
        text=True,
        timeout=INITIATOR_TIMEOUT,
        check=False,
    )


@dataclass(frozen=True)
class PrivateTgtd:
    """A tgtd of this test run: its control port (tgtadm -C) and its portal."""

    control_port: int
    address: str
    port: int

    def tgtadm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tgtadm", "-C", str(self.control_port), "--lld", "iscsi", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def running(self) -> bool:
        return self.tgtadm("--op", "show", "--mode", "sys").returncode == 0

    def targets(self) -> list[Target]:
        return parse_targets(self.tgtadm("--op", "show", "--mode", "target").stdout)

    def accounts(self) -> list[str]:
        return parse_accounts(self.tgtadm("--op", "show", "--mode", "account").stdout)

    def url(self, iqn: str, lun: int = 1, user: str = "", secret: str = "") -> str:
        """libiscsi's URL of a LUN, with CHAP credentials when given."""
        login = f"{user}%{secret}@" if user else ""
        return f"iscsi://{login}{self.address}:{self.port}/{iqn}/{lun}"

    def clear(self) -> None:
        """Deletes every target (sessions or not) and account, as a fresh tgtd has none."""
        for target in self.targets():
            self.tgtadm("--op", "delete", "--force", "--mode", "target", "--tid", str(target.tid))
        for user in self.accounts():
            self.tgtadm("--op", "delete", "--mode", "account", "--user", user)


class PlainDriver(VolumeDriver):
    """A driver with only the required methods: no local path, so every optional
    operation keeps the base class's refusal."""

    driver_name = "plain"
    storage_protocol = "file"

    def do_setup(self) -> None:
        pass

    def get_volume_stats(self) -> dict[str, Any]:
        return self.backend_stats([])

    def create_volume(self, volume: VolumeSpec) -> dict[str, Any]:
        return {}

    def delete_volume(self, volume: VolumeSpec) -> None:
        pass

    def extend_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        pass


# --- backup repository volumes ------------------------------------------------------------

BACKUP_CHUNK = 1024 * 1024
BACKUP_TEXT = b"the quick brown fox jumps over the lazy dog\n"


def write_backup_volume(path: Path, chunk: int) -> bytes:
    """8 chunks: random, text, a zero chunk written out, a hole (chunks 3-5), text, and
    half a chunk of text; returns the bytes."""
    text = (BACKUP_TEXT * (chunk // len(BACKUP_TEXT) + 1))[:chunk]
    with open(path, "wb") as out:
        out.write(os.urandom(chunk))  # chunk 0
        out.write(text)  # chunk 1
        out.write(bytes(chunk))  # chunk 2: zeros written as data
        out.seek(6 * chunk)  # chunks 3-5: a hole
        out.write(text)  # chunk 6
        out.write(text[: chunk // 2])  # chunk 7: half a chunk
    return path.read_bytes()


def rewrite_chunks(path: Path, chunk: int, indexes: list[int]) -> bytes:
    """Overwrite the first KiB of each chunk in `indexes` with random bytes (growing the
    file when a chunk lies past its end); returns the new bytes."""
    with open(path, "r+b") as out:
        for index in indexes:
            out.seek(index * chunk)
            out.write(os.urandom(1024))
    return path.read_bytes()


def backed_up_volume(repo: Any, folder: Path, backup_id: str) -> tuple[Path, bytes]:
    """A volume file (`write_backup_volume`) in `folder`, backed up in `repo` (a
    PosixBackupRepository) as `backup_id`: its path and bytes."""
    volume = folder / "volume"
    data = write_backup_volume(volume, BACKUP_CHUNK)
    repo.create_backup(backup_id, volume)
    return volume, data
