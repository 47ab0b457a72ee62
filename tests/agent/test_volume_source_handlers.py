"""The agent's handlers of the volumes-from-volumes kinds run the backend's driver with
what the payload says: a file volume made from a snapshot, a volume reverted to one
(real files); a payload without its snapshot fails in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import jobkinds
from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError, SnapshotSpec, VolumeSpec
from app.drivers.copy import checksum
from tests.drivers.helpers import make_driver, snapshotted

SOURCE = VolumeSpec(id="11111111-1111-4111-8111-111111111111", size_gb=1, pool="file1")
SNAP = SnapshotSpec(id="33333333-3333-4333-8333-333333333333", size_gb=1, volume_id=SOURCE.id)
NEW = VolumeSpec(id="22222222-2222-4222-8222-222222222222", size_gb=1, pool="file1")


def test_the_create_from_snapshot_handler_makes_the_volume(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    want = snapshotted(driver, SOURCE, SNAP)
    kind = JOB_KINDS[jobkinds.CREATE_VOLUME_FROM_SNAPSHOT.key]
    assert kind.changes_capacity
    payload = {
        "volume": {"id": NEW.id, "size_gb": 1, "pool": "file1"},
        "snapshot": {"id": SNAP.id, "size_gb": 1, "volume_id": SOURCE.id},
        "qos_specs": None,
    }
    result = kind.bind(driver, payload, {})()
    assert result == {"provider_location": str(driver.volume_path(NEW))}
    assert checksum(driver.volume_path(NEW)) == want
    with pytest.raises(DriverError, match="invalid job payload: no snapshot"):
        kind.bind(driver, {"volume": payload["volume"]}, {})()


def test_the_revert_handler_puts_the_snapshots_data_back(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "file1", capacity_gb=100)
    want = snapshotted(driver, SOURCE, SNAP)
    kind = JOB_KINDS[jobkinds.REVERT_VOLUME_TO_SNAPSHOT.key]
    payload = {
        "volume": {"id": SOURCE.id, "size_gb": 1, "pool": "file1"},
        "snapshot": {"id": SNAP.id, "size_gb": 1, "volume_id": SOURCE.id},
    }
    assert kind.bind(driver, payload, {})() == {}
    assert checksum(driver.volume_path(SOURCE)) == want
