"""The file driver's manage_existing against real files in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.agent.jobs import JOB_KINDS
from app.drivers import BackendOptions, DriverError, VolumeSpec, create_driver
from app.drivers.file import FileDriver
from app.drivers.sizes import GiB
from tests.drivers.helpers import PlainDriver

VOLUME_ID = "0b6c5d2e-1f7a-4c33-9b1e-5d2f3a4b5c6d"
OTHER_ID = "7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def driver(tmp_path: Path) -> FileDriver:
    made = create_driver("file1", "file", {"path": str(tmp_path / "file1"), "capacity_gb": 100})
    assert isinstance(made, FileDriver)
    made.do_setup()
    return made


def unsized(volume_id: str = VOLUME_ID) -> VolumeSpec:
    """The VOL of a manage job: its size is not known yet."""
    return VolumeSpec.from_dict(
        {"id": volume_id, "size_gb": 0, "pool": "file1", "host": "node1@file1#file1"},
        sized=False,
    )


def write(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.write(b"data")
        f.truncate(size)


def test_renames_the_file_and_reports_its_size(driver: FileDriver) -> None:
    source = driver.folder / "legacy.img"
    write(source, 3 * GiB)
    inode = source.stat().st_ino
    result = driver.manage_existing(unsized(), {"source-name": "legacy.img"})
    target = driver.folder / f"volume-{VOLUME_ID}"
    assert result == {"size_gb": 3, "provider_location": str(target)}
    assert not source.exists()
    st = target.stat()
    assert st.st_ino == inode and st.st_size == 3 * GiB
    assert st.st_mode & 0o777 == 0o600
    assert target.read_bytes()[:4] == b"data"
    # The backend now counts it as one of its volumes.
    [pool] = driver.get_volume_stats()["pools"]
    assert pool["total_volumes"] == 1 and pool["allocated_capacity_gb"] == 3.0


@pytest.mark.parametrize(
    ("size", "gib"),
    [(1, 1), (GiB - 1, 1), (GiB + 1, 2), (5 * GiB // 2, 3), (0, 1)],
)
def test_size_rounds_up_to_whole_gib_and_the_file_grows(
    driver: FileDriver, size: int, gib: int
) -> None:
    write(driver.folder / "odd.raw", size)
    result = driver.manage_existing(unsized(), {"source-name": "odd.raw"})
    assert result["size_gb"] == gib
    assert (driver.folder / f"volume-{VOLUME_ID}").stat().st_size == gib * GiB


def test_a_retry_after_the_rename_succeeds_with_the_same_answer(driver: FileDriver) -> None:
    write(driver.folder / "disk", GiB + 10)
    first = driver.manage_existing(unsized(), {"source-name": "disk"})
    assert driver.manage_existing(unsized(), {"source-name": "disk"}) == first
    assert first["size_gb"] == 2
    assert sorted(p.name for p in driver.folder.iterdir()) == [f"volume-{VOLUME_ID}"]


def test_a_retry_never_takes_a_new_file_of_the_same_name(driver: FileDriver) -> None:
    write(driver.folder / "disk", GiB)
    driver.manage_existing(unsized(), {"source-name": "disk"})
    write(driver.folder / "disk", 4 * GiB)  # someone puts another file there
    assert driver.manage_existing(unsized(), {"source-name": "disk"})["size_gb"] == 1
    assert (driver.folder / "disk").stat().st_size == 4 * GiB


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ({}, "source-name"),
        ({"source-name": ""}, "source-name"),
        ({"source-name": 7}, "source-name"),
        ({"source-id": "x"}, "source-name"),
        ({"source-name": "../outside"}, "plain file name"),
        ({"source-name": "sub/file"}, "plain file name"),
        ({"source-name": ".."}, "plain file name"),
        ({"source-name": "."}, "plain file name"),
        ({"source-name": f"volume-{OTHER_ID}"}, "already a volume"),
        ({"source-name": ".partial-volume-x-1"}, "being created"),
        ({"source-name": "missing.img"}, "no file named 'missing.img'"),
    ],
)
def test_refusals(driver: FileDriver, ref: dict[str, Any], why: str) -> None:
    (driver.folder.parent / "outside").write_bytes(b"secret")
    write(driver.folder / f"volume-{OTHER_ID}", GiB)
    with pytest.raises(DriverError, match=why):
        driver.manage_existing(unsized(), ref)
    assert not (driver.folder / f"volume-{VOLUME_ID}").exists()
    assert (driver.folder.parent / "outside").read_bytes() == b"secret"
    assert (driver.folder / f"volume-{OTHER_ID}").stat().st_size == GiB


def test_refuses_what_is_not_a_plain_file(driver: FileDriver, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"x")
    (driver.folder / "link").symlink_to(secret)
    (driver.folder / "dir").mkdir()
    write(driver.folder / "a", GiB)
    os.link(driver.folder / "a", driver.folder / "b")
    for name, why in (("link", "not a regular file"), ("dir", "not a regular file")):
        with pytest.raises(DriverError, match=why):
            driver.manage_existing(unsized(), {"source-name": name})
    with pytest.raises(DriverError, match="other hard links"):
        driver.manage_existing(unsized(), {"source-name": "a"})
    assert not (driver.folder / f"volume-{VOLUME_ID}").exists()
    assert secret.read_bytes() == b"x"


def test_the_managed_volume_is_deleted_like_any_other(driver: FileDriver) -> None:
    write(driver.folder / "disk", GiB)
    driver.manage_existing(unsized(), {"source-name": "disk"})
    driver.delete_volume(unsized())  # an error_managing volume: size still 0
    assert list(driver.folder.iterdir()) == []


def test_unsized_specs_only_where_the_size_is_not_needed() -> None:
    with pytest.raises(DriverError, match="at least 1"):
        VolumeSpec.from_dict({"id": VOLUME_ID, "size_gb": 0})
    with pytest.raises(DriverError, match="negative"):
        VolumeSpec.from_dict({"id": VOLUME_ID, "size_gb": -1}, sized=False)
    assert unsized().size_gb == 0


def test_the_agent_runs_manage_volume_jobs(driver: FileDriver) -> None:
    write(driver.folder / "disk", GiB)
    kind = JOB_KINDS[("manage_volume", 1)]
    payload = {
        "volume": {"id": VOLUME_ID, "size_gb": 0, "name": None, "pool": "file1"},
        "ref": {"source-name": "disk"},
    }
    assert kind.run(driver, payload)["size_gb"] == 1
    assert kind.changes_capacity
    with pytest.raises(DriverError, match="ref must be an object"):
        kind.run(driver, {"volume": payload["volume"], "ref": "disk"})
    # Deleting a volume whose manage failed (size 0) works through the agent too.
    JOB_KINDS[("delete_volume", 1)].run(driver, payload)
    assert list(driver.folder.iterdir()) == []


def test_other_drivers_refuse_by_default() -> None:
    plain = PlainDriver("p", BackendOptions())
    with pytest.raises(DriverError, match="plain driver cannot manage existing volumes"):
        plain.manage_existing(unsized(), {"source-name": "x"})
