"""The data directory is its owner's alone: the folder 0700 and every file the service
creates there 0600 whatever the umask, and an older, looser install is tightened on
start with one log line."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from app import datadir
from app.cli import cli
from app.config import Settings
from app.main import create_app
from tests.helpers import file_mode as mode

runner = CliRunner()


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[None]:
    app = create_app(settings, background=False)
    async with app.router.lifespan_context(app):
        yield


def test_a_new_install_is_private_under_a_permissive_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, permissive_umask: None
) -> None:
    data = tmp_path / "data"
    monkeypatch.delenv("PUMICE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PUMICE_TOKEN_KEYS", raising=False)
    monkeypatch.setenv("PUMICE_DATA_DIR", str(data))
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output

    async def look_while_serving() -> dict[str, int]:
        async with serving(Settings(data_dir=data)):
            # While the service runs SQLite holds its write-ahead log and shared memory.
            return {p.name: mode(p) for p in data.iterdir()}

    created = asyncio.run(look_while_serving())
    assert mode(data) == 0o700
    assert created == {
        "pumice.db": 0o600,
        "pumice.db-wal": 0o600,
        "pumice.db-shm": 0o600,
        "token-keys": 0o600,
    }


def test_an_existing_install_is_tightened_with_one_log_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    files = ["pumice.db", "pumice.db-wal", "pumice.db-shm", "token-keys"]
    files += ["agent.toml", "clouds.yaml"]
    for name in files:
        (data / name).write_text("x")
        os.chmod(data / name, 0o644)
    (data / "volumes").mkdir()
    os.chmod(data / "volumes", 0o755)
    outside = tmp_path / "shared.txt"
    outside.write_text("not ours to change")
    os.chmod(outside, 0o644)
    (data / "clouds.yaml").unlink()
    (data / "clouds.yaml").symlink_to(outside)  # a link is not followed
    files.remove("clouds.yaml")

    settings = Settings(data_dir=data, database_url="")
    with capture_logs() as logs:
        tightened = datadir.prepare(settings)
    assert mode(data) == 0o700 and mode(data / "volumes") == 0o700
    assert {name: mode(data / name) for name in files} == dict.fromkeys(files, 0o600)
    assert mode(outside) == 0o644
    assert len(tightened) == len(files) + 2
    assert [e["log_level"] for e in logs] == ["warning"]
    assert logs[0]["paths"] == tightened

    with capture_logs() as again:
        assert datadir.prepare(settings) == []
    assert again == []
