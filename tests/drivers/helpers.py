"""Builders shared by the driver tests."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.drivers import VolumeDriver, VolumeSpec, create_driver
from app.drivers.file import FileDriver
from app.drivers.targets.tgtshow import Target, parse_accounts, parse_targets

# Every initiator run gets a timeout: a client of a force-deleted target may hang.
INITIATOR_TIMEOUT = 60


def make_driver(folder: Path, **options: Any) -> FileDriver:
    driver = create_driver("file1", "file", {"path": str(folder), **options})
    assert isinstance(driver, FileDriver)
    driver.do_setup()
    return driver


def make_export_driver(folder: Path, tgtd: PrivateTgtd, **options: Any) -> FileDriver:
    """A file driver whose exports go to the test's private tgtd."""
    return make_driver(
        folder,
        target_ip_address=tgtd.address,
        target_port=tgtd.port,
        tgt_control_port=tgtd.control_port,
        **options,
    )


def qemu_io(url: str, command: str, *, read_only: bool = False) -> subprocess.CompletedProcess[str]:
    """One qemu-io command on an iSCSI LUN over libiscsi (a userspace initiator)."""
    return subprocess.run(
        ["qemu-io", *(["-r"] if read_only else []), "-f", "raw", "-c", command, url],
        capture_output=True,
        text=True,
        timeout=INITIATOR_TIMEOUT,
        check=False,
    )


@dataclass(frozen=True)
class PrivateTgtd:
    """A tgtd of this test run: its control port (tgtadm -C) and its portal."""

    control_port: int
    address: str
    port: int

    def tgtadm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tgtadm", "-C", str(self.control_port), "--lld", "iscsi", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def running(self) -> bool:
        return self.tgtadm("--op", "show", "--mode", "sys").returncode == 0

    def targets(self) -> list[Target]:
        return parse_targets(self.tgtadm("--op", "show", "--mode", "target").stdout)

    def accounts(self) -> list[str]:
        return parse_accounts(self.tgtadm("--op", "show", "--mode", "account").stdout)

    def url(self, iqn: str, lun: int = 1, user: str = "", secret: str = "") -> str:
        """libiscsi's URL of a LUN, with CHAP credentials when given."""
        login = f"{user}%{secret}@" if user else ""
        return f"iscsi://{login}{self.address}:{self.port}/{iqn}/{lun}"

    def clear(self) -> None:
        """Deletes every target (sessions or not) and account, as a fresh tgtd has none."""
        for target in self.targets():
            self.tgtadm("--op", "delete", "--force", "--mode", "target", "--tid", str(target.tid))
        for user in self.accounts():
            self.tgtadm("--op", "delete", "--mode", "account", "--user", user)


class PlainDriver(VolumeDriver):
    """A driver with only the required methods: no local path, so every optional
    operation keeps the base class's refusal."""

    driver_name = "plain"
    storage_protocol = "file"

    def do_setup(self) -> None:
        pass

    def get_volume_stats(self) -> dict[str, Any]:
        return self.backend_stats([])

    def create_volume(self, volume: VolumeSpec) -> dict[str, Any]:
        return {}

    def delete_volume(self, volume: VolumeSpec) -> None:
        pass

    def extend_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        pass


class LvmMetadata:
    """A volume group's LVs as LVM's metadata holds them, behind the LVM driver's command
    runner: answers `lvs` with the JSON report LVM prints (the shape of the recorded
    reports in tests/drivers/data/lvm) and applies the lvcreate (plain and thin
    volumes, thin snapshots), lvextend, lvremove and lvrename argv the driver builds, as
    LVM would (lvchange and dd are recorded only). Thin LVs and copies need
    device-mapper, which this lab lacks (../shared/STORAGE_LAB.md): this checks the
    driver's command sequence and its reading of the results; test_lvm_vm.py runs
    them for real."""

    def __init__(self, vg: str, pool: str, pool_bytes: int = 100 * 1024**3) -> None:
        self.vg, self.pool = vg, pool
        self.lvs: dict[str, dict[str, str]] = {}
        self.commands: list[tuple[str, ...]] = []
        self._add(pool, pool_bytes, "twi-aotz--", data_percent="1.00", metadata_percent="1.00")

    def _add(self, name: str, size: int, attr: str, **more: str) -> None:
        self.lvs[name] = {
            "lv_name": name, "vg_name": self.vg, "lv_size": str(size), "lv_attr": attr,
            "pool_lv": more.get("pool_lv", ""), "origin": more.get("origin", ""),
            "data_percent": more.get("data_percent", "0.00"),
            "metadata_percent": more.get("metadata_percent", ""),
        }  # fmt: skip

    def thin_volume(self, name: str, size: int, origin: str = "") -> None:
        self._add(name, size, "Vwi-a-tz--", pool_lv=self.pool, origin=origin)

    def plain_volume(
        self, name: str, size: int, attr: str = "-wi-a-----", origin: str = ""
    ) -> None:
        self._add(name, size, attr, origin=origin)

    def names(self) -> set[str]:
        return set(self.lvs) - {self.pool}

    def run(self, *argv: str, **_options: Any) -> Any:
        from app.drivers.runner import CommandResult

        args = [a for a in argv if a not in ("--config", "global/activation=0")]
        tool, rest = args[0], args[1:]
        if tool != "lvs":
            self.commands.append(tuple(args))
        stdout = ""
        if tool == "lvs":
            stdout = json.dumps({"report": [{"lv": list(self.lvs.values())}]})
        elif tool == "lvcreate" and "-s" in rest:
            name, origin = _after(rest, "-n"), rest[-1].split("/", 1)[1]
            self.thin_volume(name, int(self.lvs[origin]["lv_size"]), origin=origin)
        elif tool == "lvcreate" and "-L" in rest:
            size = int(_after(rest, "-L").removesuffix("g")) * 1024**3
            self.plain_volume(_after(rest, "-n"), size)
        elif tool == "lvcreate" and "-T" in rest:
            size = int(_after(rest, "-V").removesuffix("g")) * 1024**3
            self.thin_volume(_after(rest, "-n"), size)
        elif tool == "lvextend":
            name = rest[-1].split("/", 1)[1]
            self.lvs[name]["lv_size"] = str(int(_after(rest, "-L").removesuffix("g")) * 1024**3)
        elif tool == "lvremove":
            gone = rest[-1].split("/", 1)[1]
            del self.lvs[gone]
            for lv in self.lvs.values():  # thin snapshots outlive their origin
                if lv["origin"] == gone:
                    lv["origin"] = ""
        elif tool == "lvrename":
            old, new = rest[-2], rest[-1]
            self.lvs[new] = {**self.lvs.pop(old), "lv_name": new}
            for lv in self.lvs.values():
                if lv["origin"] == old:
                    lv["origin"] = new
        elif tool not in ("lvchange", "dd"):
            raise AssertionError(f"unexpected command {args}")
        return CommandResult(tuple(argv), 0, stdout, "", 0.0)


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]
