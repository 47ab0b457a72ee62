"""Migration and retype by migration through the real OpenStack CLI: `pumice up` plus a
second real agent with two file backends; the data moves between them byte for byte."""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.drivers.copy import checksum
from tests.e2e.helpers import BIN, Up, extra_agent, openstack, volume_status, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def node2(up: Up, tmp_path: Path) -> Iterator[Path]:
    """An agent 'node2' serving backends x and y (folders tmp/x and tmp/y)."""
    auth = tomllib.loads((up.data_dir / "agent.toml").read_text())["auth"]
    backends = "".join(
        f'[[backends]]\nname = "{name}"\ndriver = "file"\npath = "{tmp_path / name}"\n\n'
        for name in ("x", "y")
    )
    with extra_agent(up, tmp_path, "node2", auth, backends, {"node2@x#x", "node2@y#y"}):
        yield tmp_path


def host_of(up: Up, name: str) -> str:
    shown = openstack(up, "volume", "show", name, "-f", "json")
    host: str = shown["os-vol-host-attr:host"]
    return host


def test_retype_on_demand_and_migrate_move_the_data(up: Up, node2: Path) -> None:
    for name, backend in (("on-x", "x"), ("on-y", "y")):
        openstack(
            up, "volume", "type", "create", "--property", f"volume_backend_name={backend}", name
        )
    openstack(up, "volume", "type", "create", "anywhere")
    volume_id = openstack(
        up, "volume", "create", "--size", "1", "--type", "on-x", "v", "-f", "json"
    )["id"]
    wait_for(lambda: volume_status(up, "v") == "available", timeout=30)
    assert host_of(up, "v") == "node2@x#x"
    on_x, on_y = node2 / "x" / f"volume-{volume_id}", node2 / "y" / f"volume-{volume_id}"
    with open(on_x, "r+b") as f:
        f.write(os.urandom(4 * 1024 * 1024))
        f.seek(700 * 1024 * 1024)
        f.write(b"the middle of the volume")
    digest = checksum(on_x)

    # 'never' refuses: x cannot serve on-y.
    failed = subprocess.run(
        [str(BIN / "openstack"), "--os-cloud", "pumice", "volume", "set", "--type", "on-y", "v"],
        capture_output=True,
        text=True,
        env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(up.data_dir / "clouds.yaml")},
        timeout=120,
    )
    assert failed.returncode != 0
    openstack(up, "volume", "set", "--type", "on-y", "--retype-policy", "on-demand", "v")
    wait_for(lambda: host_of(up, "v") == "node2@y#y", timeout=60)
    shown = openstack(up, "volume", "show", "v", "-f", "json")
    assert shown["type"] == "on-y" and shown["status"] == "available"
    assert shown["id"] == volume_id
    assert checksum(on_y) == digest
    wait_for(lambda: not on_x.exists(), timeout=30)  # the old copy is removed
    assert on_y.stat().st_blocks * 512 < 64 * 1024 * 1024  # still thin

    # Back to x with os-migrate_volume (admin), once the type allows it.
    openstack(up, "volume", "set", "--type", "anywhere", "v")
    openstack(up, "volume", "migrate", "--host", "node2@x#x", "v")
    wait_for(lambda: host_of(up, "v") == "node2@x#x", timeout=60)
    shown = openstack(up, "volume", "show", "v", "-f", "json")
    assert shown["os-vol-mig-status-attr:migstat"] == "success"
    assert checksum(on_x) == digest
    wait_for(lambda: not on_y.exists(), timeout=30)

    openstack(up, "volume", "delete", "v")
    wait_for(lambda: openstack(up, "volume", "list", "-f", "json") == [], timeout=30)
    assert not on_x.exists()
