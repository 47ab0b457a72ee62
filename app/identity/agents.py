"""Agent records: which user is which storage agent.

An agent is a user holding the service role on project 'service', registered under a
name (its user's name). /agent/v1 derives the calling agent from the token's user, never
from a request body. A service user that calls before it was registered is registered
then (installs from before agent records, agents whose user an admin made by hand).
Deleting the user deletes its record; the backends bound to the name stay bound to it,
so a user of that name made again serves them again, and moving them is an admin act."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import SERVICE_PROJECT_NAME
from app.db.models import Agent, Backend, BackupService, Project, RoleAssignment, User, utcnow
from app.db.upsert import insert_ignore
from app.errors import Conflict, Forbidden
from app.identity import service
from app.identity.service import AGENT_USER_NAME


@dataclass(frozen=True)
class AgentView:
    name: str
    user_id: str
    hosts: list[str]


async def create_agent_user(
    session: AsyncSession, name: str, password: str | None = None
) -> tuple[Agent, str]:
    """A new user NAME with the service role on project 'service', registered as agent
    NAME. Returns the record and the password (random unless given)."""
    name = name.strip()
    if await session.get(Agent, name) is not None:
        raise Conflict(f"Agent {name!r} already exists.")
    secret = await service.ensure_service_user(session, name, password)
    if secret is None:
        raise Conflict(f"User {name!r} already exists.")
    user = await service.get_user(session, name)
    return await _register(session, user), secret


async def ensure_agent_user(session: AsyncSession, name: str = AGENT_USER_NAME) -> str | None:
    """`pumice up`'s local agent: its user (see service.ensure_service_user) and its
    record. Returns the password when the user is new, else None."""
    password = await service.ensure_service_user(session, name)
    user = await service.get_user(session, name)
    if await _agent_of(session, user.id) is None:
        await _register(session, user)
    return password


async def agent_for_user(session: AsyncSession, user_id: str) -> str:
    """The agent name of a caller already known to hold the service role on project
    'service'; registers it on its first call. Forbidden when its name is another
    user's agent."""
    agent = await _agent_of(session, user_id)
    if agent is not None:
        return agent.name
    user = await session.get(User, user_id)
    if user is None or not await _is_service_user(session, user_id):
        raise Forbidden("Only agents may do this.")
    agent = await _register(session, user)
    if agent.user_id != user_id:
        raise Forbidden(
            f"Agent {agent.name!r} is another user's; this user is not registered as an agent."
        )
    return agent.name


async def registered_name(session: AsyncSession, user_id: str) -> str | None:
    """The user's agent name, if it has a record (a read; no registration)."""
    agent = await _agent_of(session, user_id)
    return agent.name if agent is not None else None


async def list_agents(session: AsyncSession) -> list[AgentView]:
    agents = list(await session.scalars(select(Agent).order_by(Agent.name)))
    hosts: dict[str, list[str]] = {}
    for model in (Backend, BackupService):
        for host, owner in await session.execute(select(model.host, model.agent_id)):
            if owner is not None:
                hosts.setdefault(owner, []).append(host)
    return [AgentView(a.name, a.user_id, sorted(hosts.get(a.name, []))) for a in agents]


async def exists(session: AsyncSession, name: str) -> bool:
    return await session.get(Agent, name) is not None


async def _register(session: AsyncSession, user: User) -> Agent:
    """The record named after the user; whatever holds the name when two race (or when
    the name is taken) is returned as it is."""
    await session.execute(
        insert_ignore(
            session, Agent, {"name": user.name, "user_id": user.id, "created_at": utcnow()}
        )
    )
    agent = await session.get(Agent, user.name, populate_existing=True)
    assert agent is not None
    return agent


async def _agent_of(session: AsyncSession, user_id: str) -> Agent | None:
    return (await session.scalars(select(Agent).where(Agent.user_id == user_id))).first()


async def _is_service_user(session: AsyncSession, user_id: str) -> bool:
    held = await session.scalar(
        select(RoleAssignment.role)
        .join(Project, Project.id == RoleAssignment.project_id)
        .where(
            RoleAssignment.user_id == user_id,
            RoleAssignment.role == "service",
            Project.name == SERVICE_PROJECT_NAME,
        )
    )
    return held is not None
