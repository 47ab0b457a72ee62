"""The LVM commands the driver runs, built as argv lists and run through the one
command runner; reports come back typed (reports.py).

`activation=False` is a lab and test switch for hosts without device-mapper: every
command carries `--config global/activation=0` and new LVs are made inactive (`-an`,
and `-Zn` for plain ones, which cannot be zeroed without a device), so LVM changes its
metadata for real but no `/dev/<vg>/<lv>` appears and nothing can read or write one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.drivers.lvm.reports import LV_FIELDS, VG_FIELDS, LvReport, VgReport, parse_lvs, parse_vgs
from app.drivers.runner import CommandError, CommandRunner

MiB = 1024**2
# lvm exits 5 for "not found" and for most other failures alike: stderr tells them apart.
_LVM_FAILED = 5
_REPORT = ("--reportformat", "json", "--units", "b", "--nosuffix")
_NO_ACTIVATION = ("--config", "global/activation=0")


def lvm_runner() -> CommandRunner:
    # LVM warns about every inherited file descriptor (the agent's sockets) on stderr.
    return CommandRunner(env={"LVM_SUPPRESS_FD_WARNINGS": "1"})


def dd_argv(source: str, target: str, count_mib: int, *, direct_input: bool) -> tuple[str, ...]:
    """Copy `count_mib` MiB from `source` to `target` past the page cache and flushed
    before dd exits (a wipe is `source` /dev/zero, which refuses O_DIRECT)."""
    argv = ["dd", f"if={source}", f"of={target}", "bs=1M", f"count={count_mib}"]
    if direct_input:
        argv.append("iflag=direct")
    argv += ["oflag=direct", "conv=fdatasync", "status=none"]
    return tuple(argv)


def dm_name(vg: str, lv: str) -> str:
    """The device-mapper name of an LV: dashes inside each name are doubled."""
    return f"{vg.replace('-', '--')}-{lv.replace('-', '--')}"


@dataclass(frozen=True)
class Lvm:
    """Commands on one volume group."""

    vg: str
    activation: bool = True
    runner: CommandRunner = field(default_factory=lvm_runner)

    # -- argv ----------------------------------------------------------------------------

    def _tool(self, name: str) -> tuple[str, ...]:
        return (name,) if self.activation else (name, *_NO_ACTIVATION)

    def _lvcreate(self, *, zero: bool) -> tuple[str, ...]:
        # `zero`: the LV is plain (zeroing its first KiB is what -Zn turns off without a
        # device); thin pools and snapshots refuse -Z, thin pools must keep zeroing.
        inactive = () if self.activation else (("-an", "-Zn") if zero else ("-an",))
        return (*self._tool("lvcreate"), "--yes", *inactive)

    def vgs_argv(self) -> tuple[str, ...]:
        return (*self._tool("vgs"), *_REPORT, "-o", ",".join(VG_FIELDS), self.vg)

    def lvs_argv(self) -> tuple[str, ...]:
        return (*self._tool("lvs"), *_REPORT, "-o", ",".join(LV_FIELDS), self.vg)

    def create_argv(self, name: str, size_gb: int) -> tuple[str, ...]:
        return (*self._lvcreate(zero=True), "-L", f"{size_gb}g", "-n", name, self.vg)

    def create_thin_argv(self, name: str, size_gb: int, pool: str) -> tuple[str, ...]:
        return (
            *self._lvcreate(zero=False), "-T", "-V", f"{size_gb}g", "-n", name,
            f"{self.vg}/{pool}",
        )  # fmt: skip

    def create_thin_pool_argv(self, pool: str, percent_of_free: int) -> tuple[str, ...]:
        # Some of the free space stays outside the pool for its metadata to grow into.
        return (
            *self._lvcreate(zero=False), "-T", "-l", f"{percent_of_free}%FREE",
            f"{self.vg}/{pool}",
        )  # fmt: skip

    def thin_snapshot_argv(self, name: str, origin: str) -> tuple[str, ...]:
        # A thin snapshot is flagged "skip activation" by default; an LV that must come
        # up like any volume (a clone, a snapshot to back up) is made without the flag.
        return (
            *self._lvcreate(zero=False), "-s", "--setactivationskip", "n", "-n", name,
            f"{self.vg}/{origin}",
        )  # fmt: skip

    def cow_snapshot_argv(self, name: str, origin: str, size_gb: int) -> tuple[str, ...]:
        return (
            *self._lvcreate(zero=False), "-s", "-L", f"{size_gb}g", "-n", name,
            f"{self.vg}/{origin}",
        )  # fmt: skip

    def activate_argv(self, name: str) -> tuple[str, ...]:
        # -K activates even an LV flagged "skip activation".
        return ("lvchange", "-a", "y", "-K", f"{self.vg}/{name}")

    def extend_argv(self, name: str, size_gb: int) -> tuple[str, ...]:
        return (*self._tool("lvextend"), "-L", f"{size_gb}g", f"{self.vg}/{name}")

    def remove_argv(self, name: str) -> tuple[str, ...]:
        return (*self._tool("lvremove"), "-y", f"{self.vg}/{name}")

    def rename_argv(self, old: str, new: str) -> tuple[str, ...]:
        return (*self._tool("lvrename"), self.vg, old, new)

    def device_path(self, name: str) -> str:
        return f"/dev/{self.vg}/{name}"

    def cow_device_path(self, name: str) -> str:
        """A COW snapshot's exception store: what holds the snapshot's own data."""
        return f"/dev/mapper/{dm_name(self.vg, name)}-cow"

    # -- running ---------------------------------------------------------------------------

    def run(self, argv: tuple[str, ...], *, timeout: float | None = None) -> None:
        self.runner.run(*argv, timeout=timeout)

    def read_vg(self) -> VgReport | None:
        """The volume group, or None when it does not exist."""
        argv = self.vgs_argv()
        result = self.runner.run(*argv, ok_returncodes=(0, _LVM_FAILED))
        if result.returncode != 0:
            if f'"{self.vg}" not found' in result.stderr:
                return None
            raise CommandError(argv, result.returncode, result.stdout, result.stderr)
        return next((vg for vg in parse_vgs(result.stdout) if vg.vg_name == self.vg), None)

    def read_lvs(self) -> list[LvReport]:
        return parse_lvs(self.runner.run(*self.lvs_argv()).stdout)

    def find(self, name: str) -> LvReport | None:
        return next((lv for lv in self.read_lvs() if lv.lv_name == name), None)
