"""`pumice project|user|role` against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.identity.cli import project_app, role_app, user_app
from tests.identity.helpers import Cli

pytestmark = pytest.mark.both_databases  # the CLI on each database URL


def test_projects(cli: Cli) -> None:
    assert "Created project demo" in cli(project_app, "create", "demo", "-d", "Demo things")
    cli(project_app, "create", "other")
    listed = json.loads(cli(project_app, "list", "--json"))
    assert [(p["name"], p["description"]) for p in listed] == [
        ("demo", "Demo things"),
        ("other", ""),
    ]
    table = cli(project_app, "list").splitlines()
    assert table[0].split() == ["Name", "ID", "Enabled", "Description"]
    assert "Deleted project other" in cli(project_app, "delete", "other")
    assert [p["name"] for p in json.loads(cli(project_app, "list", "--json"))] == ["demo"]


def test_clear_errors_exit_1(cli: Cli) -> None:
    cli(project_app, "create", "demo")
    assert "Project 'demo' already exists." in cli(project_app, "create", "demo", code=1)
    assert "Could not find project: nowhere." in cli(project_app, "delete", "nowhere", code=1)
    cli(user_app, "create", "alice", "--password", "pw")
    assert "Unknown role 'boss'" in cli(role_app, "add", "alice", "demo", "boss", code=1)
    assert "Could not find user: bob." in cli(role_app, "add", "bob", "demo", "member", code=1)
    assert "already exists" in cli(user_app, "create", "alice", "--password", "x", code=1)
    out = cli(user_app, "create", "x", "--password", "x", "--role", "member", code=1)
    assert "needs --project" in out
    cli(project_app, "create", "admin")
    assert "cannot be deleted" in cli(project_app, "delete", "admin", code=1)


def test_users_and_roles(cli: Cli) -> None:
    cli(project_app, "create", "demo")
    out = cli(user_app, "create", "alice", "--password", "pw-a", "--project", "demo")
    assert "Created user alice" in out
    assert "pumice role add alice demo member" in out  # no role yet: a hint
    cli(user_app, "create", "bob", "--password", "pw-b", "--project", "demo", "--role", "reader")
    users = json.loads(cli(user_app, "list", "--json"))
    assert [(u["name"], u["default_project"], u["enabled"]) for u in users] == [
        ("alice", "demo", True),
        ("bob", "demo", True),
    ]
    assert "Granted member to alice on demo" in cli(role_app, "add", "alice", "demo", "member")
    assert cli.login("alice", "pw-a", "demo").roles == ("member",)
    assert cli.login("bob", "pw-b", None).roles == ("reader",)
    roles = json.loads(cli(role_app, "list", "--json", "--project", "demo"))
    assert [(r["user"], r["role"]) for r in roles] == [("alice", "member"), ("bob", "reader")]

    cli(role_app, "remove", "alice", "demo", "member")
    assert "has no role" in cli(role_app, "remove", "alice", "demo", "member", code=1)
    assert json.loads(cli(role_app, "list", "--json", "--user", "alice")) == []

    cli(user_app, "disable", "bob")
    with pytest.raises(Exception, match="requires authentication"):
        cli.login("bob", "pw-b", "demo")
    cli(user_app, "enable", "bob")
    cli.login("bob", "pw-b", "demo")

    cli(user_app, "delete", "alice")
    assert [u["name"] for u in json.loads(cli(user_app, "list", "--json"))] == ["bob"]


def test_passwords_are_prompted_hidden_with_confirmation(cli: Cli) -> None:
    cli(project_app, "create", "demo")
    cli(
        user_app,
        "create",
        "carol",
        "--project",
        "demo",
        "--role",
        "member",
        stdin="s3cret\ns3cret\n",
    )
    assert cli.login("carol", "s3cret", "demo").user.name == "carol"
    cli(user_app, "set-password", "carol", stdin="n3w\nn3w\n")
    assert cli.login("carol", "n3w", "demo").user.name == "carol"
    out = cli(user_app, "set-password", "carol", "--password", "third")
    assert "Changed the password of carol" in out
    assert cli.login("carol", "third", "demo").user.name == "carol"


def test_an_unmigrated_or_missing_database_is_refused(tmp_path: Path) -> None:
    missing = Cli(f"sqlite+aiosqlite:///{tmp_path / 'nothing.db'}")
    assert "There is no database" in missing(project_app, "list", code=1)
    assert not (tmp_path / "nothing.db").exists()

    empty = tmp_path / "empty.db"
    empty.touch()
    assert "pumice db upgrade" in Cli(f"sqlite+aiosqlite:///{empty}")(project_app, "list", code=1)


def test_an_unreachable_database_is_a_clear_error() -> None:
    cli = Cli("postgresql+asyncpg://postgres:secret@127.0.0.1:1/none")
    out = cli(project_app, "list", code=1)
    assert "Cannot use the database at" in out and "secret" not in out
