"""The API server: one FastAPI app holding the Block Storage API v3, the identity
subset, the agent endpoints, the scheduler and the periodic work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from app import datadir
from app.api import (
    agents,
    attachments,
    backups,
    extensions,
    faults,
    group_snapshots,
    group_types,
    groups,
    hosts,
    identity,
    identity_admin,
    limits,
    manageable,
    manageable_lists,
    messages,
    outage,
    pools,
    qos_specs,
    quotas,
    services,
    snapshots,
    telemetry,
    transfers,
    types,
    versions,
    volumes,
    zones,
)
from app.api.bodylimit import RequestBodyLimitMiddleware
from app.api.common import operation_id
from app.api.microversion import MAX_VERSION
from app.api.middleware import OpenStackHeadersMiddleware
from app.config import Settings, get_settings
from app.db import migrate
from app.db.session import Deadlines, is_sqlite, make_engine, make_sessionmaker
from app.identity.keys import load_key_ring
from app.identity.tokens import TokenIssuer
from app.runtime import Runtime, TokenChecks
from app.scheduler.cache import CapabilityCache
from app.scheduler.scheduler import Scheduler
from app.sealing import Sealer
from app.volumes import reaper
from app.volumes.capacity import reports
from app.volumes.types.types import ensure_default_type

log = structlog.get_logger(__name__)
# How long a stopping replica waits for its background tasks to end.
SHUTDOWN_SECONDS = 10.0


async def build_runtime(settings: Settings, *, run_migrations: bool = False) -> Runtime:
    url = settings.resolved_database_url()
    # Before the database or the key file is created: both are the service user's only.
    datadir.prepare(settings)
    if run_migrations:
        await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        deadlines=Deadlines(
            settings.db_connect_timeout, settings.db_pool_timeout, settings.db_statement_timeout
        ),
    )
    try:
        await migrate.ensure_migrated(engine)
    except Exception:
        await engine.dispose()
        raise
    sessionmaker = make_sessionmaker(engine)
    # PostgreSQL reads and writes through one pool; SQLite reads through a second
    # engine whose transactions do not take the write lock.
    reader = make_engine(url, reader=True) if is_sqlite(url) else engine
    keys = await load_key_ring(settings, sessionmaker)
    cache = CapabilityCache(service_down_time=settings.service_down_time)
    scheduler = Scheduler(
        cache,
        filters=settings.scheduler_default_filters,
        weighers=settings.scheduler_default_weighers,
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        read_engine=reader,
        read_sessionmaker=make_sessionmaker(reader),
        tokens=TokenIssuer(keys, settings.token_ttl_seconds),
        cache=cache,
        scheduler=scheduler,
        sealer=Sealer(settings),
        token_checks=TokenChecks(ttl_seconds=settings.token_check_ttl_seconds),
    )
    async with sessionmaker() as session, session.begin():
        await ensure_default_type(session, settings.default_volume_type)
    await reports.refresh(runtime.sessionmaker, cache, runtime.pools)
    return runtime


def create_app(
    settings: Settings | None = None, *, run_migrations: bool = False, background: bool = True
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await build_runtime(settings, run_migrations=run_migrations)
        app.state.runtime = runtime
        tasks: list[asyncio.Task[None]] = []
        if background:
            tasks.append(asyncio.create_task(reaper.run_forever(runtime)))
            tasks.append(asyncio.create_task(reports.refresh_forever(runtime)))
            tasks.append(asyncio.create_task(reaper.purge_messages_forever(runtime)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                # Bounded: a task stuck in a network call must not hold the process open.
                _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
                for task in stuck:
                    log.warning("background task did not stop", task=task.get_name())
            await app.state.outage.stop()
            await runtime.engine.dispose()
            if runtime.read_engine is not runtime.engine:
                await runtime.read_engine.dispose()

    app = FastAPI(
        title="Pumice Block Storage API",
        version=str(MAX_VERSION),
        description="OpenStack Block Storage API v3 compatible control plane.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    faults.install(app)
    outage.install(app)
    # Added first, so it runs inside the headers middleware: a 413 carries the request id.
    app.add_middleware(
        RequestBodyLimitMiddleware,
        limit=settings.max_request_body_size,
        agent_limit=settings.max_agent_request_body_size,
    )
    app.add_middleware(OpenStackHeadersMiddleware)
    # Outermost: the latency it records includes every other middleware's work.
    app.add_middleware(telemetry.LatencyMiddleware)
    for module in (
        telemetry,
        versions,
        identity,
        identity_admin,
        agents,
        volumes,
        types,
        qos_specs,
        quotas,
        limits,
        zones,
        messages,
        pools,
        services,
        manageable,
        group_types,
        groups,
        group_snapshots,
        snapshots,
        backups,
        extensions,
        hosts,
        attachments,
        transfers,
        manageable_lists,
    ):
        app.include_router(module.router)
    return app
