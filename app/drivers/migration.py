"""Moving a volume's data between two backends of one agent (migrate, retype by
migration): a fresh volume on the target, the source's bytes written into it, the copy
read back and compared by checksum before anyone is told it worked. The source is never
changed here; removing it is a separate job once the API has switched over."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import structlog

from app.drivers.base import DriverError, VolumeDriver, VolumeSpec
from app.drivers.copy import checksum, copy_into

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
