"""Capability reports: every backend at start, every report_interval, and soon after a
job that changed capacity, so the scheduler's view is never a full interval stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from app import jobkinds
from app.agent import metrics
from app.agent.backends import Backend
from app.agent.backup import BackupService
from app.agent.client import AgentClient, ApiError
from app.drivers import DriverError

log = structlog.get_logger(__name__)


class Reporter:
    def __init__(
        self,
        client: AgentClient,
        backends: Mapping[str, Backend],
        *,
        interval: float,
        job_versions: Mapping[str, list[int]],
        backup: BackupService | None = None,
    ) -> None:
        self._client = client
        self._backends = backends
        self._backup = backup
        self._interval = interval
        self._job_versions = {kind: list(v) for kind, v in job_versions.items()}
        self._requested: set[str] = set()
        self._wakeup = asyncio.Event()
        # Report sequence numbers: the API orders a backend's reports by them. Starting
        # from the clock at start keeps them increasing across restarts; an API holding
        # a greater one (the clock went back) says so, and the count jumps past it.
        self._seq = time.time_ns()
        # Set once every backend was reported at start: the API then knows them bound.
        self.reported = asyncio.Event()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _catch_up(self, held: int | None) -> bool:
        """After a refused report: jump past the API's number; True if that was why."""
        if held is None or held < self._seq:
            return False
        self._seq = held
        return True

    def request_report(self, backend_host: str) -> None:
        """Ask for a report of one backend soon (after a job changed its capacity)."""
        self._requested.add(backend_host)
        self._wakeup.set()

    async def run(self) -> None:
        """Report all backends now and every interval; requested ones in between."""
        await self.report_all()
        self.reported.set()
        next_full = time.monotonic() + self._interval
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), max(0.0, next_full - time.monotonic()))
            except TimeoutError:
                pass
            self._wakeup.clear()
            if time.monotonic() >= next_full:
                self._requested.clear()
                await self.report_all()
                next_full = time.monotonic() + self._interval
            else:
                hosts, self._requested = self._requested, set()
                for host in sorted(hosts):
                    await self.report(self._backends[host])

    async def report_all(self) -> None:
        for backend in self._backends.values():
            # A backend that failed setup is retried here, and reported once it works.
            if backend.ready or await backend.setup():
                await self.report(backend)
        if self._backup is not None and (self._backup.ready or await self._backup.setup()):
            await self.report_backup_service(self._backup)

    async def report_backup_service(self, backup: BackupService) -> None:
        """Register the backup service (its heartbeat); failures wait for the next interval."""
        for _ in range(2):  # once more right away when behind the API's sequence
            report = backup.report(self._backends, _utc_timestamp(), self.next_seq())
            try:
                answer = await self._client.report_backup_service(report)
            except ApiError as exc:
                log.error("backup service report refused", host=backup.host, error=str(exc))
                return
            if answer.accepted or not self._catch_up(answer.seq):
                return

    async def report(self, backend: Backend) -> None:
        """Post one backend's report; failures are logged, the next interval retries."""
        # Numbered and dated before the figures are read: a report the API applies is
        # never older than one it refused.
        timestamp = _utc_timestamp()
        seq = self.next_seq()
        try:
            capabilities = await asyncio.to_thread(backend.driver.get_volume_stats)
        except Exception as exc:
            reason = exc.message if isinstance(exc, DriverError) else repr(exc)
            log.error("cannot read backend stats", backend=backend.host, error=reason)
            return
        try:
            answer = await self._client.report_capabilities(
                self.build_report(backend, capabilities, timestamp, seq)
            )
        except ApiError as exc:
            metrics.REPORTS.labels("error").inc()
            log.error("capability report refused", backend=backend.host, error=str(exc))
            return
        metrics.REPORTS.labels("accepted" if answer.accepted else "refused").inc()
        log.debug("capabilities reported", backend=backend.host, accepted=answer.accepted)
        if not answer.accepted and self._catch_up(answer.seq):
            self.request_report(backend.host)

    def build_report(
        self, backend: Backend, capabilities: dict[str, Any], timestamp: str, seq: int
    ) -> dict[str, Any]:
        return {
            "host": backend.host,
            "availability_zone": backend.availability_zone,
            "timestamp": timestamp,
            "seq": seq,
            "job_versions": self._job_versions,
            "capabilities": {
                # Where this agent's copies from other agents come from (their exports
                # for the copy admit this address only).
                jobkinds.INITIATOR_IP: backend.driver.options.target_ip_address,
                **capabilities,
            },
        }


def _utc_timestamp() -> str:
    """Naive UTC ISO 8601 with microseconds; the API refuses a report dated too far
    ahead of its clock."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
