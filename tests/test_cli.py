"""The pumice command: database checks before serving, and the files `up` writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli, write_agent_config, write_clouds_yaml

runner = CliRunner()


def test_serve_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUMICE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    result = runner.invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "pumice db upgrade" in result.output

    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output


def test_clouds_yaml_keeps_the_password_and_follows_the_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    write_clouds_yaml(path, "http://127.0.0.1:8776/identity/v3", "RegionOne", "s3cret")
    write_clouds_yaml(path, "http://127.0.0.1:9999/identity/v3", "RegionOne", None)
    cloud = yaml.safe_load(path.read_text())["clouds"]["pumice"]
    assert cloud["auth"]["password"] == "s3cret"
    assert cloud["auth"]["auth_url"] == "http://127.0.0.1:9999/identity/v3"
    assert cloud["region_name"] == "RegionOne"
    assert path.stat().st_mode & 0o077 == 0  # it holds a password


def test_agent_config_is_valid_toml_for_the_agent(tmp_path: Path) -> None:
    from app.agent.config import load_config

    path = tmp_path / "agent.toml"
    write_agent_config(path, "http://127.0.0.1:8776", tmp_path / "vols", "nova", 'p"w\\d')
    assert tomllib.loads(path.read_text())["auth"]["password"] == 'p"w\\d'
    write_agent_config(path, "http://127.0.0.1:9000", tmp_path / "vols", "nova", None)
    config = load_config(path)
    assert config.agent.api_url == "http://127.0.0.1:9000"
    assert config.auth.password == 'p"w\\d'
    assert config.backends[0].driver == "file"
