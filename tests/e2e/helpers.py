"""Helpers shared by the end-to-end tests: `pumice up` as a real process and the real
OpenStack client against it."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


class Up:
    def __init__(self, data_dir: Path, port: int, iscsi_port: int) -> None:
        self.data_dir, self.port, self.iscsi_port = data_dir, port, iscsi_port
        self.log = data_dir.parent / f"up-{port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.offset = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        self.offset = len(self.output())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PUMICE_", "OS_"))}
        self.process = subprocess.Popen(
            [
                str(BIN / "pumice"),
                "up",
                "--port",
                str(self.port),
                "--iscsi-port",
                str(self.iscsi_port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            umask=0o022,  # a usual login umask: what pumice creates must not depend on it
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if (
                    httpx.get(f"{self.endpoint}/v3/", timeout=1).status_code == 200
                    and self._agent_up()
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("pumice up did not come up:\n" + self.output())

    def _agent_up(self) -> bool:
        return "Ready:" in self.output()[self.offset :]

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def openstack(up: Up, *args: str) -> Any:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(up.data_dir / "clouds.yaml")}
    done = subprocess.run(
        [str(BIN / "openstack"), "--os-cloud", "pumice", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "-f" in args and "json" in args else done.stdout


def wait_for(predicate: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def volume_status(up: Up, name: str) -> str:
    status: str = openstack(up, "volume", "show", name, "-f", "json")["status"]
    return status


def client_env(up: Up, login: tuple[str, str, str] | None = None) -> dict[str, str]:
    """The OS_* variables of the service's admin (or of `login`: user, password,
    project), for the clients that read no clouds.yaml (cinderclient)."""
    import yaml

    auth = yaml.safe_load((up.data_dir / "clouds.yaml").read_text())["clouds"]["pumice"]["auth"]
    user, password, project = login or (auth["username"], auth["password"], auth["project_name"])
    return {
        **os.environ,
        "OS_AUTH_URL": auth["auth_url"],
        "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne",
    }


def cinder(up: Up, *args: str, login: tuple[str, str, str] | None = None) -> dict[str, str]:
    """Run the cinder client (as the admin, or `login`); its "Property | Value" table (or
    "Name | Value") as a mapping."""
    output = cinder_output(up, *args, login=login)
    rows = [line.split("|") for line in output.splitlines() if line.startswith("|")]
    return {row[1].strip(): row[2].strip() for row in rows if len(row) == 4}


def pumice(up: Up, *args: str) -> str:
    """Run the pumice CLI (identity commands) on `up`'s database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUMICE_", "OS_"))}
    done = subprocess.run(
        [str(BIN / "pumice"), *args],
        capture_output=True,
        text=True,
        env={**env, "PUMICE_DATA_DIR": str(up.data_dir)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def member_of_new_project(up: Up, name: str) -> tuple[str, str, str]:
    """A new project `name` with a member user of the same name: its login."""
    password = f"{name}-secret-password"
    pumice(up, "project", "create", name)
    pumice(
        up, "user", "create", name, "--password", password, "--project", name, "--role", "member"
    )
    return name, password, name


def openstack_as(up: Up, login: tuple[str, str, str], *args: str) -> Any:
    """The openstack client as `login` (user, password, project)."""
    env = {k: v for k, v in client_env(up, login).items() if k != "OS_CLIENT_CONFIG_FILE"}
    done = subprocess.run(
        [str(BIN / "openstack"), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "-f" in args and "json" in args else done.stdout


def cinder_output(up: Up, *args: str, login: tuple[str, str, str] | None = None) -> str:
    """Run the cinder client as the admin (or `login`); its output as printed."""
    done = subprocess.run(
        [str(BIN / "cinder"), *args],
        capture_output=True,
        text=True,
        env=client_env(up, login),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def backend_pools(up: Up) -> set[str]:
    return {p["Name"] for p in openstack(up, "volume", "backend", "pool", "list", "-f", "json")}


@contextmanager
def extra_agent(
    up: Up, folder: Path, host: str, auth: dict[str, str], backends: str, pools: set[str]
) -> Iterator[None]:
    """A real `pumice agent` of host `host` next to `pumice up`'s, logging in as `auth`
    (username, password, project_name), with `backends` (TOML tables); running once
    every pool of `pools` is reported, stopped on exit."""
    config = folder / f"{host}.toml"
    config.write_text(
        f"""[agent]
api_url = "{up.endpoint}"
host = "{host}"
report_interval = 2
state_dir = "{folder / f"{host}-state"}"

[auth]
username = "{auth["username"]}"
password = "{auth["password"]}"
project_name = "{auth["project_name"]}"

{backends}"""
    )
    log = (folder / f"{host}.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUMICE_", "OS_"))}
    agent = subprocess.Popen(
        [str(BIN / "pumice"), "agent", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for(lambda: pools <= backend_pools(up), timeout=60)
        yield
    finally:
        agent.terminate()
        agent.wait(timeout=30)


# --- the data path: attach over iSCSI, write and read with qemu over libiscsi -------------

MiB = 1024**2
DATA_SIZE = 64 * MiB
CLIENT_SECONDS = 120  # a client of a target that went away may hang: never wait forever
SERVER_1 = "5d3b8d59-3c1e-4f0b-9a55-0c2e4b6a1f01"
SERVER_2 = "5d3b8d59-3c1e-4f0b-9a55-0c2e4b6a1f02"
HOST_1 = "iqn.1994-05.com.example:host1"
HOST_2 = "iqn.1994-05.com.example:host2"


def attach(
    up: Up,
    volume: str,
    initiator: str,
    server: str,
    login: tuple[str, str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Create an attachment with the host's connector; its id and connection_info data.

    cinderclient, not `openstack volume attachment create`: the openstack client looks
    the server up in Nova (compute) first, and Pumice has no Nova."""
    shown = cinder(
        up,
        "--os-volume-api-version",
        "3.54",
        "attachment-create",
        "--connect",
        "True",
        "--ip",
        "127.0.0.1",
        "--initiator",
        initiator,
        volume,
        server,
        login=login,
    )
    assert shown["driver_volume_type"] == "iscsi"
    data: dict[str, Any] = ast.literal_eval(shown["data"])  # the client prints a Python dict
    return shown["id"], data


def iscsi_url(data: dict[str, Any], password: str | None = None) -> str:
    user, secret = data["auth_username"], password or data["auth_password"]
    return (
        f"iscsi://{user}%{secret}@{data['target_portal']}/{data['target_iqn']}/{data['target_lun']}"
    )


def qemu(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_SECONDS)


def write_through(data: dict[str, Any], source: Path) -> None:
    done = qemu("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(source), iscsi_url(data))
    assert done.returncode == 0, done.stderr


def read_through(data: dict[str, Any], into: Path) -> str:
    """sha256 of the first DATA_SIZE bytes read through the target."""
    into.unlink(missing_ok=True)
    done = qemu(
        "qemu-img",
        "dd",
        "-f",
        "raw",
        "-O",
        "raw",
        f"if={iscsi_url(data)}",
        f"of={into}",
        "bs=1M",
        f"count={DATA_SIZE // MiB}",
    )
    assert done.returncode == 0, done.stderr
    return hashlib.sha256(into.read_bytes()).hexdigest()


def random_image(path: Path) -> str:
    path.write_bytes(os.urandom(DATA_SIZE))
    return hashlib.sha256(path.read_bytes()).hexdigest()
