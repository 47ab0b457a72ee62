"""Transfers, unmanage and manageable listings through the real clients against a real
`pumice up`: a volume handed to another project with `openstack volume transfer request`
keeps its id and bytes while its quota moves; `cinder unmanage` lets go of it, `cinder
manageable-list` then shows its file as safe to manage, and `cinder manage` takes it
back, the same bytes under a new volume."""

from __future__ import annotations

import hashlib

import pytest

from tests.e2e.helpers import (
    Up,
    cinder,
    cinder_output,
    member_of_new_project,
    openstack,
    openstack_as,
    volume_status,
    wait_for,
)

pytestmark = pytest.mark.e2e

MiB = 1024**2


def sha256(up: Up, volume_id: str) -> str:
    return hashlib.sha256(
        (up.data_dir / "volumes" / f"volume-{volume_id}").read_bytes()
    ).hexdigest()


def used(up: Up, login: tuple[str, str, str] | None = None) -> dict[str, str]:
    """The project's volumes and gigabytes in use, as `cinder absolute-limits` shows them."""
    limits = cinder(up, "absolute-limits", login=login)
    return {name: limits[name] for name in ("totalVolumesUsed", "totalGigabytesUsed")}


def test_transfer_then_unmanage_and_manage_back_with_the_real_clients(up: Up) -> None:
    volume_id = openstack(up, "volume", "create", "--size", "1", "gift", "-f", "json")["id"]
    wait_for(lambda: volume_status(up, "gift") == "available")
    path = up.data_dir / "volumes" / f"volume-{volume_id}"
    with path.open("r+b") as f:
        f.seek(3 * MiB)
        f.write(b"bytes that must travel unchanged")
    before = sha256(up, volume_id)

    transfer = openstack(up, "volume", "transfer", "request", "create", "gift", "-f", "json")
    assert transfer["volume_id"] == volume_id and len(transfer["auth_key"]) == 16
    assert volume_status(up, "gift") == "awaiting-transfer"
    listed = openstack(up, "volume", "transfer", "request", "list", "-f", "json")
    assert [row["ID"] for row in listed] == [transfer["id"]]

    other = member_of_new_project(up, "other")
    accepted = openstack_as(
        up,
        other,
        *("volume", "transfer", "request", "accept", "--auth-key", transfer["auth_key"]),
        *(transfer["id"], "-f", "json"),
    )
    assert accepted["volume_id"] == volume_id
    shown = openstack_as(up, other, "volume", "show", volume_id, "-f", "json")
    assert shown["status"] == "available" and shown["id"] == volume_id
    assert sha256(up, volume_id) == before
    # The quota moved with it.
    assert used(up, other) == {"totalVolumesUsed": "1", "totalGigabytesUsed": "1"}
    assert used(up) == {"totalVolumesUsed": "0", "totalGigabytesUsed": "0"}
    assert openstack(up, "volume", "transfer", "request", "list", "-f", "json") == []

    # The admin unmanages it: the row goes, the file stays, and is listed as manageable.
    host = openstack(up, "volume", "show", volume_id, "-f", "json")["os-vol-host-attr:host"]
    cinder_output(up, "--os-volume-api-version", "3.8", "unmanage", volume_id)
    wait_for(lambda: openstack_as(up, other, "volume", "list", "-f", "json") == [])
    assert sha256(up, volume_id) == before
    listing = cinder_output(up, "--os-volume-api-version", "3.8", "manageable-list", host)
    [row] = [line for line in listing.splitlines() if f"volume-{volume_id}" in line]
    assert "True" in row

    managed = cinder(
        up,
        *("--os-volume-api-version", "3.8", "manage", "--name", "back"),
        *(host, f"volume-{volume_id}"),
    )
    wait_for(lambda: volume_status(up, "back") == "available")
    assert managed["id"] != volume_id
    assert sha256(up, managed["id"]) == before
    assert not path.exists()
