"""`pumice agent-user`: storage agents' identities and the hosts bound to them, straight
on the database (as the identity commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from app.identity.cli import JsonOption, print_rows, run
from app.lazy import lazy

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.db import models
    from app.identity import agents
    from app.volumes.capacity import agent_hosts
else:
    models = lazy("app.db.models")
    agents = lazy("app.identity.agents")
    agent_hosts = lazy("app.volumes.capacity.agent_hosts")

agent_user_app = typer.Typer(
    help="Storage agents: their users and the hosts they serve.", no_args_is_help=True
)


@agent_user_app.command("create")
def agent_user_create(
    name: str,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="PUMICE_AGENT_PASSWORD",
            help="The password (a random one is made and shown when omitted).",
        ),
    ] = None,
    if_missing: Annotated[
        bool,
        typer.Option(
            "--if-missing",
            help="Do nothing when agent NAME exists (a deployment's first-run step, "
            "run at every start).",
        ),
    ] = False,
) -> None:
    """Create user NAME with the service role on project 'service', registered as agent
    NAME. Put its name and password in the agent's config ([auth])."""

    async def create(session: AsyncSession) -> str | None:
        if if_missing and await agents.exists(session, name.strip()):
            return None
        _, secret = await agents.create_agent_user(session, name, password)
        return secret

    secret = run(create)
    if secret is None:
        typer.echo(f"Agent {name.strip()} exists: unchanged.")
        return
    typer.echo(f"Created agent {name.strip()}.")
    if not password:
        typer.echo(f"Its password, shown once: {secret}")


@agent_user_app.command("list")
def agent_user_list(as_json: JsonOption = False) -> None:
    """List agents and the hosts bound to them."""
    views = run(agents.list_agents)
    rows = [(v.name, v.user_id, ", ".join(v.hosts)) for v in views]
    print_rows(("Name", "User ID", "Hosts"), rows, as_json)


@agent_user_app.command("reassign")
def agent_user_reassign(host: str, agent: str) -> None:
    """Move HOST (a backend 'node@backend' or backup service 'node@backup') to AGENT;
    jobs the previous agent runs there are retried by the new one."""
    run(lambda s: agent_hosts.reassign(s, host, agent, models.utcnow()))
    typer.echo(f"Host {host} is now served by agent {agent}.")
