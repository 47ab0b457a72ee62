"""`pumice project|user|role`: identity management straight on the database.

Each command opens the database the settings name (PUMICE_DATABASE_URL, or the SQLite
file in PUMICE_DATA_DIR), refuses one that is not migrated, does its work in one
transaction, and exits 1 with a readable message when the domain says no."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from app.context import ROLES
from app.lazy import lazy

# Loaded when a command runs, not when `pumice --help` lists them.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.identity import service
else:
    service = lazy("app.identity.service")

T = TypeVar("T")

project_app = typer.Typer(help="Manage projects.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
role_app = typer.Typer(help="Grant and revoke roles.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
PasswordOption = Annotated[
    str,
    typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="The password (prompted for, hidden, when omitted).",
    ),
]
RoleArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")]


# --- running a command against the database ----------------------------------------


def run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the configured database."""
    from sqlalchemy.exc import DBAPIError

    from app.config import Settings
    from app.db.migrate import NotMigrated
    from app.errors import PumiceError

    url = Settings().resolved_database_url()
    _require_database_file(url)
    try:
        return asyncio.run(_in_transaction(url, work))
    except PumiceError as exc:
        fail(exc.message)
    except NotMigrated as exc:
        fail(str(exc))
    except (OSError, DBAPIError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
        fail(f"Cannot use the database at {_shown(url)}: {reason}")


async def _in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from app.db.migrate import ensure_migrated
    from app.db.session import make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        await ensure_migrated(engine)
        async with make_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _require_database_file(url: str) -> None:
    from sqlalchemy.engine import make_url

    from app.db.session import is_sqlite

    # SQLite would silently create an empty file; say what to do instead.
    if not is_sqlite(url):
        return
    database = make_url(url).database
    if database and database != ":memory:" and not Path(database).exists():
        fail(
            f"There is no database at {database}. Create it with 'pumice db upgrade' "
            "(or 'pumice up'), or set PUMICE_DATA_DIR / PUMICE_DATABASE_URL."
        )


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def fail(message: str) -> NoReturn:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def print_rows(headers: Sequence[str], rows: Sequence[Sequence[Any]], as_json: bool) -> None:
    if as_json:
        keys = [h.lower().replace(" ", "_") for h in headers]
        typer.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return
    text = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    for line in [list(headers), *text]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


# --- projects --------------------------------------------------------------------


@project_app.command("create")
def project_create(
    name: str,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
) -> None:
    """Create a project."""
    project = run(lambda s: service.create_project(s, name, description))
    typer.echo(f"Created project {project.name} ({project.id}).")


@project_app.command("list")
def project_list(as_json: JsonOption = False) -> None:
    """List projects."""
    projects = run(service.list_projects)
    rows = [(p.name, p.id, p.enabled, p.description) for p in projects]
    print_rows(("Name", "ID", "Enabled", "Description"), rows, as_json)


@project_app.command("delete")
def project_delete(name: str) -> None:
    """Delete a project (by name or id) and every role assignment on it."""
    run(lambda s: service.delete_project(s, name))
    typer.echo(f"Deleted project {name}.")


# --- users -----------------------------------------------------------------------


@user_app.command("create")
def user_create(
    name: str,
    password: PasswordOption,
    project: Annotated[str | None, typer.Option(help="Default project (name or id).")] = None,
    role: Annotated[
        str | None, typer.Option(help="Also grant this role on the default project.")
    ] = None,
) -> None:
    """Create a user, optionally with a default project and a role there."""
    if role is not None and project is None:
        fail("--role needs --project: a role is held on a project.")

    async def create(session: AsyncSession) -> str:
        user = await service.create_user(session, name, password, project)
        if role is not None and project is not None:
            await service.add_role(session, user.id, project, role)
        return user.id

    user_id = run(create)
    typer.echo(f"Created user {name} ({user_id}).")
    if project is not None and role is None:
        typer.echo(f"It holds no role yet; grant one with: pumice role add {name} {project} member")


@user_app.command("list")
def user_list(as_json: JsonOption = False) -> None:
    """List users."""

    async def rows(session: AsyncSession) -> list[tuple[Any, ...]]:
        names = {p.id: p.name for p in await service.list_projects(session)}
        return [
            (u.name, u.id, u.enabled, names.get(u.default_project_id or ""))
            for u in await service.list_users(session)
        ]

    print_rows(("Name", "ID", "Enabled", "Default project"), run(rows), as_json)


@user_app.command("delete")
def user_delete(name: str) -> None:
    """Delete a user (by name or id) and its role assignments."""
    run(lambda s: service.delete_user(s, name))
    typer.echo(f"Deleted user {name}.")


@user_app.command("set-password")
def user_set_password(name: str, password: PasswordOption) -> None:
    """Change a user's password."""
    run(lambda s: service.set_password(s, name, password))
    typer.echo(f"Changed the password of {name}.")


@user_app.command("disable")
def user_disable(name: str) -> None:
    """Stop a user from authenticating; its tokens stop working too."""
    run(lambda s: service.set_user_enabled(s, name, False))
    typer.echo(f"Disabled user {name}.")


@user_app.command("enable")
def user_enable(name: str) -> None:
    """Let a disabled user authenticate again."""
    run(lambda s: service.set_user_enabled(s, name, True))
    typer.echo(f"Enabled user {name}.")


# --- roles -----------------------------------------------------------------------


@role_app.command("add")
def role_add(user: str, project: str, role: RoleArgument) -> None:
    """Grant ROLE to USER on PROJECT (admin on project 'admin' is cloud admin)."""
    run(lambda s: service.add_role(s, user, project, role))
    typer.echo(f"Granted {role} to {user} on {project}.")


@role_app.command("remove")
def role_remove(user: str, project: str, role: RoleArgument) -> None:
    """Revoke ROLE from USER on PROJECT; tokens carrying it stop working."""
    run(lambda s: service.remove_role(s, user, project, role))
    typer.echo(f"Revoked {role} from {user} on {project}.")


@role_app.command("list")
def role_list(
    user: Annotated[str | None, typer.Option(help="Only this user's roles.")] = None,
    project: Annotated[str | None, typer.Option(help="Only roles on this project.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List role assignments."""
    views = run(lambda s: service.list_role_assignments(s, user=user, project=project))
    rows = [(v.user_name, v.project_name, v.role) for v in views]
    print_rows(("User", "Project", "Role"), rows, as_json)
