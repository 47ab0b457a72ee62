"""The file driver's unmanage and manageable listings against real files (and, for
exports, the test run's private tgtd): unmanage keeps the volume file, a listing says
what is safe to manage, and a manage that adopts takes an unmanaged `volume-<id>` back."""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from pathlib import Path

import pytest

from app import jobkinds
from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError, ExportSpec, SnapshotSpec, VolumeSpec
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB
from tests.drivers.helpers import PrivateTgtd, make_driver, make_export_driver


def new_volume(driver: FileDriver, size_gb: int = 1) -> VolumeSpec:
    volume = VolumeSpec(id=str(uuid.uuid4()), size_gb=size_gb)
    driver.create_volume(volume)
    return volume


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_listing_tells_managed_from_manageable(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1")
    known = new_volume(driver, 2)
    forgotten = new_volume(driver)
    (driver.folder / "legacy.img").write_bytes(b"x" * (GiB + 1))
    (driver.folder / "shared.img").write_bytes(b"y")
    os.link(driver.folder / "shared.img", tmp_path / "elsewhere")
    (driver.folder / ".partial-volume-x-1").write_bytes(b"z")
    (driver.folder / "sub").mkdir()
    driver.create_snapshot(SnapshotSpec("s1", 2, known.id), known)

    listing = {
        item["reference"]["source-name"]: item
        for item in driver.get_manageable_volumes(frozenset({known.id}))
    }
    assert set(listing) == {
        f"volume-{known.id}",
        f"volume-{forgotten.id}",
        "legacy.img",
        "shared.img",
    }
    assert listing[f"volume-{known.id}"] == {
        "reference": {"source-name": f"volume-{known.id}"},
        "size": 2,
        "safe_to_manage": False,
        "reason_not_safe": "already managed",
        "cinder_id": known.id,
        "extra_info": None,
    }
    assert listing[f"volume-{forgotten.id}"]["safe_to_manage"] is True
    assert listing["legacy.img"]["size"] == 2  # rounded up
    assert listing["shared.img"]["reason_not_safe"] == "file has other hard links"

    [snapshot] = driver.get_manageable_snapshots(frozenset())
    assert snapshot["reference"] == {"source-name": "snapshot-s1"}
    assert snapshot["safe_to_manage"] is True and snapshot["source_reference"] == {
        "source-name": None
    }
    [snapshot] = driver.get_manageable_snapshots(frozenset({"s1"}))
    assert snapshot["cinder_id"] == "s1"


def test_unmanaged_volume_is_managed_back_only_by_adoption(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1")
    volume = new_volume(driver, 1)
    path = driver.volume_path(volume)
    with path.open("r+b") as f:
        f.write(b"precious")
    before = digest(path)
    driver.unmanage(volume)
    assert digest(path) == before
    ref = {"source-name": path.name}
    taker = VolumeSpec(id=str(uuid.uuid4()), size_gb=0)
    with pytest.raises(DriverError, match="already a volume"):
        driver.manage_existing(taker, ref)
    result = driver.manage_existing(taker, ref, adopt=True)
    assert result["size_gb"] == 1
    assert not path.exists() and digest(driver.volume_path(taker)) == before
    # A snapshot's file is never adopted as a volume.
    driver.create_snapshot(SnapshotSpec("s1", 1, taker.id), taker)
    with pytest.raises(DriverError, match="already a snapshot"):
        driver.manage_existing(
            VolumeSpec(id=str(uuid.uuid4()), size_gb=0), {"source-name": "snapshot-s1"}, adopt=True
        )


def test_listing_jobs_run_the_driver(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1")
    volume = new_volume(driver)
    kind = JOB_KINDS[jobkinds.LIST_MANAGEABLE_VOLUMES.key]
    result = kind.run(driver, {"known_ids": []})
    [item] = jobkinds.LIST_MANAGEABLE_VOLUMES.load_result(result).items
    assert item.reference == {"source-name": f"volume-{volume.id}"} and item.safe_to_manage
    kind = JOB_KINDS[jobkinds.UNMANAGE_VOLUME.key]
    assert kind.run(driver, {"volume": {"id": volume.id, "size_gb": 1}}) == {}
    assert driver.volume_path(volume).exists()


def test_unmanage_removes_the_export_and_an_exported_volume_is_not_safe(
    tmp_path: Path, tgtd: PrivateTgtd
) -> None:
    driver = make_export_driver(tmp_path / "volumes", tgtd)
    volume = new_volume(driver)
    export = ExportSpec(chap_user=f"u{secrets.token_hex(6)}", chap_secret=secrets.token_hex(8))
    driver.export_volume(volume, export)
    [item] = driver.get_manageable_volumes(frozenset())
    assert item["safe_to_manage"] is False and item["reason_not_safe"] == "volume exported"
    driver.unmanage(volume)
    assert volume.id not in driver.exported_volumes()
    assert driver.volume_path(volume).exists()
    [item] = driver.get_manageable_volumes(frozenset())
    assert item["safe_to_manage"] is True
    driver.unmanage(volume)  # again: nothing left to do
