"""The agent's export handlers run the backend's driver with what the payload says: a
file volume exported through a real (private) tgtd, then unexported; a driver that
cannot export refuses clearly, without the secret in its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import jobkinds
from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError, VolumeSpec
from app.drivers.file import FileDriver, FileDriverOptions
from tests.drivers.helpers import PlainDriver, PrivateTgtd, make_export_driver, qemu_io

VOLUME = {"id": "6f1c2a57-0000-4000-8000-000000000001", "size_gb": 1, "pool": "file1"}
PAYLOAD = {
    "volume": VOLUME,
    "chap_user": "user1",
    "chap_secret": "SecretNotLogged1",
    "initiators": ["127.0.0.1"],
    "read_only": False,
}


def test_export_then_unexport_through_the_handlers(tmp_path: Path, tgtd: PrivateTgtd) -> None:
    driver = make_export_driver(tmp_path, tgtd)
    driver.create_volume(VolumeSpec.from_dict(VOLUME))
    result = JOB_KINDS[jobkinds.EXPORT_VOLUME.key].run(driver, PAYLOAD)
    iqn = f"iqn.2010-10.org.openstack:volume-{VOLUME['id']}"
    assert result["target_iqn"] == iqn
    assert result["target_portal"] == f"127.0.0.1:{tgtd.port}"
    assert result["target_lun"] == 1
    assert [target.iqn for target in tgtd.targets()] == [iqn]
    assert tgtd.accounts() == ["user1"]

    JOB_KINDS[jobkinds.UNEXPORT_VOLUME.key].run(driver, {"volume": VOLUME})
    assert tgtd.targets() == [] and tgtd.accounts() == []
    # Idempotent: a volume no longer exported is unexported without an error.
    JOB_KINDS[jobkinds.UNEXPORT_VOLUME.key].run(driver, {"volume": VOLUME})


@pytest.mark.parametrize(
    ("kind", "payload"),
    [(jobkinds.EXPORT_VOLUME, PAYLOAD), (jobkinds.UNEXPORT_VOLUME, {"volume": VOLUME})],
)
def test_a_driver_that_cannot_export_refuses(
    kind: jobkinds.JobKind[jobkinds.Wire, jobkinds.Wire], payload: dict[str, object]
) -> None:
    with pytest.raises(DriverError, match="cannot export volumes") as refused:
        JOB_KINDS[kind.key].run(PlainDriver("plain1", PlainDriver.options_model()), payload)
    assert "SecretNotLogged1" not in str(refused.value)


def test_an_export_payload_without_its_chap_account_fails_in_one_line(tmp_path: Path) -> None:
    driver = FileDriver("file1", FileDriverOptions(path=tmp_path, capacity_gb=10))
    broken = {k: v for k, v in PAYLOAD.items() if k != "chap_secret"}
    with pytest.raises(DriverError, match="invalid job payload: no chap_secret"):
        JOB_KINDS[jobkinds.EXPORT_VOLUME.key].run(driver, broken)


def test_an_attached_extend_refreshes_the_export_and_an_unattached_one_does_not(
    tmp_path: Path, tgtd: PrivateTgtd
) -> None:
    driver = make_export_driver(tmp_path, tgtd)
    driver.create_volume(VolumeSpec.from_dict(VOLUME))
    JOB_KINDS[jobkinds.EXPORT_VOLUME.key].run(driver, PAYLOAD)
    iqn = f"iqn.2010-10.org.openstack:volume-{VOLUME['id']}"
    url = tgtd.url(iqn, user="user1", secret="SecretNotLogged1")
    extend = JOB_KINDS[jobkinds.EXTEND_VOLUME.key]

    extend.run(driver, {"volume": VOLUME, "new_size_gb": 2})
    assert "1 GiB" in qemu_io(url, "length").stdout
    extend.run(driver, {"volume": {**VOLUME, "size_gb": 2}, "new_size_gb": 3, "attached": True})
    assert "3 GiB" in qemu_io(url, "length").stdout
