"""`pumice up` as a real process, driven by the real OpenStack clients as a new user would."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from tests.conftest import need
from tests.e2e.helpers import BIN, Up, openstack, volume_status, wait_for

pytestmark = pytest.mark.e2e


def test_openstack_cli_through_a_volume_life(up: Up) -> None:
    assert "password:" in up.output()
    created = openstack(up, "volume", "create", "--size", "1", "v1", "-f", "json")
    volume_id = created["id"]
    wait_for(lambda: volume_status(up, "v1") == "available")
    path = up.data_dir / "volumes" / f"volume-{volume_id}"
    assert path.stat().st_size == 1024**3
    assert path.stat().st_blocks * 512 < 1024**2  # sparse

    listed = openstack(up, "volume", "list", "-f", "json")
    assert [v["Name"] for v in listed] == ["v1"]
    openstack(up, "volume", "set", "--property", "k=v", "v1")
    assert openstack(up, "volume", "show", "v1", "-f", "json")["properties"] == {"k": "v"}
    openstack(up, "volume", "unset", "--property", "k", "v1")
    assert openstack(up, "volume", "show", "v1", "-f", "json")["properties"] == {}
    openstack(up, "volume", "delete", "v1")
    wait_for(lambda: openstack(up, "volume", "list", "-f", "json") == [])
    assert not path.exists()


def test_cinder_and_openstacksdk(up: Up) -> None:
    import openstack as sdk
    import yaml

    cloud = yaml.safe_load((up.data_dir / "clouds.yaml").read_text())["clouds"]["pumice"]
    auth = cloud["auth"]
    env = {
        **os.environ,
        "OS_AUTH_URL": auth["auth_url"],
        "OS_USERNAME": auth["username"],
        "OS_PASSWORD": auth["password"],
        "OS_PROJECT_NAME": auth["project_name"],
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne",
    }

    def cinder(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "cinder"), *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cinder("create", "--name", "c1", "1")
    wait_for(lambda: "| available" in cinder("show", "c1"))
    cinder("metadata", "c1", "set", "a=b")
    assert "'a': 'b'" in cinder("show", "c1") or "a : b" in cinder("show", "c1")

    conn = sdk.connect(
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=auth["password"],
        project_name=auth["project_name"],
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
    )
    volume = conn.block_storage.create_volume(size=2, name="s1")
    conn.block_storage.wait_for_status(volume, "available", interval=0.2, wait=15)
    names = sorted(v.name for v in conn.block_storage.volumes())
    assert names == ["c1", "s1"]
    for v in conn.block_storage.volumes():
        conn.block_storage.delete_volume(v.id)
    wait_for(lambda: list(conn.block_storage.volumes()) == [])
    assert list((up.data_dir / "volumes").glob("volume-*")) == []


def test_ctrl_c_stops_and_restart_reuses_credentials(up: Up) -> None:
    clouds = (up.data_dir / "clouds.yaml").read_text()
    assert up.stop() == 0
    assert "Pumice stopped." in up.output()
    first_output = up.output()
    up.start()
    assert "password:" not in up.output()[len(first_output) :]
    assert (up.data_dir / "clouds.yaml").read_text() == clouds
    openstack(up, "volume", "create", "--size", "1", "after-restart")
    wait_for(lambda: volume_status(up, "after-restart") == "available")


def test_the_data_directory_is_private_and_an_older_install_is_tightened(up: Up) -> None:
    files = ["pumice.db", "pumice.db-wal", "pumice.db-shm", "token-keys"]
    files += ["agent.toml", "clouds.yaml"]
    folders = [".", "volumes", "backups"]
    wait_for(lambda: (up.data_dir / "backups").exists())  # the agent's backup service

    def modes() -> dict[str, int]:
        return {name: stat.S_IMODE((up.data_dir / name).stat().st_mode) for name in folders + files}

    private = {**dict.fromkeys(folders, 0o700), **dict.fromkeys(files, 0o600)}
    assert modes() == private

    assert up.stop() == 0
    for name in folders:
        os.chmod(up.data_dir / name, 0o755)
    for name in files:
        if (up.data_dir / name).exists():  # SQLite removes -wal and -shm on a clean close
            os.chmod(up.data_dir / name, 0o644)
    up.start()
    assert modes() == private
    assert up.output()[up.offset :].count("tightened file modes") == 1


def test_up_runs_a_private_tgtd_for_its_agent_and_stops_it(up: Up) -> None:
    import tomllib

    need(shutil.which("tgtd") is not None, "tgt")
    assert f"iSCSI portal: 127.0.0.1:{up.iscsi_port}" in up.output()
    backend = tomllib.loads((up.data_dir / "agent.toml").read_text())["backends"][0]
    assert backend["target_ip_address"] == "127.0.0.1"
    assert backend["target_port"] == up.iscsi_port
    control = str(backend["tgt_control_port"])

    def portals() -> str:
        shown = subprocess.run(
            ["tgtadm", "-C", control, "--op", "show", "--mode", "portal"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return shown.stdout if shown.returncode == 0 else ""

    assert f"127.0.0.1:{up.iscsi_port}" in portals()
    assert up.stop() == 0
    assert portals() == ""  # the daemon went with the service
