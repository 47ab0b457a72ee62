"""A private tgtd for the all-in-one service, so that attaching works out of the box.

`pumice up` starts its own tgtd in userspace on a control port no other tgtd holds and
on a portal of its own, and hands both to its agent's file backend (`tgt_control_port`,
`target_ip_address`, `target_port`). A system tgtd, if any, is left alone. tgtd ignores
SIGTERM, so it is stopped with SIGKILL (it holds no state worth keeping: the agent
exports attached volumes again when it starts).
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "attaching volumes needs tgt: install it with 'apt-get install tgt'"
# tgtd's control sockets: /var/run/tgtd/socket.<N>, each guarded by a lock file.
SOCKET_DIR = Path("/var/run/tgtd")
CONTROL_PORTS = range(300, 400)  # clear of the default 0 and of a tester's small numbers
READY_SECONDS = 10.0


class TgtdUnavailable(Exception):
    """tgtd is not installed or could not start; the message says why in one line."""


@dataclass
class PrivateTgtd:
    control_port: int
    portal_host: str
    portal_port: int
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=10)


def start(
    portal_host: str,
    portal_port: int,
    log_path: Path,
    preexec_fn: Callable[[], None] | None = None,
) -> PrivateTgtd:
    """Start a tgtd on a free control port with its portal at portal_host:portal_port;
    TgtdUnavailable when tgt is missing or tgtd does not come up."""
    tgtd, tgtadm = shutil.which("tgtd"), shutil.which("tgtadm")
    if tgtd is None or tgtadm is None:
        raise TgtdUnavailable(INSTALL_HINT)
    if not _port_free(portal_host, portal_port):
        raise TgtdUnavailable(f"the iSCSI portal {portal_host}:{portal_port} is already in use")
    # Choosing a free control port and taking it (tgtd locks it once running) is one
    # step under our own lock, so two `pumice up` starting together never pick the same.
    for _ in range(3):
        with _allocation_lock():
            daemon = _launch(
                tgtd, tgtadm, _free_control_port(), portal_host, portal_port, log_path, preexec_fn
            )
        if daemon is not None:
            return daemon
    raise TgtdUnavailable(f"tgtd exited at start; see {log_path}")


def restart(
    dead: PrivateTgtd, log_path: Path, preexec_fn: Callable[[], None] | None = None
) -> PrivateTgtd:
    """A tgtd again on a dead one's control port and portal (what the agent's backends
    are configured with); it starts empty. TgtdUnavailable when it does not come up."""
    tgtd, tgtadm = shutil.which("tgtd"), shutil.which("tgtadm")
    if tgtd is None or tgtadm is None:
        raise TgtdUnavailable(INSTALL_HINT)
    with _allocation_lock():
        daemon = _launch(
            tgtd,
            tgtadm,
            dead.control_port,
            dead.portal_host,
            dead.portal_port,
            log_path,
            preexec_fn,
        )
    if daemon is None:
        raise TgtdUnavailable(f"tgtd exited at restart; see {log_path}")
    return daemon


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    _make_socket_dir()
    with (SOCKET_DIR / "pumice-allocate.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _launch(
    tgtd: str,
    tgtadm: str,
    control: int,
    portal_host: str,
    portal_port: int,
    log_path: Path,
    preexec_fn: Callable[[], None] | None,
) -> PrivateTgtd | None:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [tgtd, "-f", "-C", str(control), "--iscsi", f"portal={portal_host}:{portal_port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    daemon = PrivateTgtd(control, portal_host, portal_port, process)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if not daemon.alive():
            return None
        portals = _portals(tgtadm, control)
        if portals is not None:
            if f"{portal_host}:{portal_port}" in portals:
                return daemon
            # tgtd that cannot bind the asked portal quietly listens on its default one
            # (0.0.0.0:3260) instead: never keep such a daemon.
            daemon.stop()
            raise TgtdUnavailable(
                f"tgtd could not listen on {portal_host}:{portal_port} (it offered "
                f"{', '.join(portals) or 'no portal'}); see {log_path}"
            )
        time.sleep(0.1)
    daemon.stop()
    raise TgtdUnavailable(f"tgtd did not answer within {READY_SECONDS:g} s; see {log_path}")


def _portals(tgtadm: str, control: int) -> list[str] | None:
    """The portals a running tgtd listens on ("127.0.0.1:3260"), or None while its
    control port does not answer yet."""
    shown = subprocess.run(
        [tgtadm, "-C", str(control), "--op", "show", "--mode", "portal"],
        capture_output=True,
        text=True,
        timeout=5,
        env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    if shown.returncode != 0:
        return None
    # "Portal: 127.0.0.1:3260,1": address, then the portal group after the comma.
    return [
        line.split(":", 1)[1].strip().rsplit(",", 1)[0]
        for line in shown.stdout.splitlines()
        if line.startswith("Portal:")
    ]


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _make_socket_dir() -> None:
    try:
        SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TgtdUnavailable(f"cannot create {SOCKET_DIR}: {exc.strerror}") from None


def _free_control_port() -> int:
    """A control port whose lock no running tgtd holds (tgtd locks socket.<N>.lock with
    fcntl, so a lock we can take is one nobody holds)."""
    for port in CONTROL_PORTS:
        lock = SOCKET_DIR / f"socket.{port}.lock"
        try:
            with lock.open("a") as handle:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.lockf(handle, fcntl.LOCK_UN)
        except OSError:
            continue
        return port
    raise TgtdUnavailable(
        f"no free tgtd control port in {CONTROL_PORTS.start}-{CONTROL_PORTS.stop}"
    )
