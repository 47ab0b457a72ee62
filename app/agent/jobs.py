"""Running claimed jobs: the driver call in a worker thread, the lease kept alive by
heartbeats meanwhile, and the outcome posted back.

A job whose lease is lost (409) is abandoned without a result: the API has already given
it to someone else, and since every driver operation is idempotent the retry is safe
even if our thread still finishes the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import structlog

from app.agent.backends import Backend
from app.agent.backup import BackupService
from app.agent.client import AgentClient, ApiError, Job, LeaseLost
from app.drivers import DriverError, SnapshotSpec, VolumeDriver, VolumeSpec, migration

log = structlog.get_logger(__name__)

# Error messages become user messages: keep them to a readable line.
MAX_ERROR_CHARS = 255

Handler = Callable[[VolumeDriver, dict[str, Any]], dict[str, Any]]
# The agent's volume drivers by backend host: what a job that spans two backends of this
# agent (a migration) reaches for.
Peers = Mapping[str, VolumeDriver]
PeerHandler = Callable[[VolumeDriver, dict[str, Any], Peers], dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    name: str
    payload_version: int
    handler: Handler | PeerHandler
    # Whether a fresh capability report should follow, so the scheduler sees the change.
    changes_capacity: bool
    # The handler also takes the agent's other backends (a PeerHandler).
    needs_peers: bool = False

    def bind(
        self, driver: VolumeDriver, payload: dict[str, Any], peers: Peers
    ) -> Callable[[], dict[str, Any]]:
        if self.needs_peers:
            return functools.partial(cast(PeerHandler, self.handler), driver, payload, peers)
        return functools.partial(cast(Handler, self.handler), driver, payload)

    def run(
        self, driver: VolumeDriver, payload: dict[str, Any], peers: Peers | None = None
    ) -> dict[str, Any]:
        """Run the handler here and now (the runner binds it for a worker thread)."""
        return self.bind(driver, payload, peers or {})()


def _volume(payload: dict[str, Any], *, sized: bool = True) -> VolumeSpec:
    volume = payload.get("volume")
    if not isinstance(volume, dict):
        raise DriverError("invalid job payload: no volume")
    return VolumeSpec.from_dict(volume, sized=sized)


def _create_volume(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    return driver.create_volume(_volume(payload))


def _delete_volume(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    # A volume whose manage failed has no known size (0): it is deleted all the same.
    driver.delete_volume(_volume(payload, sized=False))
    return {}


def _extend_volume(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    new_size = payload.get("new_size_gb")
    if isinstance(new_size, bool) or not isinstance(new_size, int):
        raise DriverError("invalid job payload: new_size_gb must be an integer")
    driver.extend_volume(_volume(payload), new_size)
    return {}


def _manage_volume(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    ref = payload.get("ref")
    if not isinstance(ref, dict):
        raise DriverError("invalid job payload: ref must be an object")
    result = driver.manage_existing(_volume(payload, sized=False), ref)
    size = result.get("size_gb")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DriverError(f"the driver reported an invalid size for the managed volume: {size!r}")
    return result


def _clone_volume(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    # The source is a volume of the same pool (a group copied from its source group).
    source = _volume({"volume": payload.get("source")})
    return driver.create_cloned_volume(_volume(payload), source)


def _migrate_volume(driver: VolumeDriver, payload: dict[str, Any], peers: Peers) -> dict[str, Any]:
    source = _volume(payload)
    target = _volume({"volume": payload.get("target")})
    source_driver = migration.driver_of(peers, source.host)
    if source_driver is None:
        raise DriverError(f"this agent does not serve {source.host}, the volume's source")
    return migration.migrate_volume(source_driver, source, driver, target)


def _delete_volume_copy(
    driver: VolumeDriver, payload: dict[str, Any], peers: Peers
) -> dict[str, Any]:
    copy = _volume(payload, sized=False)
    if payload.get("keep") is None:  # the volume lives nowhere: nothing to protect
        driver.delete_volume(copy)
        return {}
    keep = _volume({"volume": payload.get("keep")}, sized=False)
    migration.delete_copy(driver, copy, migration.driver_of(peers, keep.host), keep)
    return {}


def _snapshot(payload: dict[str, Any], *, sized: bool = True) -> SnapshotSpec:
    snapshot = payload.get("snapshot")
    if not isinstance(snapshot, dict):
        raise DriverError("invalid job payload: no snapshot")
    return SnapshotSpec.from_dict(snapshot, sized=sized)


def _create_snapshot(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    return driver.create_snapshot(_snapshot(payload), _volume(payload))


def _delete_snapshot(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    # A snapshot whose manage failed has no known size (0): it is deleted all the same.
    driver.delete_snapshot(_snapshot(payload, sized=False))
    return {}


def _manage_snapshot(driver: VolumeDriver, payload: dict[str, Any]) -> dict[str, Any]:
    ref = payload.get("ref")
    if not isinstance(ref, dict):
        raise DriverError("invalid job payload: ref must be an object")
    result = driver.manage_existing_snapshot(_snapshot(payload, sized=False), _volume(payload), ref)
    size = result.get("size_gb")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DriverError(f"the driver reported an invalid size for the managed snapshot: {size!r}")
    return result


JOB_KINDS: dict[tuple[str, int], JobKind] = {
    (kind.name, kind.payload_version): kind
    for kind in (
        JobKind("create_volume", 1, _create_volume, changes_capacity=True),
        JobKind("delete_volume", 1, _delete_volume, changes_capacity=True),
        JobKind("extend_volume", 1, _extend_volume, changes_capacity=True),
        JobKind("manage_volume", 1, _manage_volume, changes_capacity=True),
        JobKind("create_snapshot", 1, _create_snapshot, changes_capacity=True),
        JobKind("delete_snapshot", 1, _delete_snapshot, changes_capacity=True),
        JobKind("manage_snapshot", 1, _manage_snapshot, changes_capacity=True),
        JobKind("clone_volume", 1, _clone_volume, changes_capacity=True),
        JobKind("migrate_volume", 1, _migrate_volume, changes_capacity=True, needs_peers=True),
        JobKind(
            "delete_volume_copy", 1, _delete_volume_copy, changes_capacity=True, needs_peers=True
        ),
    )
}


def job_versions() -> dict[str, list[int]]:
    """The payload versions this agent understands per job kind (sent with reports)."""
    versions: dict[str, list[int]] = {}
    for name, version in sorted(JOB_KINDS):
        versions.setdefault(name, []).append(version)
    return versions


class ResourceLocks:
    """One driver operation at a time per resource. An abandoned job's thread runs on
    until its driver call returns; a later job on the same volume (a force delete, a
    retry of the same job) waits for it here instead of racing it on the storage."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, int]] = {}

    def run(self, key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._guard:
            lock, users = self._held.get(key, (threading.Lock(), 0))
            self._held[key] = (lock, users + 1)
        try:
            with lock:
                return work()
        finally:
            with self._guard:
                lock, users = self._held[key]
                if users == 1:
                    del self._held[key]
                else:
                    self._held[key] = (lock, users - 1)


class JobRunner:
    def __init__(
        self,
        client: AgentClient,
        backends: Mapping[str, Backend],
        *,
        on_capacity_change: Callable[[str], None],
        backup: BackupService | None = None,
    ) -> None:
        self._client = client
        self._backends = backends
        self._on_capacity_change = on_capacity_change
        self._locks = ResourceLocks()
        self._backup = backup
        # Progress (percent) jobs report from their worker thread, sent with heartbeats.
        self._progress: dict[int, int] = {}

    async def run(self, job: Job) -> None:
        """Execute a job and post its result; never raises except on cancellation."""
        # The request that queued the job names every line logged while it runs.
        with structlog.contextvars.bound_contextvars(request_id=job.request_id):
            await self._run(job)

    async def _run(self, job: Job) -> None:
        bound = log.bind(
            job_id=job.id,
            kind=job.kind,
            backend=job.backend,
            resource_id=job.resource_id,
            attempt=job.attempts,
        )
        bound.info("job started")
        try:
            result, error = await self._execute(job)
        except LeaseLost:
            bound.warning("job abandoned: lease lost")
            return
        kind = JOB_KINDS.get((job.kind, job.payload_version))
        if kind is not None and kind.changes_capacity and job.backend in self._backends:
            self._on_capacity_change(job.backend)
        try:
            state = await self._client.post_result(
                job.id, result=result, error=error, attempt=job.attempts
            )
        except LeaseLost:
            bound.warning("job result refused: lease lost")
            return
        except ApiError as exc:
            bound.error("job result refused", error=str(exc))
            return
        except Exception:
            # A bug here must not kill the task silently; the lease expiry retries the job.
            bound.exception("cannot post the job result")
            return
        if error is None:
            bound.info("job succeeded", state=state)
        else:
            bound.warning("job failed", state=state, error=error)

    async def _execute(self, job: Job) -> tuple[dict[str, Any] | None, str | None]:
        """(result, None) or (None, reason); raises LeaseLost to abandon the job."""
        call = self._prepare(job)
        if isinstance(call, str):
            return None, call
        key = f"{job.backend}/{job.resource_type}/{job.resource_id}"
        work = asyncio.ensure_future(asyncio.to_thread(self._locks.run, key, call))
        lease = asyncio.create_task(self._keep_lease(job))
        try:
            await asyncio.wait({work, lease}, return_when=asyncio.FIRST_COMPLETED)
            if lease.done():
                lease.result()  # raises LeaseLost; the thread finishes unobserved
            return await work, None
        except DriverError as exc:
            return None, _short(exc.message)
        except LeaseLost:
            raise
        except Exception as exc:
            log.exception("job crashed", job_id=job.id, kind=job.kind)
            return None, _short(f"unexpected error in {job.kind}: {type(exc).__name__}: {exc}")
        finally:
            lease.cancel()
            if not work.done():
                work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await lease
            self._progress.pop(job.id, None)

    def _prepare(self, job: Job) -> Callable[[], dict[str, Any]] | str:
        """The driver call a job asks for, or why it cannot run here. Jobs queued on the
        backup service's host run with the backup driver, the rest on a volume backend."""
        if self._backup is not None and job.backend == self._backup.host:
            return self._backup.prepare(
                job, self._backends, functools.partial(self._progress.__setitem__, job.id)
            )
        backend = self._backends.get(job.backend)
        if backend is None:
            return f"backend {job.backend} is not served by agent {self._client.agent_id}"
        if not backend.ready:
            return f"backend {job.backend} is not ready: {backend.setup_error}"
        kind = JOB_KINDS.get((job.kind, job.payload_version))
        if kind is None:
            return f"unsupported job {job.kind} version {job.payload_version}"
        return kind.bind(backend.driver, job.payload, self._peers())

    def _peers(self) -> Peers:
        return {host: b.driver for host, b in self._backends.items() if b.ready}

    async def _keep_lease(self, job: Job) -> None:
        """Heartbeat every lease_seconds/3 until cancelled; raises LeaseLost."""
        interval = max(job.lease_seconds / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._client.heartbeat(
                    job.id, self._progress.get(job.id), attempt=job.attempts
                )
            except LeaseLost:
                raise
            except ApiError as exc:
                # Not an outage and not a lost lease: keep working, the result decides.
                log.warning("heartbeat refused", job_id=job.id, error=str(exc))


def _short(message: str) -> str:
    message = " ".join(message.split())
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 3] + "..."
    return message
