"""The agent's side of Cinder's `ensure_export` after a restart: a tgtd that restarted
with the agent holds no target, and one that did not may hold targets of attachments
removed while the agent was away. The API queues the re-exports (ordinary export jobs)
and answers which volumes each backend keeps exported; the agent removes the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog

from app.agent.backends import Backend
from app.agent.client import AgentClient, ApiError
from app.drivers import DriverError, VolumeDriver, VolumeSpec

log = structlog.get_logger(__name__)


async def restore(client: AgentClient, backends: Mapping[str, Backend]) -> None:
    """Ask the API to export again what the ready backends' attachments hold, then
    unexport what they hold beyond that. Failures are logged: the jobs still run."""
    ready = sorted(host for host, backend in backends.items() if backend.ready)
    if not ready:
        return
    try:
        wanted = await client.restore_exports(ready)
    except ApiError as exc:
        log.error("export restore refused", error=str(exc))
        return
    for host, volume_ids in sorted(wanted.items()):
        backend = backends.get(host)
        if backend is not None:
            await asyncio.to_thread(remove_stale, host, backend.driver, set(volume_ids))


def remove_stale(host: str, driver: VolumeDriver, wanted: set[str]) -> list[str]:
    """Unexport this backend's targets of volumes not in `wanted`; their ids."""
    try:
        stale = sorted(set(driver.exported_volumes()) - wanted)
    except DriverError as exc:
        # Typically no tgtd: it then holds no target either, so nothing is stale; attaches
        # to this backend will fail (and say why) until it runs.
        log.warning(
            "exports not checked: the target cannot be listed", backend=host, error=exc.message
        )
        return []
    removed = []
    for volume_id in stale:
        try:
            driver.unexport_volume(VolumeSpec(id=volume_id, size_gb=0, host=host))
        except DriverError as exc:
            log.error(
                "cannot remove a stale export", backend=host, volume_id=volume_id, error=exc.message
            )
            continue
        log.info("stale export removed", backend=host, volume_id=volume_id)
        removed.append(volume_id)
    return removed
