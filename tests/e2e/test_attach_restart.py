"""An attached volume survives a restart of its agent and of tgtd (which forgets every
target when it restarts): `pumice up` starts a new tgtd on the same numbers, the agent
restores the export with the stored CHAP account, and the host reads back its bytes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import need
from tests.e2e.helpers import Up, openstack, volume_status, wait_for

pytestmark = pytest.mark.e2e

CONNECTOR = {
    "ip": "127.0.0.1",
    "initiator": "iqn.1994-05.com.example:restart-host",
    "host": "restart-host",
    "platform": "x86_64",
    "os_type": "linux2",
    "multipath": False,
}
CLIENT_TIMEOUT = 60


def _tgtd_pid(control_port: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tgtd") and b"-C" in argv:
            if argv[argv.index(b"-C") + 1] == str(control_port).encode():
                return int(entry.name)
    return None


def _qemu_io(url: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["qemu-io", "-f", "raw", "-c", command, url],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )


def _reads_back(url: str) -> bool:
    done = _qemu_io(url, "read -P 0x5a 0 4M")
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


def test_an_attached_volume_is_exported_again_after_agent_and_tgtd_restart(up: Up) -> None:
    need(bool(shutil.which("qemu-io")), "qemu-io (qemu-utils, qemu-block-extra)")
    control = int(
        tomllib.loads((up.data_dir / "agent.toml").read_text())["backends"][0]["tgt_control_port"]
    )
    token = openstack(up, "token", "issue", "-f", "json")
    headers = {"X-Auth-Token": token["id"], "OpenStack-API-Version": "volume 3.54"}
    base = f"{up.endpoint}/v3/{token['project_id']}"
    volume_id = openstack(up, "volume", "create", "--size", "1", "kept", "-f", "json")["id"]
    wait_for(lambda: volume_status(up, "kept") == "available")

    def attach(instance: str) -> tuple[dict[str, Any], str]:
        created = httpx.post(
            f"{base}/attachments",
            json={
                "attachment": {
                    "volume_uuid": volume_id,
                    "instance_uuid": instance,
                    "connector": CONNECTOR,
                }
            },
            headers=headers,
            timeout=90,
        )
        assert created.status_code == 200, created.text
        attachment: dict[str, Any] = created.json()["attachment"]
        data = attachment["connection_info"]["data"]
        url = (
            f"iscsi://{data['auth_username']}%{data['auth_password']}@"
            f"{data['target_portal']}/{data['target_iqn']}/{data['target_lun']}"
        )
        return attachment, url

    def detach(attachment: dict[str, Any]) -> None:
        deleted = httpx.delete(
            f"{base}/attachments/{attachment['id']}", headers=headers, timeout=90
        )
        assert deleted.status_code == 200, deleted.text
        wait_for(lambda: volume_status(up, "kept") == "available", timeout=60)

    def restart_tgtd_and_agent() -> None:
        pid = _tgtd_pid(control)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        # pumice up starts a new tgtd on the same control port and portal and restarts
        # its agent, which restores the exports of attached volumes.
        wait_for(lambda: _tgtd_pid(control) not in (None, pid), timeout=60)

    attachment, url = attach("5d0f2c55-0000-4000-8000-00000000a001")
    written = _qemu_io(url, "write -P 0x5a 0 4M")
    assert written.returncode == 0, written.stdout + written.stderr
    assert _reads_back(url)

    # Attached across the restart: the export comes back with the stored CHAP account.
    restart_tgtd_and_agent()
    wait_for(lambda: _reads_back(url), timeout=120)
    assert "restarting" in up.output()

    # Detached, restarted, attached again: the bytes are still the volume's.
    detach(attachment)
    restart_tgtd_and_agent()
    attachment, url = attach("5d0f2c55-0000-4000-8000-00000000a002")
    assert _reads_back(url)
    detach(attachment)

    def targets() -> str:
        shown = subprocess.run(
            ["tgtadm", "-C", str(control), "--op", "show", "--mode", "target"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return shown.stdout

    wait_for(lambda: volume_id not in targets(), timeout=60)
    openstack(up, "volume", "delete", "kept")
    wait_for(lambda: openstack(up, "volume", "list", "-f", "json") == [], timeout=60)
