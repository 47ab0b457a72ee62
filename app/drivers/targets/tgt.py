"""The tgt target helper: `tgtadm` against the userspace tgtd (Cinder's TgtAdm).

One target per volume with LUN 1 backed by the volume's local path, its own CHAP account
bound to it, and an ACL of the initiator addresses allowed to log in. The order of the
steps keeps the target closed: a new target has no ACL (nobody can log in) until its
account is bound, and an account that must change (a new secret or user, or a secret this
process did not set) is replaced only after the ACL was emptied, so there is never a
moment in which the target takes logins without CHAP.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import structlog

from app.drivers.base import BackendOptions, DriverError, ExportSpec
from app.drivers.runner import CommandError, CommandResult, CommandRunner
from app.drivers.targets.helper import TargetHelper
from app.drivers.targets.tgtshow import Target, parse_accounts, parse_targets

log = structlog.get_logger(__name__)

DATA_LUN = 1
# rdwr: plain reads and writes on the file or device (tgt's default); aio also works.
BACKING_TYPE = "rdwr"
ALL_INITIATORS = "ALL"
# tgtadm's exit code when no tgtd answers on the control socket.
_NO_DAEMON = 107
# Two exports may pick the same free tid; the loser retries with a fresh view.
_CREATE_ATTEMPTS = 8


def _already_exists(error: CommandError) -> bool:
    return "already exists" in error.stderr


def _not_found(error: CommandError) -> bool:
    return "can't find" in error.stderr or "does not exist" in error.stderr


class TgtTarget(TargetHelper):
    name = "tgtadm"

    def __init__(self, runner: CommandRunner, control_port: int | None = None) -> None:
        self.runner = runner
        self.control_port = control_port
        # The accounts this helper created, user -> sha256 of the password: tgtadm never
        # shows a password, so an account made elsewhere (or before a restart) is
        # replaced once to be sure of it, and one made here only when the secret changes.
        self._passwords: dict[str, str] = {}
        # Exports in this process go one at a time: they read, then change, tgtd's state.
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: BackendOptions, runner: CommandRunner) -> TgtTarget:
        return cls(runner, options.tgt_control_port)

    # -- the helper's hooks ------------------------------------------------------------

    def ensure(self, iqn: str, backing: Path, export: ExportSpec) -> int:
        with self._lock:
            target = self._find(iqn) or self._create(iqn)
            self._ensure_lun(target, backing, export.read_only)
            acl = self._ensure_account(target, export)
            self._ensure_acl(target.tid, acl, export.initiators)
        log.info(
            "volume exported",
            iqn=iqn,
            tid=target.tid,
            initiators=list(export.initiators) or ALL_INITIATORS,
            read_only=export.read_only,
        )
        return DATA_LUN

    def refresh(self, iqn: str) -> None:
        # tgtd reads a LUN's size once, when the LUN is made, and `--op update` does not
        # read it again (tgt 1.0.85): the LUN is made again on the same backing store,
        # with the same flags. The target, its account and its ACL stay, so logged-in
        # sessions stay too; their next READ CAPACITY sees the new size.
        with self._lock:
            target = self._find(iqn)
            lun = target.lun(DATA_LUN) if target else None
            if target is None or lun is None or not lun.backing_store:
                return
            lun_args = ("--mode", "logicalunit", "--tid", target.tid, "--lun", DATA_LUN)
            self._tgtadm("--op", "delete", *lun_args)
            self._new_lun(target, Path(lun.backing_store), lun.readonly)
        log.info("volume export refreshed", iqn=iqn, tid=target.tid)

    def remove(self, iqn: str) -> None:
        with self._lock:
            target = self._find(iqn)
            if target is None:
                return
            try:
                # --force: the API unexports only when no attachment uses the volume, so
                # a session still logged in is a leftover, not a user.
                self._tgtadm("--op", "delete", "--force", "--mode", "target", "--tid", target.tid)
            except CommandError as exc:
                if not _not_found(exc):
                    raise
            for user in target.accounts:
                self._delete_account(user)
        log.info("volume unexported", iqn=iqn, tid=target.tid, sessions=len(target.sessions))

    def exports(self) -> dict[str, Path | None]:
        result = {}
        for target in self.targets():
            lun = target.lun(DATA_LUN)
            backing = lun.backing_store if lun else None
            result[target.iqn] = Path(backing) if backing else None
        return result

    # -- tgtd's view -------------------------------------------------------------------

    def targets(self) -> list[Target]:
        return parse_targets(self._tgtadm("--op", "show", "--mode", "target").stdout)

    def accounts(self) -> list[str]:
        return parse_accounts(self._tgtadm("--op", "show", "--mode", "account").stdout)

    def _find(self, iqn: str) -> Target | None:
        return next((t for t in self.targets() if t.iqn == iqn), None)

    # -- steps -------------------------------------------------------------------------

    def _create(self, iqn: str) -> Target:
        for _ in range(_CREATE_ATTEMPTS):
            targets = self.targets()
            if found := next((t for t in targets if t.iqn == iqn), None):
                return found  # made by a concurrent export of the same volume
            tid = _free_tid({t.tid for t in targets})
            try:
                self._tgtadm("--op", "new", "--mode", "target", "--tid", tid, "-T", iqn)
            except CommandError as exc:
                if _already_exists(exc):
                    log.info("target id taken meanwhile, retrying", iqn=iqn, tid=tid)
                    continue
                raise
            return Target(tid=tid, iqn=iqn)
        raise DriverError(f"could not create target {iqn}: every free target id was taken")

    def _ensure_lun(self, target: Target, backing: Path, read_only: bool) -> None:
        lun = target.lun(DATA_LUN)
        lun_args = ("--mode", "logicalunit", "--tid", target.tid, "--lun", DATA_LUN)
        if lun is not None and lun.backing_store != str(backing):
            self._tgtadm("--op", "delete", *lun_args)
            lun = None
        if lun is None:
            self._new_lun(target, backing, read_only)
        elif lun.readonly != read_only:
            self._set_readonly(target, read_only)

    def _new_lun(self, target: Target, backing: Path, read_only: bool) -> None:
        lun_args = ("--mode", "logicalunit", "--tid", target.tid, "--lun", DATA_LUN)
        self._tgtadm("--op", "new", *lun_args, "-b", str(backing), "--bstype", BACKING_TYPE)
        self._set_readonly(target, read_only)

    def _set_readonly(self, target: Target, read_only: bool) -> None:
        flag = "1" if read_only else "0"
        self._tgtadm(
            "--op", "update", "--mode", "logicalunit", "--tid", target.tid, "--lun", DATA_LUN,
            "--params", f"readonly={flag}",
        )  # fmt: skip

    def _ensure_account(self, target: Target, export: ExportSpec) -> set[str]:
        """Binds the export's account, alone, to the target; returns the ACL left."""
        user, secret = export.chap_user, export.chap_secret
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if target.accounts == (user,) and self._passwords.get(user) == digest:
            return set(target.acl)
        # The account is replaced with the target closed: no ACL, so nobody logs in
        # while it has no account (which would let anybody in without CHAP).
        for address in sorted(target.acl):
            self._unbind_initiator(target.tid, address)
        # tgtd 1.0.85 crashes when an account other than the last one bound to a target
        # is removed, so a target never has two, and any found go last first.
        for bound in reversed(target.accounts):
            self._delete_account(bound)
        if self._passwords.get(user) != digest or user not in self.accounts():
            self._delete_account(user)
            self._tgtadm(
                "--op", "new", "--mode", "account", "--user", user, "--password", secret,
                redact=(secret,),
            )  # fmt: skip
            self._passwords[user] = digest
        self._tgtadm("--op", "bind", "--mode", "account", "--tid", target.tid, "--user", user)
        return set()

    def _ensure_acl(self, tid: int, current: set[str], initiators: tuple[str, ...]) -> None:
        wanted = set(initiators) or {ALL_INITIATORS}
        # Narrow before widening: a changed set never lets in more than either set.
        for address in sorted(current - wanted):
            self._unbind_initiator(tid, address)
        for address in sorted(wanted - current):
            self._tgtadm("--op", "bind", "--mode", "target", "--tid", tid, "-I", address)

    def _unbind_initiator(self, tid: int, address: str) -> None:
        try:
            self._tgtadm("--op", "unbind", "--mode", "target", "--tid", tid, "-I", address)
        except CommandError as exc:
            if not _not_found(exc):
                raise

    def _delete_account(self, user: str) -> None:
        self._passwords.pop(user, None)
        try:
            self._tgtadm("--op", "delete", "--mode", "account", "--user", user)
        except CommandError as exc:
            if not _not_found(exc):
                raise

    def _tgtadm(self, *args: str | int, redact: tuple[str, ...] = ()) -> CommandResult:
        if shutil.which("tgtadm") is None:
            raise DriverError("tgtadm is not installed (apt-get install tgt)")
        control = ("-C", str(self.control_port)) if self.control_port is not None else ()
        argv = ("tgtadm", *control, "--lld", "iscsi", *(str(arg) for arg in args))
        try:
            return self.runner.run(*argv, redact=redact, timeout=30)
        except CommandError as exc:
            if exc.returncode == _NO_DAEMON:
                where = f" on control port {self.control_port}" if control else ""
                raise DriverError(f"tgtd is not running{where}: {exc.message}") from exc
            raise


def _free_tid(taken: set[int]) -> int:
    """The smallest target id in use by nobody (tgt's ids start at 1)."""
    tid = 1
    while tid in taken:
        tid += 1
    return tid
