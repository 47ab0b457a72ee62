"""Capability reports in the database, and every replica's cache kept in step with it.

A report is written to `backends`/`pools` (guarded: only the backend's own agent may
report, and an older report than the one held changes nothing) and then fed to this
replica's cache; other replicas pick it up on their next refresh, which also brings them
the claim ledgers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.clock import database_now
from app.db.models import Backend, Pool, utcnow
from app.errors import BadRequest
from app.scheduler.cache import CapabilityCache
from app.scheduler.capacity import claim_limits
from app.scheduler.report import split_report
from app.volumes.capacity import agent_hosts, claims

if TYPE_CHECKING:
    from app.runtime import Runtime

log = structlog.get_logger(__name__)


@dataclass
class PoolDirectory:
    """'host@backend#pool' -> pools.id, as this replica last read it."""

    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[int, tuple[str, str]] = field(default_factory=dict)
    last_refresh: datetime | None = None

    def id_of(self, key: str) -> int | None:
        return self.ids.get(key)


def _pool_reports(capabilities: dict[str, Any]) -> list[dict[str, Any]]:
    """The pools of a report that CapabilityCache.check_report has accepted, named by
    the cache's own rule (one naming rule for the database and the cache)."""
    _, pools = split_report(capabilities)
    names = [p.get("pool_name") for p in pools]
    if len(set(names)) != len(names):
        raise BadRequest("Pool names in a report must be unique.")
    return pools


async def ingest(
    session: AsyncSession,
    cache: CapabilityCache,
    directory: PoolDirectory,
    *,
    host: str,
    availability_zone: str,
    capabilities: dict[str, Any],
    sent_at: datetime,
    seq: int | None,
    agent: str,
    job_versions: dict[str, Any],
    max_clock_skew: float,
) -> bool:
    """Store a backend's report from `agent` (the caller's own agent, derived from its
    token); False when the one held is newer by sequence number. The first report binds
    the backend to its agent; another agent's report is Forbidden. The caller commits;
    the cache is fed here (a rollback leaves the cache at most one report ahead, and the
    agent's next report overwrites it)."""
    cache.check_report(host, availability_zone, capabilities)
    reports = _pool_reports(capabilities)
    limits = {p["pool_name"]: claim_limits(p) for p in reports}
    now = utcnow()
    backend = (
        await session.scalars(select(Backend).where(Backend.host == host).with_for_update())
    ).first()
    if backend is not None:
        agent_hosts.check_owner(backend.agent_id, agent, host)
    # Read after the lock: the order reports are accepted in is the order they get.
    db_now = await database_now(session)
    agent_hosts.check_clock(sent_at, db_now, max_clock_skew)
    if backend is None:
        backend = Backend(
            host=host,
            availability_zone=availability_zone,
            report=capabilities,
            reported_at=db_now,
            report_seq=seq,
            heard_at=now,
            agent_id=agent,
            job_versions=job_versions,
        )
        session.add(backend)
        await session.flush()
    elif not agent_hosts.is_newer(seq, backend.report_seq):
        await session.execute(update(Backend).where(Backend.id == backend.id).values(heard_at=now))
        cache.heard(host, now)
        return False
    else:
        backend.availability_zone = availability_zone
        backend.report = capabilities
        # Never earlier than the report held: the caches order reports by it.
        backend.reported_at = max(db_now, backend.reported_at)
        if seq is not None:
            backend.report_seq = seq
        backend.heard_at = now
        backend.agent_id = agent
        backend.job_versions = job_versions
    existing = {
        p.name: p
        for p in (await session.scalars(select(Pool).where(Pool.backend_id == backend.id))).all()
    }
    reported: list[Pool] = []
    for report in reports:
        name = report["pool_name"]
        thin_limit, thick_limit = limits[name]
        allocated = _float(report.get("allocated_capacity_gb"))
        pool = existing.pop(name, None)
        if pool is None:
            pool = Pool(
                backend_id=backend.id,
                name=name,
                allocated_gb=0.0,
                reported_allocated_gb=allocated,
                limit_gb=thin_limit,
                limit_thick_gb=thick_limit,
                present=True,
            )
            session.add(pool)
        else:
            pool.reported_allocated_gb = allocated
            pool.limit_gb = thin_limit
            pool.limit_thick_gb = thick_limit
            pool.present = True
        reported.append(pool)
    for gone in existing.values():
        # Keeps its claims (volumes still live there) but takes no new ones.
        gone.present = False
    await session.flush()
    await claims.announce(session, claims.report_message(backend.id))
    cache.ingest(host, availability_zone, capabilities, backend.reported_at, heard_at=now)
    if backend.disabled:
        cache.set_disabled(host, True)
    for pool in [*reported, *existing.values()]:
        directory.ids[f"{host}#{pool.name}"] = pool.id
        directory.keys[pool.id] = (host, pool.name)
        cache.set_allocated(host, pool.name, pool.allocated_gb)
    return True


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


async def refresh(
    sessionmaker: async_sessionmaker[AsyncSession],
    cache: CapabilityCache,
    directory: PoolDirectory | None = None,
    *,
    since: datetime | None = None,
    backend_ids: set[int] | None = None,
) -> None:
    """Bring the cache up to what the database holds: the reports heard since `since`
    (or of `backend_ids`; all when neither), and the ledgers of their pools (every
    pool's, unless `backend_ids` narrows it)."""
    async with sessionmaker() as session:
        query = select(Backend)
        pool_query = select(Pool.id, Pool.name, Pool.allocated_gb, Backend.host).join(
            Backend, Backend.id == Pool.backend_id
        )
        if backend_ids is not None:
            query = query.where(Backend.id.in_(backend_ids))
            pool_query = pool_query.where(Pool.backend_id.in_(backend_ids))
        elif since is not None:
            query = query.where(Backend.heard_at >= since)
        backends = (await session.scalars(query)).all()
        pools = (await session.execute(pool_query)).all()
    for backend in backends:
        try:
            cache.ingest(
                backend.host,
                backend.availability_zone,
                backend.report,
                backend.reported_at,
                heard_at=backend.heard_at,
            )
        except Exception as exc:  # stored by an older release with other rules: skip it,
            # never let one row stop every other backend and ledger from refreshing
            log.warning("stored report rejected", host=backend.host, reason=str(exc))
            continue
        cache.heard(backend.host, backend.heard_at)
        cache.set_disabled(backend.host, backend.disabled)
    for pool_id, name, allocated, host in pools:
        if directory is not None:
            directory.ids[f"{host}#{name}"] = pool_id
            directory.keys[pool_id] = (host, name)
        cache.set_allocated(host, name, allocated)


async def refresh_forever(runtime: Runtime) -> None:
    """Keep this replica's cache in step with the others'. On PostgreSQL, follow the
    change channel (a claim's new ledger arrives in its message; a report is read back
    by backend id) and re-read everything now and then as a safety net; elsewhere (the
    single-replica SQLite setup) poll."""
    if runtime.engine.dialect.name == "postgresql":
        await _follow_channel(runtime)
    else:
        await _poll(runtime)


async def _poll(runtime: Runtime) -> None:
    interval = runtime.settings.cache_refresh_interval
    while True:
        await asyncio.sleep(interval)
        started = utcnow()
        # Overlap the window: a report committed just after our last read may carry an
        # earlier heard_at than that read's start.
        since = (
            runtime.pools.last_refresh - timedelta(seconds=5)
            if runtime.pools.last_refresh
            else None
        )
        try:
            await refresh(runtime.sessionmaker, runtime.cache, runtime.pools, since=since)
            runtime.pools.last_refresh = started
        except Exception as exc:  # keep the loop alive through database hiccups
            log.warning("cache refresh failed", error=str(exc))


FULL_REFRESH_SECONDS = 10.0


async def _follow_channel(runtime: Runtime) -> None:
    import asyncpg

    dsn = runtime.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    backoff = 0.2
    while True:
        messages: asyncio.Queue[str] = asyncio.Queue()
        try:
            conn = await asyncpg.connect(dsn)
        except Exception as exc:
            log.warning("cannot listen for capacity changes", error=str(exc))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            continue
        try:
            await conn.add_listener(claims.CHANNEL, _enqueue_to(messages))
            # Whatever changed while no one listened.
            await refresh(runtime.sessionmaker, runtime.cache, runtime.pools)
            backoff = 0.2
            while not conn.is_closed():
                try:
                    first = await asyncio.wait_for(messages.get(), FULL_REFRESH_SECONDS)
                except TimeoutError:
                    await refresh(runtime.sessionmaker, runtime.cache, runtime.pools)
                    continue
                batch = [first]
                while not messages.empty():
                    batch.append(messages.get_nowait())
                await apply_messages(runtime, batch)
        except Exception as exc:  # reconnect; the full refresh above catches up
            log.warning("capacity channel lost", error=str(exc))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            # Close politely, but never wait on the server for long (a cancelled task
            # would hang with it): drop the connection after a short while.
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except (Exception, asyncio.CancelledError):
                conn.terminate()


def _enqueue_to(queue: asyncio.Queue[str]) -> Any:
    def listener(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        queue.put_nowait(payload)

    return listener


async def apply_messages(runtime: Runtime, batch: list[str]) -> None:
    reports: set[int] = set()
    for message in batch:
        kind, _, rest = message.partition(" ")
        if kind == "ledger":
            pool_id, _, value = rest.partition(" ")
            key = runtime.pools.keys.get(int(pool_id))
            if key is None:
                await refresh(runtime.sessionmaker, runtime.cache, runtime.pools)
                return
            runtime.cache.set_allocated(key[0], key[1], float(value))
        elif kind == "report":
            reports.add(int(rest))
    if reports:
        await refresh(runtime.sessionmaker, runtime.cache, runtime.pools, backend_ids=reports)
