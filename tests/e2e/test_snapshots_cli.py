"""Snapshots through the real OpenStack CLI against a real `pumice up`: the agent makes
and removes the snapshot file in the data folder."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.helpers import BIN, Up, openstack, volume_status, wait_for

pytestmark = pytest.mark.e2e


def snapshot_status(up: Up, name: str) -> str:
    status: str = openstack(up, "volume", "snapshot", "show", name, "-f", "json")["status"]
    return status


def test_openstack_cli_through_a_snapshot_life(up: Up) -> None:
    volume_id = openstack(up, "volume", "create", "--size", "1", "v1", "-f", "json")["id"]
    wait_for(lambda: volume_status(up, "v1") == "available")
    created = openstack(
        up,
        "volume",
        "snapshot",
        "create",
        "--volume",
        "v1",
        "--property",
        "a=b",
        "s1",
        "-f",
        "json",
    )
    snapshot_id = created["id"]
    wait_for(lambda: snapshot_status(up, "s1") == "available")
    path = up.data_dir / "volumes" / f"snapshot-{snapshot_id}"
    assert path.stat().st_size == 1024**3
    assert (up.data_dir / "volumes" / f"volume-{volume_id}").exists()

    listed = openstack(up, "volume", "snapshot", "list", "-f", "json")
    assert [(s["ID"], s["Name"], s["Status"]) for s in listed] == [(snapshot_id, "s1", "available")]
    openstack(up, "volume", "snapshot", "set", "--property", "k=v", "s1")
    shown = openstack(up, "volume", "snapshot", "show", "s1", "-f", "json")
    assert shown["properties"] == {"a": "b", "k": "v"}
    assert shown["volume_id"] == volume_id and shown["size"] == 1

    # The volume cannot go while it has a snapshot.
    done = openstack_fails(up, "volume", "delete", "v1")
    assert "snapshot" in done

    openstack(up, "volume", "snapshot", "delete", "s1")
    wait_for(lambda: openstack(up, "volume", "snapshot", "list", "-f", "json") == [])
    assert not path.exists()

    # Manage existing: a file in the backend folder becomes a snapshot of v1.
    legacy = up.data_dir / "volumes" / "legacy.snap"
    legacy.write_bytes(b"\x42" * 4096)
    managed = openstack(
        up,
        "volume",
        "snapshot",
        "create",
        "--volume",
        "v1",
        "--remote-source",
        "source-name=legacy.snap",
        "m1",
        "-f",
        "json",
    )
    wait_for(lambda: snapshot_status(up, "m1") == "available")
    assert not legacy.exists()
    assert (up.data_dir / "volumes" / f"snapshot-{managed['id']}").stat().st_size == 1024**3
    assert openstack(up, "volume", "snapshot", "show", "m1", "-f", "json")["size"] == 1

    # With --cascade the volume takes its snapshots along.
    second = openstack(up, "volume", "snapshot", "create", "--volume", "v1", "s2", "-f", "json")
    wait_for(lambda: snapshot_status(up, "s2") == "available")
    assert (up.data_dir / "volumes" / f"snapshot-{second['id']}").exists()
    openstack(up, "volume", "delete", "--cascade", "v1")
    wait_for(lambda: openstack(up, "volume", "list", "-f", "json") == [])
    assert openstack(up, "volume", "snapshot", "list", "-f", "json") == []
    assert sorted(p.name for p in (up.data_dir / "volumes").iterdir()) == []


def openstack_fails(up: Up, *args: str) -> str:
    """Run a CLI command that must fail; its error output."""
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(up.data_dir / "clouds.yaml")}
    done = subprocess.run(
        [str(BIN / "openstack"), "--os-cloud", "pumice", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode != 0, done.stdout
    return done.stderr
