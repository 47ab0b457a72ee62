"""What a flow tells this replica once its transaction committed (the pools' ledgers it
moved, whether it queued a job for an agent), and the shape of a job's end that
returns one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ParamSpec

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Job
from app.runtime import Runtime


@dataclass
class Outcome:
    """What to tell this replica once the transaction is committed."""

    ledgers: dict[tuple[str, str], float] = field(default_factory=dict)
    job_queued: bool = False

    def after_commit(self, runtime: Runtime) -> None:
        for (host, pool), allocated in self.ledgers.items():
            runtime.cache.set_allocated(host, pool, allocated)
        if self.job_queued:
            runtime.jobs.notify()


# How a job's end (its agent's result, or the reaper's verdict) is applied: in the
# transaction that records it; app/volumes/results.py holds one per kind and outcome.
JobEnd = Callable[[AsyncSession, Runtime, Job], Awaitable[Outcome]]

# What a resource's end takes after its own arguments: a success end the result of its
# job's kind (the kind's result model, app/jobkinds.py), a failure end nothing.
More = ParamSpec("More")
