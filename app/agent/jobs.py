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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog

from app import jobkinds
from app.agent import metrics
from app.agent.backends import Backend
from app.agent.backup import BackupService
from app.agent.client import AgentClient, ApiError, Job, LeaseLost
from app.agent.kinds import Work, by_key, dump_result, load, prepare
from app.drivers import (
    DriverError,
    ExportSpec,
    SnapshotSpec,
    VolumeDriver,
    VolumeSpec,
    migration,
)
from app.drivers.copy import fingerprint

log = structlog.get_logger(__name__)

# Error messages become user messages: keep them to a readable line.
MAX_ERROR_CHARS = 255

# The agent's volume drivers by backend host: what a job that spans two backends of this
# agent (a migration) reaches for.
Peers = Mapping[str, VolumeDriver]
P = TypeVar("P", bound=jobkinds.Wire)
# A handler gets the job's payload validated into its kind's model and returns what the
# driver reported; the runner posts that validated into the kind's result model.
Handler = Callable[[VolumeDriver, P, Peers], Mapping[str, Any]]


@dataclass(frozen=True)
class VolumeJobKind(Generic[P]):
    """A kind of the catalog (app/jobkinds.py) that runs on a volume backend, with the
    handler this agent runs it with."""

    kind: jobkinds.JobKind[P, Any]
    handler: Handler[P]

    @property
    def changes_capacity(self) -> bool:
        return self.kind.changes_capacity

    def bind(self, driver: VolumeDriver, payload: Mapping[str, Any], peers: Peers) -> Work:
        """The driver call, ready for a worker thread; DriverError at once when the
        payload does not fit the kind's model (the job fails with that reason)."""
        typed = load(self.kind, payload)
        # Only a kind declared to need them sees the agent's other backends.
        reach = peers if self.kind.needs_peers else {}
        return functools.partial(self._call, driver, typed, reach)

    def _call(self, driver: VolumeDriver, payload: P, peers: Peers) -> dict[str, Any]:
        return dump_result(self.kind, self.handler(driver, payload, peers))

    def run(
        self, driver: VolumeDriver, payload: Mapping[str, Any], peers: Peers | None = None
    ) -> dict[str, Any]:
        """Run the handler here and now (the runner binds it for a worker thread)."""
        return self.bind(driver, payload, peers or {})()


def _volume(ref: jobkinds.VolumeRef, *, sized: bool = True) -> VolumeSpec:
    return VolumeSpec.from_dict(ref.model_dump(), sized=sized)


def _snapshot(ref: jobkinds.SnapshotRef, *, sized: bool = True) -> SnapshotSpec:
    return SnapshotSpec.from_dict(ref.model_dump(), sized=sized)


def _create_volume(
    driver: VolumeDriver, payload: jobkinds.CreateVolumePayload, _peers: Peers
) -> Mapping[str, Any]:
    return driver.create_volume(_volume(payload.volume))


def _delete_volume(
    driver: VolumeDriver, payload: jobkinds.VolumeJob, _peers: Peers
) -> Mapping[str, Any]:
    # A volume whose manage failed has no known size (0): it is deleted all the same.
    driver.delete_volume(_volume(payload.volume, sized=False))
    return {}


def _extend_volume(
    driver: VolumeDriver, payload: jobkinds.ExtendVolumePayload, _peers: Peers
) -> Mapping[str, Any]:
    volume = _volume(payload.volume)
    driver.extend_volume(volume, payload.new_size_gb)
    if payload.attached:
        driver.extend_export(volume)
    return {}


def _managed_size(result: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    size = result.get("size_gb")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DriverError(f"the driver reported an invalid size for the managed {what}: {size!r}")
    return result


def _manage_volume(
    driver: VolumeDriver, payload: jobkinds.ManageVolumePayload, _peers: Peers
) -> Mapping[str, Any]:
    volume = _volume(payload.volume, sized=False)
    if payload.adopt:
        result = driver.manage_existing(volume, payload.ref, adopt=True)
    else:
        result = driver.manage_existing(volume, payload.ref)
    return _managed_size(result, "volume")


def _clone_volume(
    driver: VolumeDriver, payload: jobkinds.CloneVolumePayload, _peers: Peers
) -> Mapping[str, Any]:
    # The source is a volume of the same pool (a group copied from its source group).
    return driver.create_cloned_volume(_volume(payload.volume), _volume(payload.source))


def _migrate_volume(
    driver: VolumeDriver, payload: jobkinds.MigrateVolumePayload, peers: Peers
) -> Mapping[str, Any]:
    source = _volume(payload.volume)
    target = _volume(payload.target)
    if payload.source_export is not None:  # another agent's: read over its export
        return migration.pull_volume(driver, target, _remote_source(payload))
    source_driver = migration.driver_of(peers, source.host)
    if source_driver is None:
        raise DriverError(f"this agent does not serve {source.host}, the volume's source")
    return migration.migrate_volume(source_driver, source, driver, target)


def _delete_volume_copy(
    driver: VolumeDriver, payload: jobkinds.RemoveVolumeCopyPayload, peers: Peers
) -> Mapping[str, Any]:
    copy = _volume(payload.volume, sized=False)
    if payload.unexport:  # exported for a copy to another agent: that export goes first
        driver.unexport_for_copy(copy)
    if payload.keep is None:  # the volume lives nowhere: nothing to protect
        driver.delete_volume(copy)
        return {}
    keep = _volume(payload.keep, sized=False)
    migration.delete_copy(driver, copy, migration.driver_of(peers, keep.host), keep)
    return {}


def _create_snapshot(
    driver: VolumeDriver, payload: jobkinds.CreateSnapshotPayload, _peers: Peers
) -> Mapping[str, Any]:
    return driver.create_snapshot(_snapshot(payload.snapshot), _volume(payload.volume))


def _delete_snapshot(
    driver: VolumeDriver, payload: jobkinds.SnapshotJob, _peers: Peers
) -> Mapping[str, Any]:
    # A snapshot whose manage failed has no known size (0): it is deleted all the same.
    driver.delete_snapshot(_snapshot(payload.snapshot, sized=False))
    return {}


def _manage_snapshot(
    driver: VolumeDriver, payload: jobkinds.ManageSnapshotPayload, _peers: Peers
) -> Mapping[str, Any]:
    snapshot, volume = _snapshot(payload.snapshot, sized=False), _volume(payload.volume)
    if payload.adopt:
        result = driver.manage_existing_snapshot(snapshot, volume, payload.ref, adopt=True)
    else:
        result = driver.manage_existing_snapshot(snapshot, volume, payload.ref)
    return _managed_size(result, "snapshot")


def _export_volume(
    driver: VolumeDriver, payload: jobkinds.ExportVolumePayload, _peers: Peers
) -> Mapping[str, Any]:
    export = ExportSpec(
        chap_user=payload.chap_user,
        chap_secret=payload.chap_secret,
        initiators=tuple(payload.initiators),
        read_only=payload.read_only,
    )
    return driver.export_volume(_volume(payload.volume), export)


def _unexport_volume(
    driver: VolumeDriver, payload: jobkinds.VolumeJob, _peers: Peers
) -> Mapping[str, Any]:
    driver.unexport_volume(_volume(payload.volume))
    return {}


# --- copies between agents -------------------------------------------------------------


def _export_for_copy(
    driver: VolumeDriver, payload: jobkinds.CopyExportPayload, _peers: Peers
) -> Mapping[str, Any]:
    """The source's side of a copy to another agent: its read-only export to that agent,
    and the sha256 of its bytes, read here, for the copy to be checked against."""
    volume = _volume(payload.volume)
    path = driver.local_path(volume)
    if not path.exists():
        raise DriverError(f"the source of volume {volume.id} is missing on {volume.host}")
    export = ExportSpec(
        chap_user=payload.chap_user,
        chap_secret=payload.chap_secret,
        initiators=tuple(payload.initiators),
        read_only=True,
    )
    exported = driver.export_for_copy(volume, export)
    source = fingerprint(path)
    return {**exported, "sha256": source.sha256, "bytes": source.size_bytes}


def _unexport_for_copy(
    driver: VolumeDriver, payload: jobkinds.VolumeJob, _peers: Peers
) -> Mapping[str, Any]:
    driver.unexport_for_copy(_volume(payload.volume, sized=False))
    return {}


def _remote_source(payload: jobkinds.MigrateVolumePayload) -> migration.RemoteSource:
    export = payload.source_export
    if export is None or not payload.source_chap_secret:
        raise DriverError("the source's export for the copy names no CHAP secret")
    return migration.RemoteSource(
        portal=export.target_portal,
        iqn=export.target_iqn,
        lun=export.target_lun,
        chap_user=export.chap_user,
        chap_secret=payload.source_chap_secret,
        sha256=export.sha256,
        size_bytes=export.bytes,
    )


def _create_volume_from_snapshot(
    driver: VolumeDriver, payload: jobkinds.CreateFromSnapshotPayload, _peers: Peers
) -> Mapping[str, Any]:
    # The volume is placed on the pool of the snapshot's volume: this backend.
    return driver.create_volume_from_snapshot(_volume(payload.volume), _snapshot(payload.snapshot))


def _revert_volume_to_snapshot(
    driver: VolumeDriver, payload: jobkinds.RevertToSnapshotPayload, _peers: Peers
) -> Mapping[str, Any]:
    driver.revert_to_snapshot(_volume(payload.volume), _snapshot(payload.snapshot))
    return {}


def _unmanage_volume(
    driver: VolumeDriver, payload: jobkinds.VolumeJob, _peers: Peers
) -> Mapping[str, Any]:
    driver.unmanage(_volume(payload.volume, sized=False))
    return {}


def _unmanage_snapshot(
    driver: VolumeDriver, payload: jobkinds.SnapshotJob, _peers: Peers
) -> Mapping[str, Any]:
    driver.unmanage_snapshot(_snapshot(payload.snapshot, sized=False))
    return {}


def _list_manageable_volumes(
    driver: VolumeDriver, payload: jobkinds.ListManageablePayload, _peers: Peers
) -> Mapping[str, Any]:
    return {"items": driver.get_manageable_volumes(frozenset(payload.known_ids))}


def _list_manageable_snapshots(
    driver: VolumeDriver, payload: jobkinds.ListManageablePayload, _peers: Peers
) -> Mapping[str, Any]:
    return {"items": driver.get_manageable_snapshots(frozenset(payload.known_ids))}


# Every catalog kind that runs on a volume backend, with its handler (a test checks that
# none is missing).
JOB_KINDS: dict[tuple[str, int], VolumeJobKind[Any]] = by_key(
    VolumeJobKind(jobkinds.CREATE_VOLUME, _create_volume),
    VolumeJobKind(jobkinds.DELETE_VOLUME, _delete_volume),
    VolumeJobKind(jobkinds.EXTEND_VOLUME, _extend_volume),
    VolumeJobKind(jobkinds.MANAGE_VOLUME, _manage_volume),
    VolumeJobKind(jobkinds.CREATE_SNAPSHOT, _create_snapshot),
    VolumeJobKind(jobkinds.DELETE_SNAPSHOT, _delete_snapshot),
    VolumeJobKind(jobkinds.MANAGE_SNAPSHOT, _manage_snapshot),
    VolumeJobKind(jobkinds.CLONE_VOLUME, _clone_volume),
    VolumeJobKind(jobkinds.MIGRATE_VOLUME, _migrate_volume),
    VolumeJobKind(jobkinds.REMOVE_VOLUME_COPY, _delete_volume_copy),
    VolumeJobKind(jobkinds.EXPORT_VOLUME, _export_volume),
    VolumeJobKind(jobkinds.UNEXPORT_VOLUME, _unexport_volume),
    VolumeJobKind(jobkinds.EXPORT_FOR_COPY, _export_for_copy),
    VolumeJobKind(jobkinds.UNEXPORT_FOR_COPY, _unexport_for_copy),
    VolumeJobKind(jobkinds.CREATE_VOLUME_FROM_SNAPSHOT, _create_volume_from_snapshot),
    VolumeJobKind(jobkinds.REVERT_VOLUME_TO_SNAPSHOT, _revert_volume_to_snapshot),
    VolumeJobKind(jobkinds.UNMANAGE_VOLUME, _unmanage_volume),
    VolumeJobKind(jobkinds.UNMANAGE_SNAPSHOT, _unmanage_snapshot),
    VolumeJobKind(jobkinds.LIST_MANAGEABLE_VOLUMES, _list_manageable_volumes),
    VolumeJobKind(jobkinds.LIST_MANAGEABLE_SNAPSHOTS, _list_manageable_snapshots),
)


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
        started = time.perf_counter()
        try:
            result, error = await self._execute(job)
        except LeaseLost:
            metrics.JOBS.labels(job.kind, "abandoned").inc()
            bound.warning("job abandoned: lease lost")
            return
        metrics.JOB_SECONDS.labels(job.kind).observe(time.perf_counter() - started)
        metrics.JOBS.labels(job.kind, "succeeded" if error is None else "failed").inc()
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
            return None, _short(call)
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

    def _prepare(self, job: Job) -> Work | str:
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
        peers = self._peers()
        return prepare(JOB_KINDS, job, lambda kind: kind.bind(backend.driver, job.payload, peers))

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
