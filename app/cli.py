"""The `pumice` command: up (all-in-one), serve, agent, db, and identity management."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from app.lazy import lazy

if TYPE_CHECKING:
    from app import config
else:
    config = lazy("app.config")

cli = typer.Typer(
    help="Pumice: an OpenStack Block Storage compatible control plane.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_app, name="db")


def _mount_identity() -> None:
    from app.identity.agent_cli import agent_user_app
    from app.identity.cli import project_app, role_app, user_app
    from app.identity.keys_cli import token_keys_app

    cli.add_typer(project_app, name="project", help="Manage projects.")
    cli.add_typer(user_app, name="user", help="Manage users.")
    cli.add_typer(role_app, name="role", help="Grant and revoke roles.")
    cli.add_typer(token_keys_app, name="token-keys", help="Token signing keys.")
    cli.add_typer(agent_user_app, name="agent-user", help="Storage agents' users and hosts.")


_mount_identity()


def _settings(**overrides: Any) -> config.Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    return config.Settings(**values)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database (PUMICE_DATABASE_URL) to the newest schema."""
    from app import datadir
    from app.db import migrate

    settings = _settings()
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        datadir.prepare(settings)
    migrate.upgrade(url)
    typer.echo(f"Database is at revision {migrate.head_revision()}.")


async def _check_migrated(settings: config.Settings) -> str | None:
    from app.db import migrate
    from app.db.session import make_engine

    url = settings.resolved_database_url()
    engine = make_engine(url)
    try:
        await migrate.ensure_migrated(engine)
    except migrate.NotMigrated as exc:
        return str(exc)
    except Exception as exc:
        return f"Cannot open the database: {exc}"
    finally:
        await engine.dispose()
    return None


def _check_token_keys(settings: config.Settings) -> str | None:
    from app.identity.keyring import KeyRing, KeyRingError

    if settings.token_keys is None:
        return None
    try:
        KeyRing.from_setting(settings.token_keys.get_secret_value())
    except KeyRingError as exc:
        return f"PUMICE_TOKEN_KEYS: {exc}"
    return None


def _run_server(settings: config.Settings, *, run_migrations: bool, on_started: Any = None) -> None:
    import uvicorn

    from app.logs import configure_logging
    from app.main import create_app

    configure_logging()
    app = create_app(settings, run_migrations=run_migrations)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        watcher = asyncio.create_task(_announce(server, app, on_started)) if on_started else None
        await server.serve()
        if watcher:
            watcher.cancel()

    # uvicorn handles SIGINT/SIGTERM itself and re-raises the signal once it has shut
    # down; turning SIGTERM into KeyboardInterrupt lets callers' cleanup run then.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it handled; shutdown already finished cleanly.
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _dies_with_parent(signum: int) -> Callable[[], None]:
    """For a child of `pumice up` (the agent, tgtd): get `signum` if `pumice up` dies
    without stopping it. tgtd ignores SIGTERM, so it is given SIGKILL."""

    def arm() -> None:
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signum)  # PR_SET_PDEATHSIG
        except OSError:
            pass  # not Linux: the normal shutdown path still stops the child

    return arm


async def _announce(server: Any, app: Any, on_started: Any) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.05)
    on_started(app)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Migrate the database first.")] = False,
) -> None:
    """Run one API server (PostgreSQL in production: PUMICE_DATABASE_URL)."""
    settings = _settings(host=host, port=port)
    problem = _check_token_keys(settings)
    if problem:
        _fail(problem)
    if not migrate:
        problem = asyncio.run(_check_migrated(settings))
        if problem:
            _fail(problem)
    typer.echo(f"Pumice API on {settings.resolved_public_url()}")
    _run_server(settings, run_migrations=migrate)


@cli.command()
def agent(
    config: Annotated[Path, typer.Option("--config", "-c", help="Agent config (TOML).")],
) -> None:
    """Run a storage agent with the backends of its config file."""
    from app.agent.config import AgentConfigError
    from app.agent.service import run_agent

    try:
        run_agent(config)
    except AgentConfigError as exc:
        _fail(f"Bad agent config: {exc}")


# --- all-in-one ------------------------------------------------------------------------------


async def _bootstrap(settings: config.Settings) -> tuple[Any, str | None]:
    """Admin credentials (first start only) and the local agent's password (new only)."""
    from app.db.session import make_engine, make_sessionmaker
    from app.identity import agents
    from app.identity import service as identity

    engine = make_engine(settings.resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            credentials = await identity.bootstrap(session)
            agent_password = await agents.ensure_agent_user(session)
    finally:
        await engine.dispose()
    return credentials, agent_password


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def write_clouds_yaml(path: Path, auth_url: str, region: str, password: str | None) -> None:
    """clouds.yaml with cloud 'pumice'; keeps the stored password when none is given."""
    import yaml

    doc: dict[str, Any] = {}
    if path.exists():
        doc = yaml.safe_load(path.read_text()) or {}
    cloud = doc.setdefault("clouds", {}).setdefault("pumice", {})
    auth = cloud.setdefault("auth", {})
    auth.update(
        {
            "auth_url": auth_url,
            "username": "admin",
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }
    )
    if password is not None:
        auth["password"] = password
    cloud.update(
        {
            "region_name": region,
            "identity_api_version": 3,
            "volume_api_version": 3,
            "interface": "public",
        }
    )
    _write_private(path, yaml.safe_dump(doc, sort_keys=False))


def write_agent_config(
    path: Path,
    api_url: str,
    volumes_dir: Path,
    zone: str,
    password: str | None,
    backups_dir: Path | None = None,
    backend_options: Mapping[str, str | int] | None = None,
) -> None:
    """`backend_options`: more options of the file backend (how it exports volumes)."""
    if password is None:
        if not path.exists():
            _fail(
                f"{path} is missing and the local agent's password is not known; reset it "
                "with 'pumice user set-password pumice-agent' and write the file again."
            )
        import tomllib

        password = tomllib.loads(path.read_text())["auth"]["password"]
    assert password is not None
    _write_private(
        path,
        f"""# Written by 'pumice up': the all-in-one agent with one file backend.
[agent]
api_url = {_toml_str(api_url)}
host = "local"
availability_zone = {_toml_str(zone)}
report_interval = 10

[auth]
username = "pumice-agent"
password = {_toml_str(password)}
project_name = "service"

[[backends]]
name = "file"
driver = "file"
path = {_toml_str(str(volumes_dir))}
"""
        + "".join(
            f"{key} = {_toml_str(value) if isinstance(value, str) else value}\n"
            for key, value in (backend_options or {}).items()
        )
        + (
            ""
            if backups_dir is None
            else f"""
# The agent is also the backup service: backups of its volumes go to this folder.
[backup]
repository = {_toml_str(str(backups_dir))}
"""
        ),
    )


@cli.command()
def up(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8776,
    data_dir: Annotated[Path, typer.Option(help="Database, volumes and credentials.")] = Path(
        "pumice-data"
    ),
    iscsi_port: Annotated[
        int, typer.Option(help="Port of the private iSCSI portal volumes are attached through.")
    ] = 3260,
) -> None:
    """All in one: the API on SQLite plus a local agent with a file backend (exported over
    iSCSI by a private tgtd when tgt is installed)."""
    from app import datadir, tgtd
    from app.db import migrate
    from app.logs import configure_logging

    configure_logging()
    data_dir = data_dir.resolve()
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=os.environ.get("PUMICE_DATABASE_URL") or None,
    )
    datadir.prepare(settings)
    volumes_dir = data_dir / "volumes"
    datadir.make_private_dir(volumes_dir)
    migrate.upgrade(settings.resolved_database_url())
    credentials, agent_password = asyncio.run(_bootstrap(settings))
    endpoint = settings.resolved_public_url()
    clouds = data_dir / "clouds.yaml"
    write_clouds_yaml(
        clouds,
        f"{endpoint}/identity/v3",
        settings.region,
        credentials.password if credentials else None,
    )
    exports: dict[str, str | int] = {}
    target: tgtd.PrivateTgtd | None
    try:
        target = tgtd.start(
            host, iscsi_port, data_dir / "tgtd.log", preexec_fn=_dies_with_parent(signal.SIGKILL)
        )
    except tgtd.TgtdUnavailable as exc:
        target = None
        typer.secho(f"  No iSCSI exports: {exc}.", fg=typer.colors.YELLOW, err=True)
    else:
        # Hosts attach at the address clients reach the API at (not a wildcard).
        exports = {
            "target_ip_address": urlsplit(endpoint).hostname or host,
            "target_port": target.portal_port,
            "tgt_control_port": target.control_port,
        }
    agent_config = data_dir / "agent.toml"
    write_agent_config(
        agent_config,
        endpoint,
        volumes_dir,
        settings.default_availability_zone,
        agent_password,
        backups_dir=data_dir / "backups",
        backend_options=exports,
    )

    typer.echo(f"Pumice is starting on {endpoint}  (data in {data_dir})")
    typer.echo(f"  Block Storage API v3: {endpoint}/v3/")
    typer.echo(f"  Identity (Keystone v3): {endpoint}/identity/v3")
    if credentials:
        typer.echo("  First start: created the admin user. Keep these, they are shown once:")
        typer.echo(f"    username: {credentials.user_name}  project: {credentials.project_name}")
        typer.echo(f"    password: {credentials.password}")
    typer.echo(f"  OS_CLIENT_CONFIG_FILE={clouds} openstack --os-cloud pumice volume list")
    if target is not None:
        typer.echo(
            f"  iSCSI portal: {exports['target_ip_address']}:{target.portal_port} "
            f"(a private tgtd, control port {target.control_port})"
        )

    agent_process: list[subprocess.Popen[bytes]] = []
    background: list[asyncio.Task[None]] = []

    def spawn_agent() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "agent", "--config", str(agent_config)],
            start_new_session=True,
            preexec_fn=_dies_with_parent(signal.SIGTERM),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def start_agent(app: Any) -> None:
        agent_process.append(spawn_agent())
        loop = asyncio.get_running_loop()
        background.append(loop.create_task(_announce_ready(app)))
        background.append(loop.create_task(_watch_agent()))

    async def _watch_agent() -> None:
        # The agent exits non-zero when it cannot go on; all in one means restarting it.
        while True:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(_watch_tgtd)
            code = agent_process[-1].poll()
            if code is not None:
                typer.secho(
                    f"The local agent exited ({code}); restarting it.",
                    fg=typer.colors.YELLOW,
                    err=True,
                )
                await asyncio.sleep(2.0)
                agent_process.append(spawn_agent())

    def _watch_tgtd() -> None:
        # A dead tgtd took every export with it: a new one on the same control port and
        # portal, then an agent restart, which exports again what is attached.
        nonlocal target
        if target is None or target.alive():
            return
        typer.secho("The private tgtd exited; restarting it.", fg=typer.colors.YELLOW, err=True)
        try:
            target = tgtd.restart(
                target, data_dir / "tgtd.log", preexec_fn=_dies_with_parent(signal.SIGKILL)
            )
        except tgtd.TgtdUnavailable as exc:
            typer.secho(f"  Cannot restart tgtd: {exc}.", fg=typer.colors.RED, err=True)
            return
        if agent_process[-1].poll() is None:
            agent_process[-1].send_signal(signal.SIGTERM)

    async def _announce_ready(app: Any) -> None:
        # Ready means a volume can be placed: the agent's first report has arrived.
        for _ in range(1800):
            if app.state.runtime.cache.backends():
                typer.echo(
                    "Ready: the local agent reported its file backend. Ctrl-C stops everything."
                )
                return
            await asyncio.sleep(0.05)
        typer.secho(
            "The local agent has not reported after 90 s; see its log above.",
            fg=typer.colors.YELLOW,
            err=True,
        )

    try:
        _run_server(settings, run_migrations=False, on_started=start_agent)
    finally:
        for process in agent_process:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if target is not None:
            target.stop()
        typer.echo("Pumice stopped.")


def main() -> None:
    from app.datadir import restrict_umask

    # Before anything is created: the database, keys and volumes are the service's alone.
    restrict_umask()
    cli()


if __name__ == "__main__":
    main()
