"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@dataclass(frozen=True)
class Deadlines:
    """How long PostgreSQL may take (seconds) to connect, to lend a pooled connection,
    and to run one statement. SQLite has its busy timeout instead."""

    connect: float
    pool: float
    statement: float


def make_engine(
    url: str, *, reader: bool = False, deadlines: Deadlines | None = None, **kwargs: Any
) -> AsyncEngine:
    """`reader`: for transactions that only read (SQLite: a deferred BEGIN, so readers
    run beside the one writer WAL allows instead of queueing for the write lock)."""
    if is_sqlite(url):
        kwargs.pop("pool_size", None)
        kwargs.pop("max_overflow", None)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_pragmas(engine, "BEGIN" if reader else "BEGIN IMMEDIATE")
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    if deadlines is not None:
        kwargs["pool_timeout"] = deadlines.pool
        # asyncpg's own: `timeout` bounds the connect, `command_timeout` each statement.
        connect_args = {"timeout": deadlines.connect, "command_timeout": deadlines.statement}
        kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(engine: AsyncEngine, begin: str) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE: a deferred transaction that reads and
    then writes can fail with 'database is locked' when another writer got in between;
    taking the write lock up front makes writers queue on the busy timeout instead."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
