"""The database out of reach: every request answers 503 with `Retry-After` in Cinder's
fault shape instead of a 500 with a traceback, the log gets one line when the outage
starts and one when it ends, and the replica recovers by itself.

An outage is an error that says the database cannot be reached or did not answer in
time (refused or timed-out connections, a statement past `db_statement_timeout`, a
connection dropped under a query). A pool with no connection to lend within
`db_pool_timeout` is load, not an outage: 503 too, logged as such, no probe. Any other
database error stays what it was: a bug, logged, 500. While an outage lasts a probe
asks the database every second; its first answer ends the outage."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.faults import INTERNAL_ERROR, error_response

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 5
PROBE_INTERVAL_SECONDS = 1.0
UNAVAILABLE = "The database is unavailable; try again later."
BUSY = "The service is busy; try again later."
UNREACHABLE: tuple[type[Exception], ...] = (ConnectionError, TimeoutError, socket.gaierror)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, UNREACHABLE):
        return True
    if isinstance(exc, DBAPIError):
        return (
            exc.connection_invalidated
            or isinstance(exc, OperationalError | InterfaceError)
            or isinstance(exc.orig, UNREACHABLE)
        )
    return False


def _reason(exc: BaseException) -> str:
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first_line = (str(original).splitlines() or [""])[0][:300]
    return f"{type(original).__name__}: {first_line}" if first_line else type(original).__name__


@dataclass
class Outage:
    """One replica's view of the database's reachability."""

    started: float | None = None
    failed_requests: int = 0
    _probe: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def ongoing(self) -> bool:
        return self.started is not None

    def failed(self, engine: AsyncEngine, exc: BaseException) -> None:
        self.failed_requests += 1
        if self.started is not None:
            return
        self.started = time.monotonic()
        log.error("database unreachable: answering 503 until it answers", error=_reason(exc))
        self._probe = asyncio.create_task(self._until_back(engine), name="database probe")

    async def _until_back(self, engine: AsyncEngine) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            try:
                async with asyncio.timeout(PROBE_INTERVAL_SECONDS * 5):
                    async with engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
            except Exception:  # still out: the outage's one line was logged already
                continue
            break
        started = self.started or time.monotonic()
        log.warning(
            "database reachable again",
            outage_seconds=round(time.monotonic() - started, 1),
            failed_requests=self.failed_requests,
        )
        self.started, self.failed_requests, self._probe = None, 0, None

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe


def install(app: FastAPI) -> None:
    app.state.outage = Outage()

    async def _database(request: Request, exc: Exception) -> Response:
        if isinstance(exc, PoolTimeout):
            # Every pooled connection busy past db_pool_timeout: this replica is
            # overloaded, the database is fine. No outage, no probe, no traceback.
            log.warning("database pool exhausted: answering 503", error=_reason(exc))
            return error_response(
                request, 503, BUSY, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        if not is_outage(exc):
            log.exception("unexpected error", error=str(exc))
            return error_response(request, 500, INTERNAL_ERROR)
        request.app.state.outage.failed(request.app.state.runtime.engine, exc)
        return error_response(
            request, 503, UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    # Handled here, not by the catch-all: Starlette's catch-all re-raises after answering,
    # and the server would log a traceback for every request of the outage.
    for kind in (DBAPIError, PoolTimeout, *UNREACHABLE):
        app.add_exception_handler(kind, _database)
