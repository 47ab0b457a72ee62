"""Health, readiness and metrics of one API replica.

- `GET /healthz`: the process answers (no database touched): a liveness probe.
- `GET /readyz`: this replica can serve: the database answers within a deadline, its
  schema is the code's, and at least one backend's capability report is fresh (without
  one every create would fail). 503 with each check's finding otherwise.
- `GET /metrics`: Prometheus' text format: the instruments of `app/metrics.py`, the job
  queue by kind (read from the database), pools' capacity and ledgers and backends' up
  state (this replica's cache), database connections. No token: scrapers carry none, so
  a deployment keeps the path off its public port (docker-compose.yml's proxy does).

The latency middleware labels requests by route template, never by raw path, so ids in
URLs do not multiply the series."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.db import migrate
from app.db.models import Job
from app.runtime import Runtime
from app.scheduler.cache import utcnow

router = APIRouter(tags=["health"])
# A readiness probe that waits longer than this has its answer: not ready.
READY_DEADLINE_SECONDS = 3.0
LIVE_JOB_STATES = ("pending", "running")
UNMATCHED = "<unmatched>"


class LatencyMiddleware:
    """Times every HTTP request into `pumice_http_request_duration_seconds`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before answering

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            metrics.REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    checks = {
        "database": await _bounded(_database_answers(runtime)),
        "migrations": await _bounded(_schema_is_current(runtime)),
        "capability_reports": _fresh_reports(runtime),
    }
    ready = all(finding == "ok" for finding in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


async def _bounded(check: Any) -> str:
    try:
        result: str = await asyncio.wait_for(check, READY_DEADLINE_SECONDS)
    except TimeoutError:
        return f"no answer within {READY_DEADLINE_SECONDS:g} s"
    except Exception as exc:  # the probe's answer, not a 500: say what failed
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return result


async def _database_answers(runtime: Runtime) -> str:
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


async def _schema_is_current(runtime: Runtime) -> str:
    current = await migrate.current_revision(runtime.engine)
    head = migrate.head_revision()
    return "ok" if current == head else f"database at {current}, code needs {head}"


def _fresh_reports(runtime: Runtime) -> str:
    now = utcnow()
    if any(runtime.cache.is_up(backend.host, now) for backend in runtime.cache.backends()):
        return "ok"
    return "no backend has reported within service_down_time"


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    queue = await _queue(runtime)
    body = generate_latest(_Scrape(runtime, queue))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def _queue(runtime: Runtime) -> list[tuple[str, str, int, datetime | None]]:
    """Pending and running jobs by kind: how many, and the oldest's creation."""
    query = (
        select(Job.kind, Job.state, func.count(), func.min(Job.created_at))
        .where(Job.state.in_(LIVE_JOB_STATES))
        .group_by(Job.kind, Job.state)
    )
    async with runtime.read_sessionmaker() as session:
        return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]


class _Scrape:
    """One scrape: the kept instruments, then the state read just now."""

    def __init__(self, runtime: Runtime, queue: list[tuple[str, str, int, datetime | None]]):
        self.runtime = runtime
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        yield from REGISTRY.collect()
        yield from self._jobs(now)
        yield from self._capacity(now)
        yield self._connections()

    def _jobs(self, now: datetime) -> Iterator[Metric]:
        labels = ("kind", "state")
        depth = GaugeMetricFamily(
            "pumice_jobs", "Jobs waiting for or held by an agent.", labels=labels
        )
        age = GaugeMetricFamily(
            "pumice_job_oldest_age_seconds",
            "Age of the oldest job by kind and state.",
            labels=labels,
        )
        for kind, state, count, oldest in self.queue:
            depth.add_metric((kind, state), count)
            if oldest is not None:
                age.add_metric((kind, state), max(0.0, (now - oldest).total_seconds()))
        yield depth
        yield age

    def _capacity(self, now: datetime) -> Iterator[Metric]:
        cache = self.runtime.cache
        capacity = GaugeMetricFamily(
            "pumice_pool_capacity_gb",
            "A pool's capacity as its agent reported it (total, free) and as the claim "
            "ledgers hold it (allocated).",
            labels=("pool", "figure"),
        )
        volumes = GaugeMetricFamily(
            "pumice_pool_volumes", "Volumes the claim ledger counts on a pool.", labels=("pool",)
        )
        for pool in cache.iter_pools():
            capacity.add_metric((pool.key, "total"), float(pool.total_capacity_gb))
            capacity.add_metric((pool.key, "free"), float(pool.free_capacity_gb))
            capacity.add_metric((pool.key, "allocated"), float(pool.allocated_gb))
            volumes.add_metric((pool.key,), float(pool.volume_count))
        up = GaugeMetricFamily(
            "pumice_backend_up",
            "1 while a backend's agent has reported within service_down_time, else 0.",
            labels=("backend",),
        )
        for backend in cache.backends():
            up.add_metric((backend.host,), 1.0 if cache.is_up(backend.host, now) else 0.0)
        yield capacity
        yield volumes
        yield up

    def _connections(self) -> Metric:
        family = GaugeMetricFamily(
            "pumice_db_connections",
            "Database connections of this replica's pools, by pool and state.",
            labels=("engine", "state"),
        )
        engines = {"write": self.runtime.engine}
        if self.runtime.read_engine is not self.runtime.engine:
            engines["read"] = self.runtime.read_engine
        for name, engine in engines.items():
            pool: Any = engine.sync_engine.pool
            for state, reading in (("in_use", "checkedout"), ("idle", "checkedin")):
                if hasattr(pool, reading):
                    family.add_metric((name, state), float(getattr(pool, reading)()))
        return family
