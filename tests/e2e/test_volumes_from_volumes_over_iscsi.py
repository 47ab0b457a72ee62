"""Volumes made from volumes, with every byte written and read by a host over iSCSI
(qemu over libiscsi, the CHAP credentials each attachment answers), through the real
clients against a real `pumice up`: data written, snapshotted, changed; a volume from
the snapshot holds the first data, a clone the second; a revert brings the first back;
a transferred volume is attached and read by the project that accepted it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.e2e.helpers import (
    HOST_1,
    SERVER_1,
    Up,
    attach,
    cinder,
    member_of_new_project,
    openstack,
    openstack_as,
    random_image,
    read_through,
    volume_status,
    wait_for,
    write_through,
)

pytestmark = pytest.mark.e2e

Login = tuple[str, str, str]


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool, package in [("tgtd", "tgt"), ("qemu-img", "qemu-utils")]:
        need(shutil.which(tool) is not None, package)


def detach(up: Up, attachment_id: str, name: str, login: Login | None = None) -> None:
    version = ("--os-volume-api-version", "3.44")
    if login is None:
        openstack(up, *version, "volume", "attachment", "delete", attachment_id)
    else:
        openstack_as(up, login, *version, "volume", "attachment", "delete", attachment_id)
    wait_for(lambda: status_as(up, name, login) == "available", timeout=60)


def status_as(up: Up, name: str, login: Login | None) -> str:
    if login is None:
        return volume_status(up, name)
    shown: dict[str, Any] = openstack_as(up, login, "volume", "show", name, "-f", "json")
    return str(shown["status"])


def write(up: Up, name: str, source: Path) -> None:
    """Attach `name` to a host, write `source` through the target, detach."""
    attachment_id, data = attach(up, name, HOST_1, SERVER_1)
    write_through(data, source)
    detach(up, attachment_id, name)


def read(up: Up, name: str, into: Path, login: Login | None = None) -> str:
    """Attach `name` (as `login`), read it back through the target, detach: the sha256."""
    attachment_id, data = attach(up, name, HOST_1, SERVER_1, login=login)
    checksum = read_through(data, into)
    detach(up, attachment_id, name, login)
    return checksum


def new_volume(up: Up, name: str, *source: str) -> str:
    made = openstack(up, "volume", "create", "--size", "1", *source, name, "-f", "json")
    wait_for(lambda: volume_status(up, name) == "available", timeout=120)
    return str(made["id"])


def test_snapshot_clone_revert_and_transfer_with_data_through_iscsi(up: Up, tmp_path: Path) -> None:
    new_volume(up, "origin")
    first = random_image(tmp_path / "first.img")
    write(up, "origin", tmp_path / "first.img")

    openstack(up, "volume", "snapshot", "create", "--volume", "origin", "snap", "-f", "json")
    wait_for(
        lambda: (
            openstack(up, "volume", "snapshot", "show", "snap", "-f", "json")["status"]
            == "available"
        ),
        timeout=120,
    )
    second = random_image(tmp_path / "second.img")
    write(up, "origin", tmp_path / "second.img")

    # From the snapshot: the first data; a clone of the volume: the second.
    new_volume(up, "from-snap", "--snapshot", "snap")
    clone_id = new_volume(up, "clone", "--source", "origin")
    back = tmp_path / "back.img"
    assert read(up, "from-snap", back) == first
    assert read(up, "clone", back) == second
    assert read(up, "origin", back) == second

    # Reverted to its latest snapshot, the volume holds the first data again.
    cinder(up, "--os-volume-api-version", "3.40", "revert-to-snapshot", "snap")
    wait_for(lambda: volume_status(up, "origin") == "available", timeout=120)
    assert read(up, "origin", back) == first

    # The clone handed to another project: that project attaches it and reads its data.
    transfer = openstack(up, "volume", "transfer", "request", "create", "clone", "-f", "json")
    other = member_of_new_project(up, "receiver")
    openstack_as(
        up,
        other,
        *("volume", "transfer", "request", "accept", "--auth-key", transfer["auth_key"]),
        *(transfer["id"], "-f", "json"),
    )
    assert read(up, clone_id, back, login=other) == second
