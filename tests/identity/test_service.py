"""The identity service on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import User
from app.errors import BadRequest, Conflict, NotFound, Unauthorized
from app.identity import service
from app.identity.passwords import verify_password
from app.identity.tokens import UNAUTHORIZED, TokenIssuer, new_signing_key

pytestmark = pytest.mark.both_databases  # unique violations from racing writers

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def session(sessionmaker: Maker) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as s:
        yield s


async def login(
    session: AsyncSession,
    *,
    user: str = "alice",
    password: str = "pw-alice",
    project: str | None = "demo",
    by_id: bool = False,
) -> service.AuthResult:
    return await service.authenticate(
        session,
        user_name=None if by_id else user,
        user_id=user if by_id else None,
        password=password,
        project_name=project,
        project_id=None,
    )


async def seed(session: AsyncSession) -> None:
    await service.create_project(session, "demo", "a demo")
    await service.create_project(session, "admin")
    await service.create_user(session, "alice", "pw-alice", project="demo")
    await service.add_role(session, "alice", "demo", "member")
    await session.commit()


async def test_projects_are_created_listed_found_and_deleted(session: AsyncSession) -> None:
    demo = await service.create_project(session, "demo", "a demo")
    await service.create_project(session, "alpha")
    await session.commit()
    assert [p.name for p in await service.list_projects(session)] == ["alpha", "demo"]
    assert (await service.get_project(session, demo.id)).name == "demo"
    assert (await service.get_project(session, "demo")).description == "a demo"
    await service.delete_project(session, "demo")
    await session.commit()
    with pytest.raises(NotFound):
        await service.get_project(session, demo.id)


async def test_duplicate_and_invalid_names_are_refused(session: AsyncSession) -> None:
    await seed(session)
    with pytest.raises(Conflict):
        await service.create_project(session, "demo")
    with pytest.raises(Conflict):
        await service.create_user(session, "alice", "x")
    with pytest.raises(BadRequest):
        await service.create_project(session, "  ")
    with pytest.raises(BadRequest):
        await service.create_user(session, "bob", "")
    with pytest.raises(NotFound):
        await service.create_user(session, "bob", "pw", project="nowhere")
    # The session is still usable after the refusals.
    await service.create_user(session, "bob", "pw")
    await session.commit()


async def test_a_unique_violation_from_a_racing_writer_is_a_conflict(
    sessionmaker: Maker,
) -> None:
    async with sessionmaker() as first:
        await service.create_project(first, "race")
        await first.commit()
    async with sessionmaker() as second:
        # Slip past the existence check as a concurrent writer would.
        from app.db.models import Project

        with pytest.raises(Conflict):
            await service._insert(second, Project(name="race"), "exists")
        await service.create_project(second, "other")
        await second.commit()


async def test_the_admin_project_cannot_be_deleted(session: AsyncSession) -> None:
    await service.create_project(session, "admin")
    with pytest.raises(Conflict):
        await service.delete_project(session, "admin")


async def test_deleting_a_project_removes_its_roles_and_keeps_its_users(
    session: AsyncSession,
) -> None:
    await seed(session)
    await service.delete_project(session, "demo")
    await session.commit()
    session.expire_all()
    alice = await service.get_user(session, "alice")
    assert alice.default_project_id is None
    assert await service.list_role_assignments(session, user="alice") == []


async def test_users_are_created_listed_and_deleted(session: AsyncSession) -> None:
    await seed(session)
    alice = await service.get_user(session, "alice")
    demo = await service.get_project(session, "demo")
    assert alice.default_project_id == demo.id
    assert alice.password_hash.startswith("$argon2id$")
    assert [u.name for u in await service.list_users(session)] == ["alice"]
    await service.delete_user(session, alice.id)
    await session.commit()
    assert await service.list_users(session) == []
    with pytest.raises(NotFound):
        await service.delete_user(session, "alice")


async def test_set_password_replaces_the_hash(session: AsyncSession) -> None:
    await seed(session)
    await service.set_password(session, "alice", "new-pw")
    await session.commit()
    with pytest.raises(Unauthorized):
        await login(session)
    assert (await login(session, password="new-pw")).user.name == "alice"


async def test_roles_are_granted_idempotently_and_removed(session: AsyncSession) -> None:
    await seed(session)
    await service.add_role(session, "alice", "demo", "member")
    await service.add_role(session, "alice", "demo", "reader")
    await session.commit()
    views = await service.list_role_assignments(session, project="demo")
    assert [(v.user_name, v.project_name, v.role) for v in views] == [
        ("alice", "demo", "member"),
        ("alice", "demo", "reader"),
    ]
    await service.remove_role(session, "alice", "demo", "reader")
    with pytest.raises(NotFound):
        await service.remove_role(session, "alice", "demo", "reader")
    with pytest.raises(BadRequest):
        await service.add_role(session, "alice", "demo", "superuser")
    with pytest.raises(NotFound):
        await service.add_role(session, "nobody", "demo", "member")
    with pytest.raises(NotFound):
        await service.add_role(session, "alice", "nowhere", "member")


async def test_authenticate_scopes_to_a_project(session: AsyncSession) -> None:
    await seed(session)
    result = await login(session)
    assert (result.user.name, result.project.name, result.roles) == ("alice", "demo", ("member",))
    assert not result.is_admin
    by_id = await service.authenticate(
        session,
        user_name=None,
        user_id=result.user.id,
        password="pw-alice",
        project_name=None,
        project_id=result.project.id,
    )
    assert by_id.project.id == result.project.id


async def test_without_a_scope_the_default_project_is_used(session: AsyncSession) -> None:
    await seed(session)
    assert (await login(session, project=None)).project.name == "demo"
    await service.create_user(session, "drifter", "pw")
    with pytest.raises(Unauthorized):
        await login(session, user="drifter", password="pw", project=None)


@pytest.mark.parametrize(
    "attempt",
    [
        {"password": "wrong"},
        {"user": "nobody"},
        {"user": "nobody", "by_id": True},
        {"project": "nowhere"},
        {"project": "admin"},  # exists, but alice has no role there
        {"password": ""},
    ],
)
async def test_every_failure_says_the_same(
    session: AsyncSession, attempt: dict[str, object]
) -> None:
    await seed(session)
    with pytest.raises(Unauthorized) as caught:
        await login(session, **attempt)  # type: ignore[arg-type]
    assert caught.value.message == UNAUTHORIZED


async def test_a_disabled_user_cannot_authenticate(session: AsyncSession) -> None:
    await seed(session)
    await service.set_user_enabled(session, "alice", False)
    with pytest.raises(Unauthorized) as caught:
        await login(session)
    assert caught.value.message == UNAUTHORIZED


async def test_admin_power_needs_the_admin_role_on_the_admin_project(
    session: AsyncSession,
) -> None:
    await seed(session)
    await service.add_role(session, "alice", "demo", "admin")
    await service.add_role(session, "alice", "admin", "member")
    on_demo = await login(session)
    assert on_demo.roles == ("admin", "member")
    assert not on_demo.is_admin
    assert not (await login(session, project="admin")).is_admin
    await service.add_role(session, "alice", "admin", "admin")
    assert (await login(session, project="admin")).is_admin


async def test_a_weak_hash_is_upgraded_at_login(session: AsyncSession) -> None:
    from argon2 import PasswordHasher

    await seed(session)
    alice = await service.get_user(session, "alice")
    alice.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    await session.commit()
    await login(session, password="pw")
    await session.commit()
    stored = (await session.scalars(select(User.password_hash).where(User.name == "alice"))).one()
    assert "m=65536" in stored
    assert verify_password(stored, "pw").ok


async def test_token_still_valid_follows_the_database(session: AsyncSession) -> None:
    await seed(session)
    await service.add_role(session, "alice", "demo", "reader")
    result = await login(session)
    issuer = TokenIssuer(new_signing_key(), 60)
    _, claims = issuer.issue(
        user_id=result.user.id,
        user_name=result.user.name,
        project_id=result.project.id,
        project_name=result.project.name,
        roles=result.roles,
        is_admin=result.is_admin,
    )
    assert await service.token_still_valid(session, claims)
    await service.remove_role(session, "alice", "demo", "reader")
    assert not await service.token_still_valid(session, claims)
    await service.add_role(session, "alice", "demo", "reader")
    await service.set_user_enabled(session, "alice", False)
    assert not await service.token_still_valid(session, claims)
    await service.set_user_enabled(session, "alice", True)
    assert await service.token_still_valid(session, claims)
    await service.delete_user(session, "alice")
    assert not await service.token_still_valid(session, claims)


async def test_rescope_moves_an_authenticated_user(session: AsyncSession) -> None:
    await seed(session)
    await service.add_role(session, "alice", "admin", "reader")
    alice = await service.get_user(session, "alice")
    moved = await service.rescope(session, user_id=alice.id, project_name="admin", project_id=None)
    assert (moved.project.name, moved.roles) == ("admin", ("reader",))
    await service.remove_role(session, "alice", "admin", "reader")
    with pytest.raises(Unauthorized):
        await service.rescope(session, user_id=alice.id, project_name="admin", project_id=None)


async def test_list_user_projects(session: AsyncSession) -> None:
    await seed(session)
    await service.add_role(session, "alice", "demo", "reader")
    await service.add_role(session, "alice", "admin", "reader")
    alice = await service.get_user(session, "alice")
    assert [p.name for p in await service.list_user_projects(session, alice.id)] == [
        "admin",
        "demo",
    ]


async def test_bootstrap_runs_once(session: AsyncSession) -> None:
    creds = await service.bootstrap(session)
    await session.commit()
    assert creds is not None
    assert (creds.user_name, creds.project_name) == ("admin", "admin")
    assert len(creds.password) >= 24
    result = await login(session, user="admin", password=creds.password, project=None)
    assert result.is_admin and result.project.name == "admin"
    assert {p.name for p in await service.list_projects(session)} == {"admin", "service"}
    assert await service.bootstrap(session) is None


async def test_ensure_service_user(session: AsyncSession) -> None:
    password = await service.ensure_service_user(session)
    await session.commit()
    assert password
    result = await login(session, user="pumice-agent", password=password, project=None)
    assert (result.project.name, result.roles, result.is_admin) == (
        "service",
        ("service",),
        False,
    )
    assert await service.ensure_service_user(session) is None
    # The bootstrap afterwards reuses the service project.
    assert await service.bootstrap(session) is not None
    assert await service.ensure_service_user(session, "node2-agent")
