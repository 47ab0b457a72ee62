"""Moving a volume between two agents through the real clients: `pumice up` (its agent
serves local@file, exported through its private tgtd) plus a second real agent, "node2"
with its own identity, its own private tgtd and a file backend x. A retype with
`--retype-policy on-demand` moves the volume to x and `cinder migrate` moves it back;
each time the data crosses over iSCSI from the source agent's export for the copy,
arrives byte for byte, the volume keeps its id, and no target or CHAP account is left
on either tgtd."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.drivers.copy import checksum
from tests.conftest import need
from tests.drivers.helpers import PrivateTgtd
from tests.e2e.helpers import BIN, Up, cinder, extra_agent, openstack, wait_for

pytestmark = pytest.mark.e2e

NODE2_PASSWORD = "node2-agent-password-0123456789"


@dataclass(frozen=True)
class Node2:
    folder: Path  # backend x's volumes
    tgtd: PrivateTgtd


def up_tgtd(up: Up) -> PrivateTgtd:
    """`pumice up`'s private tgtd, as its agent config names it."""
    import tomllib

    backend = tomllib.loads((up.data_dir / "agent.toml").read_text())["backends"][0]
    need("tgt_control_port" in backend, "pumice up's private tgtd")
    return PrivateTgtd(backend["tgt_control_port"], "127.0.0.1", backend["target_port"])


@pytest.fixture
def node2(up: Up, tmp_path: Path, tgtd: PrivateTgtd) -> Iterator[Node2]:
    """A second agent with an identity of its own (`pumice agent-user create`), serving
    backend x; it exports through the test's private tgtd and reads other agents'
    exports from 127.0.0.1 (its `target_ip_address`, reported as its initiator address)."""
    need(bool(shutil.which("qemu-img")), "qemu-img (qemu-utils, qemu-block-extra)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUMICE_", "OS_"))}
    made = subprocess.run(
        [str(BIN / "pumice"), "agent-user", "create", "node2", "--password", NODE2_PASSWORD],
        capture_output=True,
        text=True,
        env={**env, "PUMICE_DATA_DIR": str(up.data_dir)},
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    auth = {"username": "node2", "password": NODE2_PASSWORD, "project_name": "service"}
    backend = f"""[[backends]]
name = "x"
driver = "file"
path = "{tmp_path / "x"}"
target_ip_address = "127.0.0.1"
target_port = {tgtd.port}
tgt_control_port = {tgtd.control_port}
"""
    with extra_agent(up, tmp_path, "node2", auth, backend, {"node2@x#x"}):
        yield Node2(tmp_path / "x", tgtd)


def shown(up: Up, name: str) -> dict[str, str]:
    volume: dict[str, str] = openstack(up, "volume", "show", name, "-f", "json")
    return volume


def settled(up: Up, name: str, host: str) -> bool:
    volume = shown(up, name)
    assert volume["status"] != "error", volume
    assert volume["os-vol-mig-status-attr:migstat"] != "error", up.output()[-5000:]
    return volume["os-vol-host-attr:host"] == host and volume["status"] == "available"


def no_leftovers(*daemons: PrivateTgtd) -> bool:
    return all(d.targets() == [] and d.accounts() == [] for d in daemons)


def test_retype_and_migrate_between_agents_move_the_data_over_iscsi(up: Up, node2: Node2) -> None:
    local = up_tgtd(up)
    openstack(up, "volume", "type", "create", "--property", "volume_backend_name=file", "on-up")
    openstack(up, "volume", "type", "create", "--property", "volume_backend_name=x", "on-x")
    openstack(up, "volume", "type", "create", "anywhere")
    volume_id = openstack(
        up, "volume", "create", "--size", "1", "--type", "on-up", "v", "-f", "json"
    )["id"]
    wait_for(lambda: settled(up, "v", "local@file#file"), timeout=60)
    on_up = up.data_dir / "volumes" / f"volume-{volume_id}"
    on_x = node2.folder / f"volume-{volume_id}"
    with open(on_up, "r+b") as f:
        f.write(os.urandom(3 * 1024 * 1024))
        f.seek(600 * 1024 * 1024 + 7)
        f.write(b"data in the middle of the volume")
        f.seek(1024**3 - 512)
        f.write(os.urandom(512))
    digest = checksum(on_up)

    # Retype to a type only the other agent's backend serves: a migration between agents.
    openstack(up, "volume", "set", "--type", "on-x", "--retype-policy", "on-demand", "v")
    wait_for(lambda: settled(up, "v", "node2@x#x"), timeout=180)
    volume = shown(up, "v")
    assert volume["id"] == volume_id and volume["type"] == "on-x"
    assert volume["os-vol-mig-status-attr:migstat"] == "success"
    assert checksum(on_x) == digest
    wait_for(lambda: not on_up.exists(), timeout=60)  # the old copy is removed ...
    wait_for(lambda: no_leftovers(local, node2.tgtd), timeout=30)  # ... with its export

    # And back with cinder migrate (admin), the other agent now the source.
    openstack(up, "volume", "set", "--type", "anywhere", "v")
    cinder(up, "migrate", "--force-host-copy", "True", volume_id, "local@file#file")
    wait_for(lambda: settled(up, "v", "local@file#file"), timeout=180)
    assert shown(up, "v")["id"] == volume_id
    assert checksum(on_up) == digest
    wait_for(lambda: not on_x.exists(), timeout=60)
    wait_for(lambda: no_leftovers(local, node2.tgtd), timeout=30)

    openstack(up, "volume", "delete", "v")
    wait_for(lambda: openstack(up, "volume", "list", "-f", "json") == [], timeout=60)
    assert not on_up.exists()
