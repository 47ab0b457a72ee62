"""CHAP secrets never reach a log line, an error message or a kept command line; and a
driver with no local path refuses to export."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from app.drivers import BackendOptions, DriverError, ExportSpec, VolumeSpec
from app.drivers.runner import CommandError, CommandRunner, CommandTimeout
from tests.drivers.helpers import PlainDriver, PrivateTgtd, make_export_driver, qemu_io

SECRET = "Zq7secretvalue42"


def test_a_failed_command_masks_the_secret_it_was_given() -> None:
    runner = CommandRunner()
    with pytest.raises(CommandError) as info:
        # The tool echoes its argument to stderr, as a chatty tool might.
        runner.run("sh", "-c", 'echo "bad password $1" >&2; exit 3', "sh", SECRET, redact=(SECRET,))
    error = info.value
    assert error.message == "sh failed (exit code 3): bad password ***"
    assert error.argv[-1] == "***"
    assert SECRET not in repr(error.argv) + error.stderr + error.stdout + str(error)


def test_a_command_keeps_and_logs_only_the_masked_argv() -> None:
    runner = CommandRunner()
    with capture_logs() as logs:
        result = runner.run("echo", f"--password={SECRET}", redact=(SECRET,))
        with pytest.raises(CommandTimeout) as info:
            runner.run("sh", "-c", "sleep 5", SECRET, timeout=0.2, redact=(SECRET,))
    assert result.argv == ("echo", "--password=***")
    assert result.stdout == "--password=***\n"
    assert info.value.argv == ("sh", "-c", "sleep 5", "***")
    [timed_out] = [entry for entry in logs if entry["event"] == "command timed out"]
    assert timed_out["argv"] == ("sh", "-c", "sleep 5", "***")
    assert SECRET not in repr(logs)


def test_an_export_never_logs_its_secret(tmp_path: Path, tgtd: PrivateTgtd) -> None:
    driver = make_export_driver(tmp_path / "volumes", tgtd)
    volume = VolumeSpec(id=str(uuid.uuid4()), size_gb=1)
    driver.create_volume(volume)
    first = ExportSpec(chap_user="secretive", chap_secret=secrets.token_hex(8))
    second = ExportSpec(chap_user="secretive", chap_secret=secrets.token_hex(8))
    with capture_logs() as logs:
        iqn = driver.export_volume(volume, first)["target_iqn"]
        driver.export_volume(volume, second)  # replaces the account: a new password
        refused = qemu_io(
            tgtd.url(iqn, user=first.chap_user, secret=first.chap_secret), "read 0 4k"
        )
        driver.unexport_volume(volume)
    assert refused.returncode != 0
    assert [e["event"] for e in logs if e["event"].startswith("volume ")] == [
        "volume exported",
        "volume exported",
        "volume unexported",
    ]
    text = repr(logs)
    assert first.chap_secret not in text
    assert second.chap_secret not in text


def test_a_driver_without_a_local_path_cannot_export() -> None:
    driver = PlainDriver("plain1", BackendOptions())
    volume = VolumeSpec(id="v1", size_gb=1)
    with pytest.raises(DriverError, match=r"^the plain driver cannot export volumes$"):
        driver.export_volume(volume, ExportSpec(chap_user="u1", chap_secret=SECRET))
    with pytest.raises(DriverError, match=r"^the plain driver cannot export volumes$"):
        driver.unexport_volume(volume)
    assert driver.exported_volumes() == []
