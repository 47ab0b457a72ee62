from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.agent.backends import build_backends
from app.agent.config import AgentConfigError, load_config
from app.drivers.file import FileDriver, FileDriverOptions

GOOD = """
[agent]
api_url = "http://127.0.0.1:8776/"

[auth]
username = "pumice-agent"
password = "secret"
project_name = "service"

[[backends]]
name = "file1"
driver = "file"
path = "/var/lib/pumice/file1"
capacity_gb = 100

[[backends]]
name = "file2"
driver = "file"
path = "/var/lib/pumice/file2"
thin = false
availability_zone = "az2"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_a_good_config_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.agent.api_url == "http://127.0.0.1:8776"
    assert config.agent.host == socket.gethostname()
    assert config.agent_id == socket.gethostname()
    assert config.agent.availability_zone == "nova"
    assert config.agent.report_interval == 10
    assert config.agent.max_concurrent_jobs == 4
    assert config.agent.state_dir is None
    assert config.agent.api_urls == ["http://127.0.0.1:8776"]
    assert config.auth_url is None  # each API URL's own identity service
    assert config.auth.user_domain_id == "default"
    first, second = config.backends
    assert isinstance(first.options, FileDriverOptions)
    assert first.options.path == Path("/var/lib/pumice/file1")
    assert first.options.capacity_gb == 100
    assert first.options.thin is True
    assert isinstance(second.options, FileDriverOptions)
    assert second.options.thin is False
    assert config.backend_host(first) == f"{socket.gethostname()}@file1"


def test_backends_get_host_names_and_zones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace("[agent]", '[agent]\nhost = "node1"')))
    backends = build_backends(config)
    assert sorted(backends) == ["node1@file1", "node1@file2"]
    assert backends["node1@file1"].availability_zone == "nova"
    assert backends["node1@file2"].availability_zone == "az2"
    assert isinstance(backends["node1@file1"].driver, FileDriver)
    assert backends["node1@file1"].driver.pool_name == "file1"


def test_auth_url_can_point_elsewhere(tmp_path: Path) -> None:
    text = GOOD.replace(
        'project_name = "service"',
        'project_name = "service"\nauth_url = "https://keystone:5000/v3/"',
    )
    assert load_config(write(tmp_path, text)).auth_url == "https://keystone:5000/v3"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('api_url = "http://127.0.0.1:8776/"', ""), r"agent\.api_url: Field required"),
        (("http://127.0.0.1:8776/", "127.0.0.1:8776"), "api_url: .*http:// or https://"),
        (('"http://127.0.0.1:8776/"', "[]"), "api_url: .*at least one URL"),
        (('"http://127.0.0.1:8776/"', '["http://a:1", "http://a:1/"]'), "api_url: .*twice"),
        (("[agent]", "[agent]\nreport_interval = 0"), "report_interval: .*greater than 0"),
        (("[agent]", '[agent]\nhost = "a@b"'), "host: .*must not contain"),
        (("[agent]", '[agent]\nlog_level = "loud"'), "log_level: .*one of"),
        (("[agent]", '[agent]\nmetrics_address = "9102"'), "metrics_address: .*host:port"),
        (("[agent]", "[agent]\nreport_intervall = 5"), r"agent\.report_intervall: unknown"),
        (('password = "secret"\n', ""), r"auth\.password: Field required"),
        (
            ('driver = "file"\npath = "/var/lib/pumice/file1"', 'driver = "nfs"'),
            r"backends\[0\] \(file1\): unknown driver 'nfs'",
        ),
        (
            ("capacity_gb = 100", 'capacity_gb = "lots"'),
            r"backends\[0\] \(file1\): capacity_gb: .*valid number",
        ),
        (("capacity_gb = 100", "size = 1"), r"backends\[0\] \(file1\): size: unknown option"),
        (('path = "/var/lib/pumice/file1"\n', ""), r"backends\[0\] \(file1\): path: Field"),
        (('name = "file2"', 'name = "file1"'), "duplicate name file1"),
        (('name = "file2"', 'name = "a#b"'), r"backends\[1\] \(a#b\): name:"),
        (('name = "file1"\n', ""), r"backends\[0\]: name: Field required"),
    ],
)
def test_bad_configs_say_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(AgentConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")


def test_no_backends_is_an_error(tmp_path: Path) -> None:
    text = GOOD.split("[[backends]]")[0]
    with pytest.raises(AgentConfigError, match=r"backends: .*at least 1"):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match=r"not valid TOML: .*line 2"):
        load_config(write(tmp_path, "[agent]\napi_url = \n"))


def test_the_password_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without = GOOD.replace('password = "secret"\n', "", 1)
    monkeypatch.setenv("PUMICE_AGENT_PASSWORD", "from-the-environment")
    assert load_config(write(tmp_path, without)).auth.password == "from-the-environment"
    # The file's own password wins over the environment's.
    assert load_config(write(tmp_path, GOOD)).auth.password == "secret"
    monkeypatch.delenv("PUMICE_AGENT_PASSWORD")
    with pytest.raises(AgentConfigError, match=r"auth\.password: .*PUMICE_AGENT_PASSWORD"):
        load_config(write(tmp_path, without))


def test_several_api_urls_for_replicas(tmp_path: Path) -> None:
    text = GOOD.replace('"http://127.0.0.1:8776/"', '["http://api1:8776/", "https://api2:8776"]')
    config = load_config(write(tmp_path, text))
    assert config.agent.api_urls == ["http://api1:8776", "https://api2:8776"]
