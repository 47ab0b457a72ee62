"""Shared fixtures. Every database test runs on a database of its own (a copy of a
migrated template): on SQLite, and also on PostgreSQL where the dialect matters (row
locks and claims, concurrency, transactions, clocks, migrations, what each database
accepts): those tests are marked `both_databases` (a module's `pytestmark` or a test's
decorator). `--all-databases` runs every database test on both."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import migrate
from app.db.session import make_engine, make_sessionmaker
from tests.drivers.helpers import PrivateTgtd

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Placements right after a start wait for a first capability report (the service's
# default, 60 s); the tests of that wait set it themselves, the others do not wait.
os.environ.setdefault("PUMICE_SCHEDULER_DRIVER_INIT_WAIT_TIME", "0")
PG_ADMIN_DSN = os.environ.get("PUMICE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A port nothing listens on now (for the real servers tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(condition: bool, what: str) -> None:
    """Skip on a laptop that lacks a tool or server; fail in CI, where it must exist."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{what} is required in CI")
        pytest.skip(f"{what} is not available")


async def _pg_exec(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _pg_available() -> bool:
    try:
        asyncio.run(_pg_exec("SELECT 1"))
        return True
    except Exception:
        return False


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    if not _pg_available():
        yield None
        return
    name = f"pumice_tpl_{os.getpid()}"
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    migrate.upgrade(_pg_url(name))
    yield name
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


DATABASES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-databases",
        action="store_true",
        help="run every database test on SQLite and PostgreSQL, not only the both_databases ones",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "both_databases: the dialect matters here; run on SQLite and PostgreSQL (not SQLite only)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses a database (`db_url`, directly or through `settings`, `app`,
    `client`...) runs on SQLite; on PostgreSQL too if marked both_databases."""
    if "db_url" not in metafunc.fixturenames:
        return
    both = metafunc.config.getoption("--all-databases") or (
        metafunc.definition.get_closest_marker("both_databases") is not None
    )
    metafunc.parametrize("db_url", DATABASES if both else DATABASES[:1], indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "pumice.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    need(template is not None, "PostgreSQL on 127.0.0.1:5432")
    name = f"pumice_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        public_url="http://pumice.test",
        reaper_interval=0.2,
        cache_refresh_interval=0.2,
        quota_volumes=100,
        quota_gigabytes=10000,
    )


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.resolved_database_url())
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from app.main import create_app

    application = create_app(settings, background=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pumice.test") as c:
        yield c


@dataclass
class Caller:
    """A user scoped to a project, with the headers its requests carry."""

    user_id: str
    project_id: str
    token: str

    def headers(self, version: str | None = None, **extra: str) -> dict[str, str]:
        out = {"X-Auth-Token": self.token, **extra}
        if version:
            out["OpenStack-API-Version"] = f"volume {version}"
        return out


MakeCaller = Callable[..., Any]


@pytest.fixture
def make_caller(app: FastAPI) -> MakeCaller:
    """make_caller(project_name, roles=("member",)) -> Caller, creating the rows."""
    from app.context import ADMIN_PROJECT_NAME
    from app.db.models import Project, RoleAssignment, User

    runtime = app.state.runtime

    async def make(
        project_name: str, roles: tuple[str, ...] = ("member",), user_name: str | None = None
    ) -> Caller:
        async with runtime.sessionmaker() as session, session.begin():
            from sqlalchemy import select

            project = (
                await session.scalars(select(Project).where(Project.name == project_name))
            ).first()
            if project is None:
                project = Project(name=project_name)
                session.add(project)
            user = User(name=user_name or f"u-{uuid.uuid4().hex[:8]}", password_hash="!")
            session.add(user)
            await session.flush()
            for role in roles:
                session.add(RoleAssignment(user_id=user.id, project_id=project.id, role=role))
        token, _ = runtime.tokens.issue(
            user_id=user.id,
            user_name=user.name,
            project_id=project.id,
            project_name=project.name,
            roles=roles,
            is_admin="admin" in roles and project_name == ADMIN_PROJECT_NAME,
        )
        return Caller(user.id, project.id, token)

    return make


@pytest.fixture
async def admin(make_caller: MakeCaller) -> Caller:
    caller: Caller = await make_caller("admin", ("admin",))
    return caller


@pytest.fixture
async def member(make_caller: MakeCaller) -> Caller:
    caller: Caller = await make_caller("demo", ("member",))
    return caller


@pytest.fixture
async def service(make_caller: MakeCaller) -> Caller:
    """An agent's identity: the service role in the service project."""
    caller: Caller = await make_caller("service", ("service",), user_name="agent")
    return caller


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A usual login umask (022) while the test runs: what pumice creates must not depend
    on it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(scope="session")
def private_tgtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateTgtd]:
    """One tgtd per xdist worker, on a control port and a portal no other tgtd uses
    (started as `pumice up` starts its own)."""
    from app import tgtd

    need(bool(shutil.which("tgtd")) and bool(shutil.which("tgtadm")), "tgtd and tgtadm (tgt)")
    log = tmp_path_factory.mktemp("tgtd") / "tgtd.log"
    try:
        daemon = tgtd.start("127.0.0.1", free_port(), log)
    except tgtd.TgtdUnavailable as exc:
        need(False, f"a private tgtd ({exc})")
        raise
    private = PrivateTgtd(daemon.control_port, "127.0.0.1", daemon.portal_port)
    try:
        yield private
    finally:
        private.clear()
        daemon.stop()


@pytest.fixture
def tgtd(private_tgtd: PrivateTgtd) -> Iterator[PrivateTgtd]:
    """The worker's tgtd, emptied after the test."""
    try:
        yield private_tgtd
    finally:
        private_tgtd.clear()
