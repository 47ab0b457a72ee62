"""Driver fixtures: a loop-mounted XFS filesystem with reflinks (needs root, losetup and
mkfs.xfs) and a private tgtd (needs tgt); skipped without them, required in CI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.drivers.helpers import PrivateTgtd


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@pytest.fixture
def xfs_folder(tmp_path: Path) -> Iterator[Path]:
    need(
        os.geteuid() == 0 and bool(shutil.which("mkfs.xfs")) and bool(shutil.which("losetup")),
        "root with mkfs.xfs (xfsprogs) and losetup",
    )
    image = tmp_path / "xfs.img"
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    with open(image, "wb") as f:
        f.truncate(512 * 1024 * 1024)
    try:
        _run("mkfs.xfs", "-q", "-m", "reflink=1", str(image))
        _run("mount", "-o", "loop", str(image), str(mountpoint))
    except subprocess.CalledProcessError as exc:
        need(False, f"a loop-mounted XFS image ({exc.stderr.decode().strip()})")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False, timeout=60)


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_tgtd(control_port: int, portal_port: int) -> subprocess.Popen[bytes] | None:
    """A tgtd on the given numbers, once it answers; None when it could not start."""
    daemon = subprocess.Popen(
        ["tgtd", "-f", "-C", str(control_port), "--iscsi", f"portal=127.0.0.1:{portal_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    probe = PrivateTgtd(control_port, "127.0.0.1", portal_port)
    for _ in range(100):
        if daemon.poll() is not None:
            return None
        if probe.running():
            # tgtd stays up without a portal it could not bind (taken meanwhile).
            portals = probe.tgtadm("--op", "show", "--mode", "portal").stdout
            if f"Portal: 127.0.0.1:{portal_port}," in portals:
                return daemon
            break
        time.sleep(0.05)
    daemon.kill()
    daemon.wait(timeout=10)
    return None


@pytest.fixture(scope="session")
def private_tgtd() -> Iterator[PrivateTgtd]:
    """One tgtd per xdist worker, on a control port and a portal no other tgtd uses."""
    need(bool(shutil.which("tgtd")) and bool(shutil.which("tgtadm")), "tgtd and tgtadm (tgt)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = 2000 + (os.getpid() % 500) * 16 + int(worker or 0) % 16
    for control_port in range(first, first + 64):
        if PrivateTgtd(control_port, "127.0.0.1", 0).running():
            continue  # another run's tgtd
        portal_port = _free_tcp_port()
        daemon = _start_tgtd(control_port, portal_port)
        if daemon is not None:
            break
    else:
        need(False, "a private tgtd (none of 64 control ports worked)")
        return
    tgtd = PrivateTgtd(control_port, "127.0.0.1", portal_port)
    try:
        yield tgtd
    finally:
        tgtd.clear()
        tgtd.tgtadm("--op", "delete", "--mode", "system")
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=10)


@pytest.fixture
def tgtd(private_tgtd: PrivateTgtd) -> Iterator[PrivateTgtd]:
    """The worker's tgtd, emptied after the test."""
    try:
        yield private_tgtd
    finally:
        private_tgtd.clear()
