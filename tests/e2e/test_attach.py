"""Attaching a volume end to end: `pumice up` with its private tgtd, the real clients,
and a userspace initiator (qemu over libiscsi) that writes and reads through the target
with the CHAP credentials the attachment returned."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.e2e.helpers import (
    DATA_SIZE,
    HOST_1,
    HOST_2,
    SERVER_1,
    SERVER_2,
    Up,
    attach,
    cinder,
    iscsi_url,
    openstack,
    qemu,
    random_image,
    read_through,
    volume_status,
    wait_for,
    write_through,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool, package in [("tgtd", "tgt"), ("qemu-img", "qemu-utils"), ("qemu-io", "qemu-utils")]:
        need(shutil.which(tool) is not None, package)


def targets(up: Up) -> str:
    control = tomllib.loads((up.data_dir / "agent.toml").read_text())["backends"][0]
    shown = subprocess.run(
        ["tgtadm", "-C", str(control["tgt_control_port"]), "--op", "show", "--mode", "target"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def attachment(up: Up, *args: str) -> Any:
    return openstack(up, "--os-volume-api-version", "3.44", "volume", "attachment", *args)


def create_volume(up: Up, name: str, *args: str) -> str:
    volume_id: str = openstack(up, "volume", "create", "--size", "1", *args, name, "-f", "json")[
        "id"
    ]
    wait_for(lambda: volume_status(up, name) == "available")
    return volume_id


def delete_volume(up: Up, name: str) -> None:
    openstack(up, "volume", "delete", name)
    wait_for(lambda: openstack(up, "volume", "list", "-f", "json") == [])


def test_attach_write_read_and_detach_one_host(up: Up, tmp_path: Path) -> None:
    volume_id = create_volume(up, "v1")
    attachment_id, data = attach(up, "v1", HOST_1, SERVER_1)
    assert data["volume_id"] == volume_id
    assert data["auth_method"] == "CHAP"
    assert data["target_portal"] == f"127.0.0.1:{up.iscsi_port}"
    assert data["target_iqn"].endswith(f":volume-{volume_id}")
    assert data["target_iqn"] in targets(up)

    source = tmp_path / "src.img"
    checksum = random_image(source)
    write_through(data, source)
    assert read_through(data, tmp_path / "back.img") == checksum
    with (up.data_dir / "volumes" / f"volume-{volume_id}").open("rb") as backing:
        assert hashlib.sha256(backing.read(DATA_SIZE)).hexdigest() == checksum

    for command in ("write -P 0x5a 64M 1M", "read -P 0x5a 64M 1M"):  # as the README shows
        done = qemu("qemu-io", "-f", "raw", "-c", command, iscsi_url(data))
        assert done.returncode == 0 and "error" not in done.stdout.lower(), done.stdout
    mismatch = qemu("qemu-io", "-f", "raw", "-c", "read -P 0x5b 64M 1M", iscsi_url(data))
    assert "Pattern verification failed" in mismatch.stdout + mismatch.stderr

    refused = qemu("qemu-io", "-f", "raw", "-c", "read 0 512", iscsi_url(data, "wrong-secret-0"))
    assert refused.returncode != 0
    assert "Authentication failure" in refused.stderr

    attachment(up, "complete", attachment_id)
    assert volume_status(up, "v1") == "in-use"
    shown = attachment(up, "show", attachment_id, "-f", "json")
    assert shown["Status"] == "attached"
    assert "auth_password" not in shown["Properties"]["data"]  # only the connecting answer has it

    attachment(up, "delete", attachment_id)
    wait_for(lambda: volume_status(up, "v1") == "available")
    wait_for(lambda: data["target_iqn"] not in targets(up))
    delete_volume(up, "v1")
    assert data["target_iqn"] not in targets(up)
    assert data["auth_password"] not in up.output()  # the secret is never logged


def test_two_hosts_share_a_multiattach_volume(up: Up, tmp_path: Path) -> None:
    openstack(up, "volume", "type", "create", "--property", "multiattach=<is> True", "shared")
    volume_id = create_volume(up, "mv", "--type", "shared")
    first_id, first = attach(up, "mv", HOST_1, SERVER_1)
    source = tmp_path / "src.img"
    checksum = random_image(source)
    write_through(first, source)
    # As in Cinder, a volume takes its next attachment once the last one is complete
    # (in-use), not while it is still attaching.
    attachment(up, "complete", first_id)
    # The second host the other way: reserve first (no connector), then connect it with
    # the openstack client's attachment update.
    version = ("--os-volume-api-version", "3.54")
    second_id = cinder(up, *version, "attachment-create", "mv", SERVER_2)["id"]
    assert volume_status(up, "mv") == "reserved"
    connect = ("--initiator", HOST_2, "--ip", "127.0.0.1", second_id, "-f", "json")
    shown = openstack(up, *version, "volume", "attachment", "set", *connect)
    second: dict[str, Any] = shown["Properties"]["data"]
    assert first["target_iqn"] == second["target_iqn"]  # one target per volume
    assert read_through(second, tmp_path / "two.img") == checksum
    assert read_through(first, tmp_path / "one.img") == checksum
    attachment(up, "complete", second_id)
    assert volume_status(up, "mv") == "in-use"
    assert len(openstack(up, "volume", "show", "mv", "-f", "json")["attachments"]) == 2

    attachment(up, "delete", first_id)
    wait_for(lambda: len(openstack(up, "volume", "show", "mv", "-f", "json")["attachments"]) == 1)
    assert volume_status(up, "mv") == "in-use"
    assert second["target_iqn"] in targets(up)
    assert read_through(second, tmp_path / "two.img") == checksum

    attachment(up, "delete", second_id)
    wait_for(lambda: volume_status(up, "mv") == "available")
    wait_for(lambda: second["target_iqn"] not in targets(up))
    delete_volume(up, "mv")
    assert not (up.data_dir / "volumes" / f"volume-{volume_id}").exists()
