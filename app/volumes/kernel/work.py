"""The unit of work: one transaction, and what to tell this replica once it committed.

A request (or a job result) opens one, every flow it calls writes through its session
and hands over the effects that must wait for the commit (cache ledgers, waking agents);
whoever opened it commits, then runs those effects, or rolls back and runs none. Flows
never commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.runtime import Runtime


class AfterCommit(Protocol):
    def after_commit(self, runtime: Runtime) -> None: ...


@dataclass
class UnitOfWork:
    session: AsyncSession
    runtime: Runtime
    request_id: str = ""
    _after: list[AfterCommit] = field(default_factory=list)

    def after_commit(self, effects: AfterCommit) -> None:
        """Run `effects` once this work has committed (in the order given); never if it
        rolls back."""
        self._after.append(effects)

    def committed(self) -> None:
        for effects in self._after:
            effects.after_commit(self.runtime)
        self._after.clear()


@asynccontextmanager
async def unit_of_work(
    runtime: Runtime,
    maker: async_sessionmaker[AsyncSession] | None = None,
    request_id: str = "",
) -> AsyncIterator[UnitOfWork]:
    """Commit when the block ends normally, then run the after-commit effects; roll back
    on any exception, which goes on to the caller."""
    async with (maker or runtime.sessionmaker)() as session:
        work = UnitOfWork(session, runtime, request_id)
        async with session.begin():
            yield work
    work.committed()
