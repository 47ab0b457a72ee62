from __future__ import annotations

import pytest

from app.drivers import DriverError
from app.drivers.runner import CommandError, CommandRunner, CommandTimeout


def test_a_command_returns_a_typed_result() -> None:
    result = CommandRunner().run("sh", "-c", "echo out; echo err >&2")
    assert result.argv == ("sh", "-c", "echo out; echo err >&2")
    assert result.returncode == 0
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.duration >= 0


def test_a_failure_carries_stderr() -> None:
    with pytest.raises(CommandError) as info:
        CommandRunner().run("sh", "-c", "echo '  Volume group \"vg0\" not found' >&2; exit 5")
    error = info.value
    assert isinstance(error, DriverError)
    assert error.returncode == 5
    assert 'Volume group "vg0" not found' in error.stderr
    assert error.message == 'sh failed (exit code 5): Volume group "vg0" not found'


def test_accepted_return_codes() -> None:
    result = CommandRunner().run("sh", "-c", "exit 3", ok_returncodes=(0, 3))
    assert result.returncode == 3


def test_a_hung_command_times_out() -> None:
    with pytest.raises(CommandTimeout, match=r"sleep failed: timed out after 0.2 s"):
        CommandRunner().run("sleep", "5", timeout=0.2)


def test_a_missing_command_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="no-such-tool-here failed: No such file"):
        CommandRunner().run("no-such-tool-here")


def test_environment_and_input() -> None:
    runner = CommandRunner(env={"PUMICE_TEST": "one"})
    result = runner.run(
        "sh", "-c", 'echo "$PUMICE_TEST $LC_ALL $EXTRA"; cat', input="piped", env={"EXTRA": "two"}
    )
    assert result.stdout == "one C two\npiped"


def test_prefix_is_prepended() -> None:
    result = CommandRunner(prefix=("env",)).run("true")
    assert result.argv == ("env", "true")
