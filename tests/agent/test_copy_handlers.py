"""A copy between agents through the agents' handlers and a real (private) tgtd: the
source's backend exports the volume read-only for the copy, the target's backend (no
peers: another agent) pulls it over iSCSI with qemu-img and checks its sha256, and the
old copy's removal takes the export with it. A refused login (wrong account, an address
outside the export's ACL) or a copy that does not verify leaves nothing on the target
and the source as it was, without the secret in any message."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from app import jobkinds
from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError, VolumeSpec
from app.drivers.copy import checksum
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB
from tests.conftest import free_port, need
from tests.drivers.helpers import PrivateTgtd, make_export_driver, qemu_io

VOLUME_ID = "7d0c5b1e-1111-4a2b-9c3d-000000000042"
SECRET = "CopySecretNot1ogged"
SOURCE = {"id": VOLUME_ID, "size_gb": 1, "pool": "a", "host": "n1@a#a"}
TARGET = {"id": VOLUME_ID, "size_gb": 1, "pool": "b", "host": "n2@b#b"}


def two_backends(tmp_path: Path, tgtd: PrivateTgtd) -> tuple[FileDriver, FileDriver]:
    need(bool(shutil.which("qemu-img")), "qemu-img (qemu-utils, qemu-block-extra)")
    return (
        make_export_driver(tmp_path / "a", tgtd, pool_name="a"),
        make_export_driver(tmp_path / "b", tgtd, pool_name="b"),
    )


def filled_source(driver: FileDriver) -> str:
    """A 1 GiB source with data at its start, in its middle and at its very end."""
    volume = VolumeSpec.from_dict(SOURCE)
    driver.create_volume(volume)
    with open(driver.local_path(volume), "r+b") as f:
        f.write(os.urandom(2 * 1024 * 1024))
        f.seek(GiB // 2 + 513)
        f.write(os.urandom(70_000))
        f.seek(GiB - 4096)
        f.write(os.urandom(4096))
    return checksum(driver.local_path(volume))


def export(driver: FileDriver, initiators: list[str]) -> dict[str, Any]:
    payload = jobkinds.CopyExportPayload(
        volume=jobkinds.VolumeRef(**SOURCE),
        chap_user="copy-test",
        chap_secret=SECRET,
        initiators=initiators,
        migration=jobkinds.MigrateVolumePayload(
            volume=jobkinds.VolumeRef(**SOURCE),
            target=jobkinds.VolumeRef(**TARGET),
            target_pool_id=2,
        ),
    )
    return JOB_KINDS[jobkinds.EXPORT_FOR_COPY.key].run(driver, payload.wire())


def pull(driver: FileDriver, exported: dict[str, Any], secret: str = SECRET) -> dict[str, Any]:
    payload = jobkinds.MigrateVolumePayload(
        volume=jobkinds.VolumeRef(**SOURCE),
        target=jobkinds.VolumeRef(**TARGET),
        target_pool_id=2,
        source_export=jobkinds.SourceExport(
            target_portal=exported["target_portal"],
            target_iqn=exported["target_iqn"],
            target_lun=exported["target_lun"],
            chap_user="copy-test",
            sha256=exported["sha256"],
            bytes=exported["bytes"],
        ),
        source_chap_secret=secret,
    )
    # No peers: the target's agent does not serve the source's backend.
    return JOB_KINDS[jobkinds.MIGRATE_VOLUME.key].run(driver, payload.wire(), {})


def test_the_target_agent_pulls_a_verified_copy_over_the_sources_export(
    tmp_path: Path, tgtd: PrivateTgtd
) -> None:
    a, b = two_backends(tmp_path, tgtd)
    digest = filled_source(a)
    exported = export(a, ["127.0.0.1"])
    assert exported["sha256"] == digest and exported["bytes"] == GiB
    assert exported["target_portal"] == f"127.0.0.1:{tgtd.port}"
    iqn = exported["target_iqn"]
    assert "copy-" in iqn and VOLUME_ID in iqn
    # Its own target, not the one attachments use; read-only; its own account only.
    assert iqn != a.target_iqn(VolumeSpec.from_dict(SOURCE))
    assert tgtd.accounts() == ["copy-test"]
    (target,) = tgtd.targets()
    assert target.acl == ("127.0.0.1",)
    url = tgtd.url(iqn, user="copy-test", secret=SECRET)
    assert qemu_io(url, "write -P 0x11 0 4k").returncode != 0
    # An attach export of the same volume (another target) does not disturb it.
    assert a.exported_volumes() == []

    result = pull(b, exported)
    copy = b.local_path(VolumeSpec.from_dict(TARGET))
    assert result["sha256"] == digest and checksum(copy) == digest
    assert result["provider_location"] == str(copy)
    assert checksum(a.local_path(VolumeSpec.from_dict(SOURCE))) == digest  # untouched
    # A retry starts over from a fresh volume and ends the same.
    with open(copy, "r+b") as f:
        f.seek(GiB // 4)
        f.write(b"leftover")
    assert pull(b, exported)["sha256"] == digest and checksum(copy) == digest

    # The old copy's removal takes its export for the copy with it.
    JOB_KINDS[jobkinds.REMOVE_VOLUME_COPY.key].run(
        a, {"volume": SOURCE, "keep": {**TARGET, "provider_location": str(copy)}, "unexport": True}
    )
    assert tgtd.targets() == [] and tgtd.accounts() == []
    assert not a.local_path(VolumeSpec.from_dict(SOURCE)).exists()


@pytest.mark.parametrize(
    ("initiators", "secret"),
    [(["127.0.0.1"], "WrongSecret12345"), (["192.0.2.77"], SECRET)],
    ids=["wrong CHAP secret", "address outside the ACL"],
)
def test_a_refused_login_leaves_nothing_on_the_target_and_the_source_intact(
    tmp_path: Path, tgtd: PrivateTgtd, initiators: list[str], secret: str
) -> None:
    a, b = two_backends(tmp_path, tgtd)
    digest = filled_source(a)
    exported = export(a, initiators)
    with pytest.raises(DriverError, match="cannot read volume") as refused:
        pull(b, exported, secret=secret)
    assert SECRET not in str(refused.value) and secret not in str(refused.value)
    assert not b.local_path(VolumeSpec.from_dict(TARGET)).exists()
    assert checksum(a.local_path(VolumeSpec.from_dict(SOURCE))) == digest

    # The removal of the export for the copy (the failure's cleanup) leaves no target
    # and no account behind, and is idempotent.
    unexport = JOB_KINDS[jobkinds.UNEXPORT_FOR_COPY.key]
    unexport.run(a, {"volume": SOURCE})
    unexport.run(a, {"volume": SOURCE})
    assert tgtd.targets() == [] and tgtd.accounts() == []
    assert checksum(a.local_path(VolumeSpec.from_dict(SOURCE))) == digest


def test_a_copy_that_does_not_verify_is_removed(tmp_path: Path, tgtd: PrivateTgtd) -> None:
    a, b = two_backends(tmp_path, tgtd)
    filled_source(a)
    exported = export(a, ["127.0.0.1"])
    with pytest.raises(DriverError, match="does not verify"):
        pull(b, {**exported, "sha256": "0" * 64})
    assert not b.local_path(VolumeSpec.from_dict(TARGET)).exists()


def test_a_missing_source_is_not_exported(tmp_path: Path, tgtd: PrivateTgtd) -> None:
    a, _ = two_backends(tmp_path, tgtd)
    with pytest.raises(DriverError, match=r"source of volume .* is missing"):
        export(a, ["127.0.0.1"])
    assert tgtd.targets() == []


def test_a_source_whose_tgtd_is_down_is_not_exported(tmp_path: Path) -> None:
    """The export's failure says why; the source stays as it was."""
    need(bool(shutil.which("tgtadm")), "tgtadm (tgt)")
    # A control port no tgtd of ours takes (app/tgtd.py picks from 300-399).
    down = PrivateTgtd(control_port=499, address="127.0.0.1", port=free_port())
    need(not down.running(), "no tgtd on control port 499")
    a = make_export_driver(tmp_path / "a", down, pool_name="a")
    digest = filled_source(a)
    with pytest.raises(DriverError, match="tgtd is not running") as refused:
        export(a, ["127.0.0.1"])
    assert SECRET not in str(refused.value)
    assert checksum(a.local_path(VolumeSpec.from_dict(SOURCE))) == digest
