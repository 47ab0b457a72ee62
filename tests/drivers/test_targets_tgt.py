"""Exports through a real private tgtd, read and written by a real userspace initiator
(qemu-io over libiscsi)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from app.drivers import DriverError, ExportSpec, VolumeSpec
from app.drivers.file import FileDriver
from app.drivers.targets.tgtshow import Target
from tests.conftest import need
from tests.drivers.helpers import INITIATOR_TIMEOUT, PrivateTgtd, make_export_driver, qemu_io

MiB = 1024**2


@pytest.fixture(autouse=True)
def _initiator() -> None:
    need(bool(shutil.which("qemu-io")), "qemu-io with libiscsi (qemu-utils, qemu-block-extra)")


@pytest.fixture
def driver(tmp_path: Path, tgtd: PrivateTgtd) -> FileDriver:
    return make_export_driver(tmp_path / "volumes", tgtd)


def new_volume(driver: FileDriver) -> VolumeSpec:
    volume = VolumeSpec(id=str(uuid.uuid4()), size_gb=1)
    driver.create_volume(volume)
    return volume


def new_export(**fields: object) -> ExportSpec:
    user = f"u{secrets.token_hex(6)}"
    return ExportSpec(chap_user=user, chap_secret=secrets.token_hex(8), **fields)  # type: ignore[arg-type]


def target_of(tgtd: PrivateTgtd, iqn: str) -> Target:
    [target] = [t for t in tgtd.targets() if t.iqn == iqn]
    return target


def url(tgtd: PrivateTgtd, iqn: str, export: ExportSpec, secret: str | None = None) -> str:
    return tgtd.url(iqn, user=export.chap_user, secret=secret or export.chap_secret)


def test_an_export_serves_the_volume_with_chap(driver: FileDriver, tgtd: PrivateTgtd) -> None:
    volume = new_volume(driver)
    export = new_export()
    props = driver.export_volume(volume, export)
    iqn = f"iqn.2010-10.org.openstack:volume-{volume.id}"
    portal = f"127.0.0.1:{tgtd.port}"
    assert props == {
        "target_iqn": iqn,
        "target_iqns": [iqn],
        "target_portal": portal,
        "target_portals": [portal],
        "target_lun": 1,
        "target_luns": [1],
    }
    written = qemu_io(url(tgtd, iqn, export), "write -P 0x5a 1M 2M")
    assert written.returncode == 0, written.stderr
    read = qemu_io(url(tgtd, iqn, export), "read -P 0x5a 1M 2M")
    assert read.returncode == 0, read.stdout + read.stderr
    # The bytes went to the volume's own file.
    with open(driver.local_path(volume), "rb") as f:
        f.seek(1 * MiB)
        assert f.read(2 * MiB) == b"\x5a" * (2 * MiB)
    target = target_of(tgtd, iqn)
    lun = target.lun(1)
    assert lun is not None and lun.backing_store == str(driver.local_path(volume))
    assert target.accounts == (export.chap_user,)
    assert target.acl == ("ALL",)


def test_wrong_or_missing_credentials_are_refused(driver: FileDriver, tgtd: PrivateTgtd) -> None:
    volume = new_volume(driver)
    export = new_export()
    iqn = driver.export_volume(volume, export)["target_iqn"]
    wrong = qemu_io(url(tgtd, iqn, export, secret="not" + export.chap_secret), "read 0 4k")
    assert wrong.returncode != 0
    assert "Authentication failure" in wrong.stderr
    anonymous = qemu_io(tgtd.url(iqn), "read 0 4k")
    assert anonymous.returncode != 0
    assert qemu_io(url(tgtd, iqn, export), "read 0 4k").returncode == 0


def test_exporting_again_changes_nothing(driver: FileDriver, tgtd: PrivateTgtd) -> None:
    volume = new_volume(driver)
    export = new_export()
    first = driver.export_volume(volume, export)
    before = target_of(tgtd, first["target_iqn"])
    assert driver.export_volume(volume, export) == first
    # A restarted agent (a new driver, so a new helper) re-exports the same way.
    again = make_export_driver(driver.folder, tgtd)
    assert again.export_volume(volume, export) == first
    assert target_of(tgtd, first["target_iqn"]) == before
    assert tgtd.accounts() == [export.chap_user]
    assert qemu_io(url(tgtd, first["target_iqn"], export), "read 0 4k").returncode == 0


def test_a_new_secret_replaces_the_old_one(driver: FileDriver, tgtd: PrivateTgtd) -> None:
    volume = new_volume(driver)
    old = new_export()
    iqn = driver.export_volume(volume, old)["target_iqn"]
    new = ExportSpec(chap_user=old.chap_user, chap_secret=secrets.token_hex(8))
    driver.export_volume(volume, new)
    assert qemu_io(url(tgtd, iqn, old), "read 0 4k").returncode != 0
    assert qemu_io(url(tgtd, iqn, new), "read 0 4k").returncode == 0
    # A helper that did not set the password (after a restart) replaces it too.
    newer = ExportSpec(chap_user=old.chap_user, chap_secret=secrets.token_hex(8))
    make_export_driver(driver.folder, tgtd).export_volume(volume, newer)
    assert qemu_io(url(tgtd, iqn, new), "read 0 4k").returncode != 0
    assert qemu_io(url(tgtd, iqn, newer), "read 0 4k").returncode == 0
    # A new user name replaces the old account.
    renamed = new_export()
    driver.export_volume(volume, renamed)
    assert target_of(tgtd, iqn).accounts == (renamed.chap_user,)
    assert tgtd.accounts() == [renamed.chap_user]


def test_initiator_addresses_bind_the_target(driver: FileDriver, tgtd: PrivateTgtd) -> None:
    volume = new_volume(driver)
    elsewhere = new_export(initiators=("10.0.0.5",))
    iqn = driver.export_volume(volume, elsewhere)["target_iqn"]
    assert target_of(tgtd, iqn).acl == ("10.0.0.5",)
    assert qemu_io(url(tgtd, iqn, elsewhere), "read 0 4k").returncode != 0

    here = ExportSpec(
        chap_user=elsewhere.chap_user,
        chap_secret=elsewhere.chap_secret,
        initiators=("127.0.0.1", "10.0.0.6"),
    )
    driver.export_volume(volume, here)
    assert sorted(target_of(tgtd, iqn).acl) == ["10.0.0.6", "127.0.0.1"]
    assert qemu_io(url(tgtd, iqn, here), "read 0 4k").returncode == 0

    anywhere = ExportSpec(chap_user=here.chap_user, chap_secret=here.chap_secret)
    driver.export_volume(volume, anywhere)
    assert target_of(tgtd, iqn).acl == ("ALL",)
    assert qemu_io(url(tgtd, iqn, anywhere), "read 0 4k").returncode == 0


def test_a_read_only_export_refuses_writes(driver: FileDriver, tgtd: PrivateTgtd) -> None:
    volume = new_volume(driver)
    export = new_export(read_only=True)
    iqn = driver.export_volume(volume, export)["target_iqn"]
    lun = target_of(tgtd, iqn).lun(1)
    assert lun is not None and lun.readonly
    refused = qemu_io(url(tgtd, iqn, export), "write -P 0x11 0 4k")
    assert refused.returncode != 0
    assert "write protected" in refused.stderr
    assert qemu_io(url(tgtd, iqn, export), "read -P 0 0 4k", read_only=True).returncode == 0

    writable = ExportSpec(chap_user=export.chap_user, chap_secret=export.chap_secret)
    driver.export_volume(volume, writable)
    assert qemu_io(url(tgtd, iqn, writable), "write -P 0x11 0 4k").returncode == 0


def test_unexport_removes_the_target_even_with_a_session(
    driver: FileDriver, tgtd: PrivateTgtd
) -> None:
    volume = new_volume(driver)
    export = new_export()
    iqn = driver.export_volume(volume, export)["target_iqn"]
    # qemu-io's sleep (milliseconds) keeps its session logged in meanwhile.
    client = subprocess.Popen(
        ["qemu-io", "-f", "raw", "-c", "sleep 600000", url(tgtd, iqn, export)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if target_of(tgtd, iqn).sessions:
                break
            time.sleep(0.05)
        [session] = target_of(tgtd, iqn).sessions
        assert session.addresses == ("127.0.0.1",)
        driver.unexport_volume(volume)
    finally:
        client.kill()
        client.wait(timeout=INITIATOR_TIMEOUT)
    assert [t for t in tgtd.targets() if t.iqn == iqn] == []
    assert tgtd.accounts() == []
    driver.unexport_volume(volume)  # not exported: not an error


def test_exported_volumes_are_exactly_this_backends_exports(
    driver: FileDriver, tgtd: PrivateTgtd, tmp_path: Path
) -> None:
    volumes = [new_volume(driver) for _ in range(3)]
    for volume in volumes[:2]:
        driver.export_volume(volume, new_export())
    assert driver.exported_volumes() == sorted(v.id for v in volumes[:2])
    # Another backend on the same tgtd exports its own volumes only.
    other = make_export_driver(tmp_path / "other", tgtd)
    theirs = new_volume(other)
    other.export_volume(theirs, new_export())
    assert other.exported_volumes() == [theirs.id]
    driver.unexport_volume(volumes[0])
    assert driver.exported_volumes() == [volumes[1].id]


def test_concurrent_exports_take_distinct_target_ids(driver: FileDriver, tgtd: PrivateTgtd) -> None:
    volumes = [new_volume(driver) for _ in range(6)]
    # One driver each, so no lock in this process orders them: only tgtd decides.
    drivers = [make_export_driver(driver.folder, tgtd) for _ in volumes]
    errors: list[BaseException] = []

    def export(d: FileDriver, volume: VolumeSpec) -> None:
        try:
            d.export_volume(volume, new_export())
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=export, args=pair) for pair in zip(drivers, volumes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    targets = tgtd.targets()
    assert len({t.tid for t in targets}) == len(targets) == len(volumes)
    assert driver.exported_volumes() == sorted(v.id for v in volumes)


def test_an_export_without_tgtadm_says_how_to_install_it(
    tmp_path: Path, tgtd: PrivateTgtd, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    driver = make_export_driver(tmp_path / "volumes", tgtd)  # do_setup does not need tgt
    volume = new_volume(driver)
    with pytest.raises(DriverError, match=r"^tgtadm is not installed \(apt-get install tgt\)$"):
        driver.export_volume(volume, new_export())


def test_an_export_without_tgtd_says_it_is_not_running(tmp_path: Path, tgtd: PrivateTgtd) -> None:
    # A control port no tgtd listens on (checked: a tgtd of another run might).
    unused = PrivateTgtd(tgtd.control_port + 4096, tgtd.address, tgtd.port)
    assert not unused.running()
    driver = make_export_driver(tmp_path / "volumes", unused)
    volume = new_volume(driver)
    with pytest.raises(
        DriverError, match=rf"^tgtd is not running on control port {unused.control_port}: "
    ):
        driver.export_volume(volume, new_export())


def test_an_extended_volume_shows_its_new_size_through_its_export(
    driver: FileDriver, tgtd: PrivateTgtd
) -> None:
    volume = new_volume(driver)
    export = new_export()
    iqn = driver.export_volume(volume, export)["target_iqn"]
    assert qemu_io(url(tgtd, iqn, export), "write -P 0x7e 0 1M").returncode == 0
    before = target_of(tgtd, iqn)
    driver.extend_volume(volume, 3)
    # tgtd read the size when it made the LUN: the initiator still sees 1 GiB.
    assert "1 GiB" in qemu_io(url(tgtd, iqn, export), "length").stdout
    driver.extend_export(volume)
    assert "3 GiB" in qemu_io(url(tgtd, iqn, export), "length").stdout
    # The same target, account and ACL, and the data is still there.
    after = target_of(tgtd, iqn)
    assert (after.tid, after.accounts, after.acl) == (before.tid, before.accounts, before.acl)
    assert qemu_io(url(tgtd, iqn, export), "read -P 0x7e 0 1M").returncode == 0
    assert qemu_io(url(tgtd, iqn, export), "write -P 0x11 2G 1M").returncode == 0


def test_a_read_only_export_stays_read_only_when_refreshed(
    driver: FileDriver, tgtd: PrivateTgtd
) -> None:
    volume = new_volume(driver)
    export = new_export(read_only=True)
    iqn = driver.export_volume(volume, export)["target_iqn"]
    driver.extend_volume(volume, 2)
    driver.extend_export(volume)
    lun = target_of(tgtd, iqn).lun(1)
    assert lun is not None and lun.readonly
    assert qemu_io(url(tgtd, iqn, export), "write 0 4k").returncode != 0


def test_refreshing_a_volume_that_is_not_exported_does_nothing(
    driver: FileDriver, tgtd: PrivateTgtd
) -> None:
    driver.extend_export(new_volume(driver))
    assert tgtd.targets() == []
