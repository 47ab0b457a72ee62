"""The container files, checked statically (no Docker engine here): every command they
run is a real `pumice` command with real options, every setting they pass is one the
service reads, the agent's config loads, and the shape the README promises holds
(PostgreSQL healthy before the schema is migrated once, two API replicas behind one
proxy, a non-root API image built from the lock file)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from app.agent.config import load_config
from app.cli import cli
from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Read by the agent from its environment (app/agent/config.py), not a Settings field.
AGENT_VARIABLES = {"PUMICE_AGENT_PASSWORD"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> dict[str, list[tuple[str, str]]]:
    """Each build stage's instructions, by stage name."""
    named: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in dockerfile_instructions():
        if word == "FROM":
            current = named.setdefault(rest.split()[-1], [])
        if current is not None:
            current.append((word, rest))
    return named


def exec_form(arguments: str) -> list[str]:
    parsed = yaml.safe_load(arguments)
    assert isinstance(parsed, list), f"not in exec form: {arguments}"
    return [str(part) for part in parsed]


def check_pumice_command(argv: list[str]) -> None:
    """argv names a `pumice` command and only options that command has."""
    assert argv[0] == "pumice", argv
    # Typer vendors its own click: groups are recognised by their commands.
    command: Any = typer.main.get_command(cli)
    args = argv[1:]
    while hasattr(command, "commands"):
        assert args, f"{argv}: names no command"
        assert args[0] in command.commands, f"{argv}: no command {args[0]!r}"
        command, args = command.commands[args[0]], args[1:]
    options = {opt for param in command.params for opt in param.opts if opt.startswith("-")}
    takes_value = {
        opt
        for param in command.params
        if param.param_type_name == "option" and not param.is_flag
        for opt in param.opts
    }
    positional = [p for p in command.params if p.param_type_name == "argument"]
    given = 0
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-"):
            assert arg in options, f"{argv}: {command.name} has no option {arg}"
            index += 2 if arg in takes_value else 1
        else:
            given += 1
            index += 1
    assert given == len(positional), f"{argv}: {command.name} takes {len(positional)} arguments"


def pumice_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in SERVICES.items()
        if str(service.get("image", "")).startswith("pumice-")
    }


def test_every_pumice_command_in_compose_and_dockerfile_is_a_real_one() -> None:
    commands = [service["command"] for service in pumice_services().values()]
    commands += [exec_form(rest) for word, rest in dockerfile_instructions() if word == "CMD"]
    run_by_pumice = [argv for argv in commands if argv[0] == "pumice"]
    assert len(run_by_pumice) >= 6
    for argv in run_by_pumice:
        check_pumice_command(argv)


def test_the_command_check_refuses_what_the_cli_does_not_have() -> None:
    with pytest.raises(AssertionError, match="no option --workers"):
        check_pumice_command(["pumice", "serve", "--workers", "2"])
    with pytest.raises(AssertionError, match="no command 'migrate'"):
        check_pumice_command(["pumice", "db", "migrate"])
    with pytest.raises(AssertionError, match="takes 1 arguments"):
        check_pumice_command(["pumice", "agent-user", "create"])


def test_every_setting_passed_to_pumice_is_one_the_service_reads() -> None:
    known = {f"PUMICE_{name.upper()}" for name in Settings.model_fields} | AGENT_VARIABLES
    for name, service in pumice_services().items():
        for variable in service.get("environment", {}):
            assert variable in known, f"{name}: {variable} is read by nothing"
    dockerfile_env = " ".join(rest for word, rest in dockerfile_instructions() if word == "ENV")
    for variable in re.findall(r"\b(PUMICE_\w+)=", dockerfile_env):
        assert variable in known, f"Dockerfile: {variable} is read by nothing"


def test_postgres_is_healthy_before_one_migration_and_the_replicas_start_after_it() -> None:
    assert SERVICES["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert SERVICES["migrate"]["command"] == ["pumice", "db", "upgrade"]
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    replicas = [
        name for name, s in pumice_services().items() if s["command"][:2] == ["pumice", "serve"]
    ]
    assert len(replicas) >= 2
    for name in replicas:
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        # `serve` checks the schema and refuses to run on an unmigrated database.
        assert "--migrate" not in SERVICES[name]["command"]
        url = SERVICES[name]["environment"]["PUMICE_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url


def test_one_proxy_port_in_front_of_every_replica_with_metrics_kept_inside() -> None:
    proxy = SERVICES["proxy"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in proxy["volumes"]}
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "/etc/nginx/conf.d/" in mounted["./deploy/nginx.conf"]
    upstream = set(re.findall(r"server (\w+):8776", config))
    replicas = {n for n, s in pumice_services().items() if s["command"][:2] == ["pumice", "serve"]}
    assert upstream == replicas
    assert proxy["ports"] == ["8776:8776"]
    assert re.search(r"location = /metrics \{\s*return 404;", config)
    for name in replicas:
        assert "ports" not in SERVICES[name]  # reached only through the proxy


def test_the_agent_config_loads_and_names_the_agent_user_and_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = SERVICES["agent"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in agent["volumes"]}
    path = agent["command"][agent["command"].index("--config") + 1]
    monkeypatch.setenv("PUMICE_AGENT_PASSWORD", "from-compose")
    config = load_config(ROOT / mounted[path])
    assert config.agent.api_url == "http://proxy:8776"
    user_command = SERVICES["agent-user"]["command"]
    assert config.auth.username == user_command[user_command.index("create") + 1]
    assert config.auth.password == "from-compose"
    # Its volumes folder is tgtd's too (tgtd opens the files it exports).
    backend_path = str(config.backends[0].options.path)  # type: ignore[attr-defined]
    assert f"volumes:{backend_path}" in SERVICES["tgtd"]["volumes"]
    assert f"volumes:{backend_path}" in agent["volumes"]
    assert agent["network_mode"] == "service:tgtd"
    assert SERVICES["tgtd"]["command"][0] == "tgtd"


def test_every_file_compose_mounts_is_in_the_repository() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name} mounts missing {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"


def test_the_api_image_is_small_non_root_and_built_from_the_lock_file() -> None:
    by_stage = stages()
    assert set(by_stage) >= {"build", "runtime", "api", "agent"}
    build = " ".join(rest for word, rest in by_stage["build"] if word == "RUN")
    assert "uv sync --frozen --no-dev" in build
    copied = " ".join(rest for word, rest in by_stage["build"] if word == "COPY")
    assert "uv.lock" in copied and "pyproject.toml" in copied
    assert re.search(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ ", copied)  # a pinned uv
    # The final API stage runs as a named user, checks /healthz, and adds no packages.
    api = dict(by_stage["api"])
    assert api["USER"] not in {"root", "0"}
    assert "/healthz" in api["HEALTHCHECK"]
    assert not any(word == "RUN" and "apt-get" in rest for word, rest in by_stage["api"])
    assert not any(word == "RUN" and "apt-get" in rest for word, rest in by_stage["runtime"])
    # The base image runs a Python the project supports.
    base = re.search(r"python:(\d+)\.(\d+)", DOCKERFILE)
    assert base is not None and (int(base.group(1)), int(base.group(2))) >= (3, 11)
    # What the image copies is what the app needs at run time (migrations included).
    for source in ("app", "alembic", "alembic.ini"):
        assert (ROOT / source).exists() and f" {source}" in f" {copied}"


def test_the_agent_image_has_the_tools_its_drivers_run() -> None:
    install = " ".join(rest for word, rest in stages()["agent"] if word == "RUN")
    for package in ("tgt", "qemu-utils", "lvm2"):
        assert package in shlex.split(install)
