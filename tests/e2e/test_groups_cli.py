"""Group types and generic volume groups through the real OpenStack CLI against a real
`pumice up`: the group is placed on the file backend, a volume joins it, a copy of the
group clones the volume's data for real, and deleting with --force takes the volumes."""

from __future__ import annotations

from typing import Any

import pytest

from app.drivers.copy import checksum
from tests.e2e.helpers import Up, openstack, wait_for

pytestmark = pytest.mark.e2e


def cli(up: Up, version: str, *args: str) -> Any:
    return openstack(up, "--os-volume-api-version", version, *args)


def group_show(up: Up, name: str) -> dict[str, Any]:
    shown: dict[str, Any] = cli(up, "3.14", "volume", "group", "show", name, "-f", "json")
    return shown


def test_volume_groups_with_the_openstack_cli(up: Up) -> None:
    gtype = cli(up, "3.11", "volume", "group", "type", "create", "generic", "-f", "json")
    assert gtype["Name"] == "generic" and gtype["Is Public"] is True
    listed = cli(up, "3.11", "volume", "group", "type", "list", "-f", "json")
    assert [t["Name"] for t in listed] == ["generic"]

    created = cli(
        up, "3.13", "volume", "group", "create",
        "--volume-group-type", "generic", "--volume-type", "__DEFAULT__",
        "--name", "g1", "-f", "json",
    )  # fmt: skip
    assert created["Name"] == "g1"
    shown = group_show(up, "g1")
    assert shown["Status"] == "available" and shown["Group Type"] == gtype["ID"]
    assert len(shown["Volume Types"]) == 1

    # A volume joins the group (one backend: it is the group's).
    volume = openstack(up, "volume", "create", "--size", "1", "member", "-f", "json")
    wait_for(
        lambda: openstack(up, "volume", "show", "member", "-f", "json")["status"] == "available"
    )
    cli(up, "3.13", "volume", "group", "add", "volume", "g1", "member")
    path = up.data_dir / "volumes" / f"volume-{volume['id']}"
    with open(path, "r+b") as f:
        f.write(b"group data" * 1000)

    # A copy of the group: one clone of the member, with its data.
    copy = cli(
        up, "3.14", "volume", "group", "create", "--source-group", "g1",
        "--name", "g2", "-f", "json",
    )  # fmt: skip
    # 'creating' until its clone is made (the agent may already be done).
    assert copy["Name"] == "g2" and copy["Status"] in ("creating", "available")
    groups = cli(up, "3.13", "volume", "group", "list", "-f", "json")
    assert sorted(g["Name"] for g in groups) == ["g1", "g2"]

    def clone_ready() -> bool:
        volumes = openstack(up, "volume", "list", "--long", "-f", "json")
        clones = [v for v in volumes if v["ID"] != volume["id"]]
        return len(clones) == 1 and clones[0]["Status"] == "available"

    wait_for(clone_ready, timeout=60)
    wait_for(
        lambda: (
            cli(up, "3.13", "volume", "group", "show", "g2", "-f", "json")["Status"] == "available"
        ),
        timeout=30,
    )
    [clone] = [v for v in openstack(up, "volume", "list", "-f", "json") if v["ID"] != volume["id"]]
    clone_path = up.data_dir / "volumes" / f"volume-{clone['ID']}"
    assert checksum(clone_path) == checksum(path)

    # Delete: refused while it has volumes, done with --force, volumes and files too.
    done = _fails(up, "3.13", "volume", "group", "delete", "g2")
    assert "delete-volumes" in done
    cli(up, "3.13", "volume", "group", "delete", "--force", "g2")
    wait_for(
        lambda: (
            [g["Name"] for g in cli(up, "3.13", "volume", "group", "list", "-f", "json")] == ["g1"]
        ),
        timeout=60,
    )
    assert not clone_path.exists() and path.exists()
    cli(up, "3.13", "volume", "group", "remove", "volume", "g1", "member")
    cli(up, "3.13", "volume", "group", "delete", "g1")
    assert cli(up, "3.13", "volume", "group", "list", "-f", "json") == []
    cli(up, "3.11", "volume", "group", "type", "delete", "generic")


def _fails(up: Up, version: str, *args: str) -> str:
    import os
    import subprocess

    from tests.e2e.helpers import BIN

    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(up.data_dir / "clouds.yaml")}
    done = subprocess.run(
        [str(BIN / "openstack"), "--os-cloud", "pumice", "--os-volume-api-version", version, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode != 0, done.stdout
    return done.stderr
