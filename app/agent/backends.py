"""The backends an agent serves: each a configured driver under its Cinder host name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from app.agent.config import AgentConfig, BackendConfig
from app.drivers import DriverError, VolumeDriver, driver_class

log = structlog.get_logger(__name__)


@dataclass
class SetUpOnce:
    """A part of the agent whose storage may be missing at start (a backend's driver,
    the backup repository): it is neither reported nor claimed for until its setup
    succeeds, and setup is retried each report interval so fixing the storage recovers
    without a restart."""

    ready: bool = field(default=False, kw_only=True)
    setup_error: str | None = field(default=None, kw_only=True)
    _setup_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def _set_up(self, do_setup: Callable[[], None], failure: str, **where: str) -> bool:
        """Run `do_setup` in a thread unless done; True when ready. A new failure reason
        is logged as `failure` (a repeated one is not, so a retry loop stays quiet)."""
        async with self._setup_lock:
            if self.ready:
                return True
            try:
                await asyncio.to_thread(do_setup)
            except Exception as exc:
                reason = exc.message if isinstance(exc, DriverError) else repr(exc)
                if reason != self.setup_error:
                    log.error(failure, error=reason, **where)
                self.setup_error = reason
                return False
            self.ready = True
            self.setup_error = None
            return True


@dataclass
class Backend(SetUpOnce):
    name: str
    # `host@backend`: how the API and the scheduler name this backend.
    host: str
    availability_zone: str
    driver: VolumeDriver

    async def setup(self) -> bool:
        """Run the driver's do_setup once; True when the backend is ready."""
        return await self._set_up(self.driver.do_setup, "backend setup failed", backend=self.host)


def build_backends(config: AgentConfig) -> dict[str, Backend]:
    """The configured backends by host name (drivers built, not yet set up)."""
    return {config.backend_host(b): _build(config, b) for b in config.backends}


def _build(config: AgentConfig, backend: BackendConfig) -> Backend:
    driver = driver_class(backend.driver)(backend.name, backend.options)
    return Backend(
        name=backend.name,
        host=config.backend_host(backend),
        availability_zone=backend.availability_zone or config.agent.availability_zone,
        driver=driver,
    )
