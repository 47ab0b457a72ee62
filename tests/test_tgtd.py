"""The private tgtd `pumice up` runs (app/tgtd.py), with the real tgtd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app import tgtd
from tests.conftest import free_port, need


@pytest.fixture
def have_tgt() -> None:
    need(shutil.which("tgtd") is not None and shutil.which("tgtadm") is not None, "tgt")


def _answers(control_port: int) -> bool:
    done = subprocess.run(
        ["tgtadm", "-C", str(control_port), "--op", "show", "--mode", "system"],
        capture_output=True,
        timeout=10,
    )
    return done.returncode == 0


@pytest.mark.usefixtures("have_tgt")
def test_two_private_daemons_take_their_own_control_ports_and_stop(tmp_path: Path) -> None:
    first = tgtd.start("127.0.0.1", free_port(), tmp_path / "a.log")
    try:
        second = tgtd.start("127.0.0.1", free_port(), tmp_path / "b.log")
        try:
            assert first.control_port != second.control_port
            assert _answers(first.control_port) and _answers(second.control_port)
        finally:
            second.stop()
        assert not second.alive()
        assert _answers(first.control_port)
    finally:
        first.stop()
    assert not first.alive()
    assert not _answers(first.control_port)


@pytest.mark.usefixtures("have_tgt")
def test_a_portal_in_use_is_refused_with_its_address(tmp_path: Path) -> None:
    port = free_port()
    first = tgtd.start("127.0.0.1", port, tmp_path / "a.log")
    try:
        with pytest.raises(tgtd.TgtdUnavailable, match=f"127.0.0.1:{port} is already in use"):
            tgtd.start("127.0.0.1", port, tmp_path / "b.log")
    finally:
        first.stop()


def test_without_tgt_the_reason_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tgtd, no tgtadm
    with pytest.raises(tgtd.TgtdUnavailable, match="apt-get install tgt"):
        tgtd.start("127.0.0.1", free_port(), tmp_path / "tgtd.log")


@pytest.mark.usefixtures("have_tgt")
def test_a_dead_daemon_restarts_on_its_control_port_and_portal(tmp_path: Path) -> None:
    first = tgtd.start("127.0.0.1", free_port(), tmp_path / "tgtd.log")
    first.stop()
    assert not _answers(first.control_port)
    again = tgtd.restart(first, tmp_path / "tgtd.log")
    try:
        assert again.control_port == first.control_port
        assert (again.portal_host, again.portal_port) == (first.portal_host, first.portal_port)
        assert _answers(again.control_port)
    finally:
        again.stop()
