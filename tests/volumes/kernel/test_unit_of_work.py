"""The unit of work: one transaction per request, effects only after its commit."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select

from app.api.deps import WorkDep
from app.db.models import Project
from app.runtime import Runtime
from app.volumes.kernel.work import unit_of_work

pytestmark = pytest.mark.both_databases  # transactions: commit, rollback, after-commit


@dataclass
class Recorder:
    """After-commit effects that note that they ran, and in which order."""

    seen: list[str] = field(default_factory=list)

    def effect(self, name: str) -> _Effect:
        return _Effect(self, name)


@dataclass
class _Effect:
    recorder: Recorder
    name: str

    def after_commit(self, runtime: Runtime) -> None:
        self.recorder.seen.append(self.name)


async def _project_names(runtime: Runtime) -> set[str]:
    async with runtime.sessionmaker() as session:
        return set(await session.scalars(select(Project.name)))


async def test_effects_run_after_the_commit_in_order(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    recorder = Recorder()
    async with unit_of_work(runtime) as work:
        work.session.add(Project(name="p-commit"))
        work.after_commit(recorder.effect("first"))
        work.after_commit(recorder.effect("second"))
        # Nothing runs while the transaction is open.
        assert recorder.seen == []
    assert recorder.seen == ["first", "second"]
    assert "p-commit" in await _project_names(runtime)


async def test_an_error_rolls_back_and_runs_no_effect(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    recorder = Recorder()
    with pytest.raises(RuntimeError):
        async with unit_of_work(runtime) as work:
            work.session.add(Project(name="p-rollback"))
            await work.session.flush()
            work.after_commit(recorder.effect("never"))
            raise RuntimeError("the flow failed")
    assert recorder.seen == []
    assert "p-rollback" not in await _project_names(runtime)


async def test_a_commit_that_fails_answers_an_error_not_a_success(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The request's work commits before the response is sent: a commit refused by the
    database (here a unique name, checked only when the commit flushes) is a fault."""
    runtime: Runtime = app.state.runtime
    recorder = Recorder()
    router = APIRouter()

    @router.post("/test-only/duplicate")
    async def duplicate(work: WorkDep) -> dict[str, str]:
        work.session.add(Project(name="twin"))
        work.session.add(Project(name="twin"))
        work.after_commit(recorder.effect("never"))
        return {"status": "accepted"}

    app.include_router(router)
    r = await client.post("/test-only/duplicate")
    assert r.status_code == 500, r.text
    assert "computeFault" in r.json()
    assert recorder.seen == []
    assert "twin" not in await _project_names(runtime)
