"""Projects, users, role assignments and password authentication.

Every function works inside the caller's AsyncSession and transaction: it flushes so
conflicts surface here (as app.errors.Conflict), and the caller commits."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import ADMIN_PROJECT_NAME, ROLES, SERVICE_PROJECT_NAME
from app.db.models import Base, Project, RoleAssignment, User
from app.db.upsert import insert_ignore
from app.errors import BadRequest, Conflict, NotFound, Unauthorized
from app.identity import revocations
from app.identity.passwords import hash_password_async, verify_password_async
from app.identity.tokens import UNAUTHORIZED, TokenClaims

# A row found by id or name.
Named = TypeVar("Named", Project, User)

ADMIN_USER_NAME = "admin"
AGENT_USER_NAME = "pumice-agent"
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class AuthResult:
    """Who authenticated and the scope the token will carry."""

    user: User
    project: Project
    roles: tuple[str, ...]
    is_admin: bool


@dataclass(frozen=True)
class TokenCheck:
    """A token found still valid, and what its scope is worth now."""

    # From the roles the token carries, as found held, and the project's name in the
    # database: never from the token's own word.
    is_admin: bool
    project_name: str


@dataclass(frozen=True)
class BootstrapCredentials:
    user_name: str
    password: str
    project_name: str


@dataclass(frozen=True)
class RoleAssignmentView:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    role: str


# --- projects --------------------------------------------------------------------


async def create_project(session: AsyncSession, name: str, description: str = "") -> Project:
    name = _valid_name(name, "project")
    if await _by_name(session, Project, name) is not None:
        raise Conflict(f"Project {name!r} already exists.")
    project = Project(name=name, description=description)
    await _insert(session, project, f"Project {name!r} already exists.")
    return project


async def list_projects(session: AsyncSession) -> list[Project]:
    return list(await session.scalars(select(Project).order_by(Project.name)))


async def get_project(session: AsyncSession, name_or_id: str) -> Project:
    return await _get(session, Project, name_or_id, "project")


async def delete_project(session: AsyncSession, name_or_id: str) -> None:
    project = await get_project(session, name_or_id)
    if project.name == ADMIN_PROJECT_NAME:
        # Admin power is the admin role on this project: deleting it locks every
        # administrator out of the API.
        raise Conflict(f"The {ADMIN_PROJECT_NAME!r} project cannot be deleted.")
    # Role assignments go with it (ON DELETE CASCADE); users whose default project it
    # was keep existing without one (ON DELETE SET NULL).
    await session.delete(project)
    await session.flush()


async def update_project(
    session: AsyncSession,
    name_or_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Project:
    """Keystone's PATCH of a project: the fields given change. A disabled project's
    tokens stop working (check_token)."""
    project = await get_project(session, name_or_id)
    if project.name == ADMIN_PROJECT_NAME and (
        enabled is False or name not in (None, project.name)
    ):
        raise Conflict(f"The {ADMIN_PROJECT_NAME!r} project cannot be renamed or disabled.")
    if name is not None and name != project.name:
        name = _valid_name(name, "project")
        if await _by_name(session, Project, name) is not None:
            raise Conflict(f"Project {name!r} already exists.")
        project.name = name
    if description is not None:
        project.description = description
    if enabled is not None:
        project.enabled = enabled
    await session.flush()
    return project


async def list_user_projects(session: AsyncSession, user_id: str) -> list[Project]:
    """The enabled projects the user holds any role on."""
    query = (
        select(Project)
        .join(RoleAssignment, RoleAssignment.project_id == Project.id)
        .where(RoleAssignment.user_id == user_id, Project.enabled.is_(True))
        .distinct()
        .order_by(Project.name)
    )
    return list(await session.scalars(query))


# --- users -----------------------------------------------------------------------


async def create_user(
    session: AsyncSession, name: str, password: str, project: str | None = None
) -> User:
    """A user whose default project is `project` (name or id). It gets no role there:
    grant one with add_role, as with Keystone."""
    name = _valid_name(name, "user")
    _valid_password(password)
    default_project = await get_project(session, project) if project is not None else None
    if await _by_name(session, User, name) is not None:
        raise Conflict(f"User {name!r} already exists.")
    user = User(
        name=name,
        password_hash=await hash_password_async(password),
        default_project_id=default_project.id if default_project else None,
    )
    await _insert(session, user, f"User {name!r} already exists.")
    return user


async def get_user(session: AsyncSession, name_or_id: str) -> User:
    return await _get(session, User, name_or_id, "user")


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.name)))


async def delete_user(session: AsyncSession, name_or_id: str) -> None:
    user = await get_user(session, name_or_id)
    await session.delete(user)
    await session.flush()


async def set_password(session: AsyncSession, name_or_id: str, password: str) -> None:
    """Set a new password; every token the user holds stops working (whoever knew the
    old password may hold one)."""
    _valid_password(password)
    user = await get_user(session, name_or_id)
    user.password_hash = await hash_password_async(password)
    await session.flush()
    await revocations.revoke_user_tokens(session, user.id)


async def change_password(
    session: AsyncSession, user_id: str, original_password: str, password: str
) -> None:
    """The user's own change (Keystone's POST /users/{id}/password): the original
    password is the proof. Every failure raises the same Unauthorized."""
    _valid_password(password)
    user = await session.get(User, user_id)
    verdict = await verify_password_async(user.password_hash if user else None, original_password)
    if user is None or not verdict.ok or not user.enabled:
        raise Unauthorized(UNAUTHORIZED)
    await set_password(session, user.id, password)


async def update_user(
    session: AsyncSession,
    name_or_id: str,
    *,
    name: str | None = None,
    password: str | None = None,
    enabled: bool | None = None,
    default_project: str | None = None,
) -> User:
    """Keystone's PATCH of a user: the fields given change; a new password or a
    disabled user ends every token the user holds."""
    user = await get_user(session, name_or_id)
    if name is not None and name != user.name:
        name = _valid_name(name, "user")
        if await _by_name(session, User, name) is not None:
            raise Conflict(f"User {name!r} already exists.")
        user.name = name
    if default_project is not None:
        user.default_project_id = (await get_project(session, default_project)).id
    if enabled is not None:
        user.enabled = enabled
    await session.flush()
    if password is not None:
        await set_password(session, user.id, password)
    return user


async def set_user_enabled(session: AsyncSession, name_or_id: str, enabled: bool) -> None:
    """A disabled user cannot authenticate, and its tokens stop working
    (token_still_valid)."""
    user = await get_user(session, name_or_id)
    user.enabled = enabled
    await session.flush()


# --- roles -----------------------------------------------------------------------


async def add_role(session: AsyncSession, user: str, project: str, role: str) -> None:
    """Grant `role` to `user` on `project` (names or ids); granting it twice is fine."""
    _valid_role(role)
    found_user = await get_user(session, user)
    found_project = await get_project(session, project)
    await session.execute(
        insert_ignore(
            session,
            RoleAssignment,
            {"user_id": found_user.id, "project_id": found_project.id, "role": role},
        )
    )


async def remove_role(session: AsyncSession, user: str, project: str, role: str) -> None:
    _valid_role(role)
    found_user = await get_user(session, user)
    found_project = await get_project(session, project)
    result = await session.execute(
        delete(RoleAssignment).where(
            RoleAssignment.user_id == found_user.id,
            RoleAssignment.project_id == found_project.id,
            RoleAssignment.role == role,
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(
            f"User {found_user.name!r} has no role {role!r} on project {found_project.name!r}."
        )


async def list_role_assignments(
    session: AsyncSession, *, user: str | None = None, project: str | None = None
) -> list[RoleAssignmentView]:
    query = (
        select(User.id, User.name, Project.id, Project.name, RoleAssignment.role)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Project, Project.id == RoleAssignment.project_id)
        .order_by(User.name, Project.name, RoleAssignment.role)
    )
    if user is not None:
        query = query.where(User.id == (await get_user(session, user)).id)
    if project is not None:
        query = query.where(Project.id == (await get_project(session, project)).id)
    return [RoleAssignmentView(*row) for row in await session.execute(query)]


# --- authentication --------------------------------------------------------------


async def authenticate(
    session: AsyncSession,
    *,
    user_name: str | None,
    user_id: str | None,
    password: str,
    project_name: str | None,
    project_id: str | None,
) -> AuthResult:
    """Check a password and resolve the project scope. Every failure raises the same
    Unauthorized, so a caller learns nothing about which part was wrong."""
    user = await _login_user(session, user_name=user_name, user_id=user_id)
    # Verify even when there is no such user (against a dummy hash): the answer takes
    # as long for an unknown name as for a wrong password.
    verdict = await verify_password_async(user.password_hash if user else None, password)
    if user is None or not verdict.ok or not user.enabled:
        raise Unauthorized(UNAUTHORIZED)
    if verdict.new_hash is not None:
        user.password_hash = verdict.new_hash
    return await _scoped(session, user, project_name=project_name, project_id=project_id)


async def rescope(
    session: AsyncSession, *, user_id: str, project_name: str | None, project_id: str | None
) -> AuthResult:
    """Scope an already authenticated user (Keystone's token method) to a project."""
    user = await session.get(User, user_id)
    if user is None or not user.enabled:
        raise Unauthorized(UNAUTHORIZED)
    return await _scoped(session, user, project_name=project_name, project_id=project_id)


async def check_token(session: AsyncSession, claims: TokenClaims) -> TokenCheck | None:
    """A signature proves a token was issued, not that it still should work: the user
    must still exist, be enabled and not have revoked its tokens since (its token
    generation), the project must exist and be enabled, every role the token carries
    must still be held there, and neither the token nor its chain may be revoked.
    None when it should not work. One indexed query."""
    query = (
        select(RoleAssignment.role, Project.name)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Project, Project.id == RoleAssignment.project_id)
        .where(
            RoleAssignment.user_id == claims.user_id,
            RoleAssignment.project_id == claims.project_id,
            User.enabled.is_(True),
            User.token_generation == claims.generation,
            Project.enabled.is_(True),
            ~revocations.is_revoked(claims),
        )
    )
    rows = (await session.execute(query)).all()
    held = {role for role, _ in rows}
    if not held or not set(claims.roles) <= held:
        return None
    # A key holder could sign any `adm`: admin power is what the database grants the
    # token's (verified) roles on the project as named there.
    project_name = rows[0].name
    return TokenCheck(is_admin_scope(claims.roles, project_name), project_name)


async def token_still_valid(session: AsyncSession, claims: TokenClaims) -> bool:
    return await check_token(session, claims) is not None


async def login_subject(
    session: AsyncSession, *, user_name: str | None, user_id: str | None
) -> str:
    """Who a login attempt is against, for throttling: the user's id when the name or
    id names one (so switching between them counts as one user), else what was given."""
    user = await _login_user(session, user_name=user_name, user_id=user_id)
    if user is not None:
        return user.id
    return f"id:{user_id}" if user_id is not None else f"name:{user_name}"


def is_admin_scope(roles: Sequence[str], project_name: str) -> bool:
    """Admin power is the admin role on the admin project; on any other project the
    admin role is just a role."""
    return "admin" in roles and project_name == ADMIN_PROJECT_NAME


# --- first start -----------------------------------------------------------------


async def bootstrap(session: AsyncSession) -> BootstrapCredentials | None:
    """On first start: project 'admin', user 'admin' with a random password and the
    admin role there, and project 'service' for agents. Returns the credentials once;
    None when user 'admin' exists (or another replica is bootstrapping right now)."""
    if await _by_name(session, User, ADMIN_USER_NAME) is not None:
        return None
    password = secrets.token_urlsafe(24)
    try:
        admin_project = await _ensure_project(
            session, ADMIN_PROJECT_NAME, "Administrators of this Pumice cloud"
        )
        await _ensure_project(session, SERVICE_PROJECT_NAME, "Agents and other services")
        user = await create_user(session, ADMIN_USER_NAME, password, admin_project.id)
    except Conflict:
        return None
    await add_role(session, user.id, admin_project.id, "admin")
    return BootstrapCredentials(ADMIN_USER_NAME, password, ADMIN_PROJECT_NAME)


async def ensure_service_user(
    session: AsyncSession, name: str = AGENT_USER_NAME, password: str | None = None
) -> str | None:
    """A user for an agent: role 'service' on project 'service', the password given or a
    random one. Returns the password, or None when the user already exists."""
    if await _by_name(session, User, name) is not None:
        return None
    password = password or secrets.token_urlsafe(24)
    try:
        project = await _ensure_project(session, SERVICE_PROJECT_NAME, "Agents and other services")
        user = await create_user(session, name, password, project.id)
    except Conflict:
        return None
    await add_role(session, user.id, project.id, "service")
    return password


# --- helpers ---------------------------------------------------------------------


async def _scoped(
    session: AsyncSession, user: User, *, project_name: str | None, project_id: str | None
) -> AuthResult:
    # We issue project-scoped tokens only: without a scope, the default project.
    if project_id is not None:
        project = await session.get(Project, project_id)
    elif project_name is not None:
        project = await _by_name(session, Project, project_name)
    elif user.default_project_id is not None:
        project = await session.get(Project, user.default_project_id)
    else:
        project = None
    if project is None or not project.enabled:
        raise Unauthorized(UNAUTHORIZED)
    held = set(
        await session.scalars(
            select(RoleAssignment.role).where(
                RoleAssignment.user_id == user.id, RoleAssignment.project_id == project.id
            )
        )
    )
    if not held:
        raise Unauthorized(UNAUTHORIZED)
    roles = tuple(sorted(held, key=_role_rank))
    return AuthResult(user, project, roles, is_admin_scope(roles, project.name))


async def _login_user(
    session: AsyncSession, *, user_name: str | None, user_id: str | None
) -> User | None:
    # An id wins over a name, as in Keystone; never fall back from one to the other.
    if user_id is not None:
        return await session.get(User, user_id)
    if user_name is not None:
        return await _by_name(session, User, user_name)
    return None


async def _ensure_project(session: AsyncSession, name: str, description: str) -> Project:
    project = await _by_name(session, Project, name)
    return project if project is not None else await create_project(session, name, description)


async def _insert(session: AsyncSession, row: Base, conflict: str) -> None:
    """Add and flush in a savepoint: a unique violation from a concurrent writer becomes
    Conflict and leaves the caller's transaction usable."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise Conflict(conflict) from exc


async def _by_name(session: AsyncSession, model: type[Named], name: str) -> Named | None:
    result = await session.scalars(select(model).where(model.name == name))
    return result.first()


async def _get(session: AsyncSession, model: type[Named], name_or_id: str, noun: str) -> Named:
    """By id, else by name (Keystone's lookup); its 404 when neither."""
    found = await session.get(model, name_or_id) or await _by_name(session, model, name_or_id)
    if found is None:
        raise NotFound(f"Could not find {noun}: {name_or_id}.")
    return found


def _role_rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else len(ROLES)


def _valid_role(role: str) -> None:
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}: roles are {', '.join(ROLES)}.")


def _valid_name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"A {what} name must have 1 to {MAX_NAME_LENGTH} characters.")
    return name


def _valid_password(password: str) -> None:
    if not password:
        raise BadRequest("The password must not be empty.")
