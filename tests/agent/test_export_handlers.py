"""The agent's export handlers call the backend's driver with what the payload says; a
driver that cannot export (the file driver without a target helper) refuses clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import jobkinds
from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError
from app.drivers.file import FileDriver, FileDriverOptions

PAYLOAD = {
    "volume": {"id": "6f1c2a57-0000-4000-8000-000000000001", "size_gb": 1, "pool": "file1"},
    "chap_user": "user",
    "chap_secret": "secret-not-logged",
    "initiators": ["192.0.2.10"],
    "read_only": False,
}


@pytest.mark.parametrize(
    ("kind", "payload"),
    [(jobkinds.EXPORT_VOLUME, PAYLOAD), (jobkinds.UNEXPORT_VOLUME, {"volume": PAYLOAD["volume"]})],
)
def test_a_file_driver_without_a_target_refuses_to_export(
    tmp_path: Path, kind: jobkinds.JobKind[jobkinds.Wire, jobkinds.Wire], payload: dict[str, object]
) -> None:
    driver = FileDriver("file1", FileDriverOptions(path=tmp_path, capacity_gb=10))
    with pytest.raises(DriverError, match="cannot export volumes") as refused:
        JOB_KINDS[kind.key].run(driver, payload)
    assert "secret-not-logged" not in str(refused.value)


def test_an_export_payload_without_its_chap_account_fails_in_one_line(tmp_path: Path) -> None:
    driver = FileDriver("file1", FileDriverOptions(path=tmp_path, capacity_gb=10))
    broken = {k: v for k, v in PAYLOAD.items() if k != "chap_secret"}
    with pytest.raises(DriverError, match="invalid job payload: no chap_secret"):
        JOB_KINDS[jobkinds.EXPORT_VOLUME.key].run(driver, broken)
