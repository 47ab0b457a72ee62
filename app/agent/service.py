"""The agent process: set up the backends, report them, claim and run their jobs.

One claim loop serves every backend: it long-polls the API for a job whenever a slot
(of max_concurrent_jobs) is free, and each job runs as its own task. SIGINT/SIGTERM stop
claiming, give running jobs shutdown_grace seconds to finish and post their results,
then abandon the rest (their leases expire and the API retries them elsewhere or later).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import structlog
import typer

from app.agent import exports, metrics
from app.agent.backends import Backend, build_backends
from app.agent.backup import BackupService, build_backup_service
from app.agent.client import AgentClient, ApiError, Job
from app.agent.config import AgentConfig, AgentConfigError, load_config
from app.agent.jobs import JobRunner, job_versions
from app.agent.reporter import Reporter
from app.drivers import DriverConfigError
from app.logs import configure_logging

log = structlog.get_logger(__name__)


class Agent:
    def __init__(self, config: AgentConfig, *, client: AgentClient | None = None) -> None:
        self.config = config
        self.backends: dict[str, Backend] = build_backends(config)
        self.client = client or AgentClient.from_config(config)
        self.backup: BackupService | None = build_backup_service(config)
        self.reporter = Reporter(
            self.client,
            self.backends,
            interval=config.agent.report_interval,
            job_versions=job_versions(),
            backup=self.backup,
        )
        self.jobs = JobRunner(
            self.client,
            self.backends,
            on_capacity_change=self.reporter.request_report,
            backup=self.backup,
        )
        self._stopping = asyncio.Event()
        self._abandon = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """Ask the agent to shut down (safe from a signal handler). Asked again while
        jobs are finishing, it abandons them at once instead of waiting out the grace."""
        if self._stopping.is_set():
            self._abandon.set()
        self._stopping.set()

    async def run(self) -> None:
        """Serve until stop(); always closes the client."""
        log.info("agent starting", agent_id=self.config.agent_id, backends=sorted(self.backends))
        background: list[asyncio.Task[None]] = []
        try:
            await asyncio.gather(
                *(b.setup() for b in self.backends.values()),
                *([self.backup.setup()] if self.backup is not None else []),
            )
            background.append(asyncio.create_task(self.reporter.run(), name="reporter"))
            background.append(asyncio.create_task(self._claim_loop(), name="claims"))
            stopping = asyncio.create_task(self._stopping.wait())
            # A crashed loop is a bug; stop rather than run as a zombie that claims nothing.
            done, _ = await asyncio.wait(
                [stopping, *background], return_when=asyncio.FIRST_COMPLETED
            )
            stopping.cancel()
            for task in done:
                error = None if task is stopping or task.cancelled() else task.exception()
                if error is not None:
                    log.error("agent loop crashed", loop=task.get_name(), error=repr(error))
                    # Exit non-zero so a supervisor (systemd) restarts the agent.
                    raise error
        finally:
            await self._shutdown(background)

    async def _claim_loop(self) -> None:
        # Before any job: the exports its backends held before a restart come back (as
        # jobs of the queue) and those nobody wants go.
        await self.reporter.reported.wait()
        await exports.restore(self.client, self.backends)
        slots = asyncio.Semaphore(self.config.agent.max_concurrent_jobs)
        while True:
            await slots.acquire()
            try:
                job = await self._claim_one()
            except BaseException:
                slots.release()
                raise
            if job is None:
                slots.release()
                continue
            task = asyncio.create_task(self.jobs.run(job), name=f"job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _claim_one(self) -> Job | None:
        hosts = sorted(host for host, b in self.backends.items() if b.ready)
        if self.backup is not None and self.backup.ready:
            hosts.append(self.backup.host)
        if not hosts:
            # Nothing to serve until a backend's setup succeeds (the reporter retries it).
            await asyncio.sleep(self.config.agent.report_interval)
            return None
        try:
            return await self.client.claim_job(hosts, self.config.agent.claim_wait)
        except ApiError as exc:
            # e.g. 403 when the agent's user lacks the service role: say so, then retry.
            log.error("job claim refused", error=str(exc))
        except Exception:
            log.exception("job claim failed")
        await asyncio.sleep(self.config.agent.retry_max_interval)
        return None

    async def _shutdown(self, background: list[asyncio.Task[None]]) -> None:
        # A claim cut short may have leased a job we never saw: its lease expires and the
        # API's reaper retries it, as for any agent that dies.
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self._running:
            log.info("waiting for running jobs", jobs=len(self._running))
            finished = asyncio.ensure_future(asyncio.wait(set(self._running)))
            abandon = asyncio.create_task(self._abandon.wait())
            await asyncio.wait(
                {finished, abandon},
                timeout=self.config.agent.shutdown_grace,
                return_when=asyncio.FIRST_COMPLETED,
            )
            finished.cancel()
            abandon.cancel()
        abandoned = set(self._running)
        for task in abandoned:
            task.cancel()
        if abandoned:
            # No result is posted: the leases expire and the API retries the jobs. Driver
            # calls already in a thread still finish (the process exits after them), which
            # is safe because every operation is idempotent.
            log.warning("jobs abandoned at shutdown", jobs=sorted(t.get_name() for t in abandoned))
            await asyncio.gather(*abandoned, return_exceptions=True)
        await self.client.aclose()
        log.info("agent stopped", agent_id=self.config.agent_id)


def run_agent(config_path: Path) -> None:
    """`pumice agent --config FILE`: run the agent until SIGINT or SIGTERM."""
    try:
        config = load_config(config_path)
    except AgentConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    configure_logging(config.agent.log_level)
    try:
        with _state_lock(config.agent.state_dir):
            asyncio.run(_serve(config))
    except (AgentConfigError, DriverConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None


async def _serve(config: AgentConfig) -> None:
    agent = Agent(config)
    if config.agent.metrics_address:
        metrics.serve(config.agent.metrics_address)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, agent.stop)
    try:
        await agent.run()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


@contextlib.contextmanager
def _state_lock(state_dir: Path | None) -> Iterator[None]:
    """Hold `state_dir/agent.lock` so two agents never serve one host's backends."""
    if state_dir is None:
        yield
        return
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / "agent.lock", "a+")  # held (and locked) for the run
    except OSError as exc:
        raise AgentConfigError(f"state_dir {state_dir}: {exc.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AgentConfigError(f"another agent is running with state_dir {state_dir}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
