"""Moving a volume's data to another backend (migrate, retype by migration): a fresh
volume on the target, the source's bytes written into it, the copy read back and
compared by checksum before anyone is told it worked. The source is never changed here;
removing it is a separate job once the API has switched over.

Between two backends of one agent the source is read locally (`migrate_volume`); from
another agent's backend it is read over iSCSI from that agent's read-only export for the
copy (`pull_volume`, with qemu-img's userspace initiator, libiscsi)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import structlog

from app.drivers.base import DriverError, VolumeDriver, VolumeSpec
from app.drivers.copy import checksum, copy_into
from app.drivers.runner import CommandError, CommandRunner

# qemu-img's time limit for a pull: at least 10 minutes, 2 minutes per GB beyond (the
# lab's iSCSI reads run at 400+ MiB/s: the limit is for a hung transfer, not a slow one).
PULL_MIN_SECONDS = 600
PULL_SECONDS_PER_GB = 120

log = structlog.get_logger(__name__)


def migrate_volume(
    source_driver: VolumeDriver,
    source: VolumeSpec,
    target_driver: VolumeDriver,
    target: VolumeSpec,
) -> dict[str, Any]:
    """Copy `source` to `target` and verify it; idempotent (a retry starts over)."""
    source_path = source_driver.local_path(source)
    if not source_path.exists():
        raise DriverError(f"the source of volume {source.id} is missing on {source.host}")
    # A retried job may find a partial copy: start again from a fresh (zeroed) volume,
    # so the chunks the copy skips as zeros are zeros on the target too.
    _refuse_same_storage(source_driver, source, target_driver, target)
    target_driver.delete_volume(target)
    created = target_driver.create_volume(target)
    target_path = target_driver.local_path(target)
    copied = copy_into(source_path, target_path)
    if checksum(target_path, copied.size_bytes) != copied.sha256:
        target_driver.delete_volume(target)
        raise DriverError(f"the copy of volume {source.id} on {target.host} does not verify")
    log.info(
        "volume copied",
        volume_id=source.id,
        source=source.host,
        target=target.host,
        bytes=copied.size_bytes,
        sha256=copied.sha256,
    )
    return {**created, "sha256": copied.sha256, "bytes": copied.size_bytes}


@dataclass(frozen=True)
class RemoteSource:
    """Another agent's read-only export of a volume (`export_for_copy`) and what its
    bytes must hash to."""

    portal: str  # 'ip:port' or '[ipv6]:port'
    iqn: str
    lun: int
    chap_user: str
    chap_secret: str = field(repr=False)
    sha256: str
    size_bytes: int

    def url(self) -> str:
        """libiscsi's URL, the CHAP account in it (never logged: the runner redacts)."""
        user, secret = quote(self.chap_user, safe=""), quote(self.chap_secret, safe="")
        return f"iscsi://{user}%{secret}@{self.portal}/{self.iqn}/{self.lun}"

    def secrets(self) -> tuple[str, ...]:
        return (self.chap_secret, quote(self.chap_secret, safe=""))


def pull_volume(
    target_driver: VolumeDriver,
    target: VolumeSpec,
    source: RemoteSource,
    runner: CommandRunner | None = None,
) -> dict[str, Any]:
    """Create `target` and fill it with the bytes of another agent's export of the
    volume, then verify them against the sha256 that agent read; idempotent (a retry
    starts over from a fresh volume). Any failure removes what was made here."""
    if shutil.which("qemu-img") is None:
        raise DriverError("qemu-img is not installed (apt-get install qemu-utils qemu-block-extra)")
    target_driver.delete_volume(target)
    created = target_driver.create_volume(target)
    target_path = target_driver.local_path(target)
    timeout = max(PULL_MIN_SECONDS, PULL_SECONDS_PER_GB * target.size_gb)
    argv = ("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source.url(), str(target_path))
    try:
        (runner or CommandRunner()).run(*argv, timeout=timeout, redact=source.secrets())
    except CommandError as exc:
        target_driver.delete_volume(target)
        raise DriverError(
            f"cannot read volume {target.id} from {source.portal} ({source.iqn}): {exc.message}"
        ) from None
    if checksum(target_path, source.size_bytes) != source.sha256:
        target_driver.delete_volume(target)
        raise DriverError(
            f"the copy of volume {target.id} read from {source.portal} does not verify"
        )
    log.info(
        "volume pulled",
        volume_id=target.id,
        source=source.portal,
        target=target.host,
        bytes=source.size_bytes,
        sha256=source.sha256,
    )
    return {**created, "sha256": source.sha256, "bytes": source.size_bytes}


def delete_copy(
    driver: VolumeDriver,
    copy: VolumeSpec,
    keep_driver: VolumeDriver | None,
    keep: VolumeSpec,
) -> None:
    """Remove a copy the volume no longer uses, never the storage of the one it does."""
    if keep_driver is not None:
        _refuse_same_storage(driver, copy, keep_driver, keep)
    driver.delete_volume(copy)


def _refuse_same_storage(
    a_driver: VolumeDriver, a: VolumeSpec, b_driver: VolumeDriver, b: VolumeSpec
) -> None:
    a_path, b_path = a_driver.local_path(a), b_driver.local_path(b)
    if a_path == b_path or (
        a_path.exists() and b_path.exists() and os.path.samefile(a_path, b_path)
    ):
        raise DriverError(
            f"{a.host} and {b.host} keep volume {a.id} in the same place ({a_path}): "
            "two backends must not share a folder"
        )


def driver_of(peers: Mapping[str, VolumeDriver], host: str | None) -> VolumeDriver | None:
    """The agent's driver for the backend of a 'node@backend#pool' host."""
    backend = (host or "").partition("#")[0]
    return peers.get(backend)
