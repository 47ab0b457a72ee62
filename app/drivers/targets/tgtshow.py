"""`tgtadm --op show` output decoded into typed values, in one place.

tgtadm prints an indented text report, not JSON: targets start at column 0
("Target 1: iqn..."), their sections at 4 spaces, entries (LUNs, I_T nexuses) at 8 and
an entry's fields below that. Fields this code does not use are skipped, so a newer tgt
adding some does not break the parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TARGET = re.compile(r"^Target (\d+): (\S+)$")
_OUTGOING = " (outgoing)"


@dataclass(frozen=True)
class Lun:
    number: int
    # None for the controller LUN 0, which has no backing store.
    backing_store: str | None = None
    backing_type: str | None = None
    readonly: bool = False


@dataclass(frozen=True)
class Session:
    """A logged-in initiator (tgt's I_T nexus) and the addresses it connects from."""

    nexus: int
    initiator: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    tid: int
    iqn: str
    luns: tuple[Lun, ...] = ()
    # Incoming CHAP users bound to the target (outgoing ones are not listed here).
    accounts: tuple[str, ...] = ()
    # Initiator addresses allowed to log in; "ALL" for any.
    acl: tuple[str, ...] = ()
    sessions: tuple[Session, ...] = ()

    def lun(self, number: int) -> Lun | None:
        return next((lun for lun in self.luns if lun.number == number), None)


@dataclass
class _TargetDraft:
    tid: int
    iqn: str
    luns: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    acl: list[str] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)

    def build(self) -> Target:
        return Target(
            tid=self.tid,
            iqn=self.iqn,
            luns=tuple(_lun(fields) for fields in self.luns),
            accounts=tuple(self.accounts),
            acl=tuple(self.acl),
            sessions=tuple(_session(fields) for fields in self.sessions),
        )


def parse_targets(text: str) -> list[Target]:
    """The targets of `tgtadm --op show --mode target`."""
    targets: list[_TargetDraft] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if match := _TARGET.match(raw):
            targets.append(_TargetDraft(tid=int(match[1]), iqn=match[2]))
            section = ""
            continue
        if not targets:
            continue
        target = targets[-1]
        indent = len(raw) - len(raw.lstrip())
        if indent <= 4 and line.endswith(":"):
            section = line[:-1]
        elif section == "LUN information":
            _field(line, target.luns, "LUN")
        elif section == "I_T nexus information":
            _field(line, target.sessions, "I_T nexus")
        elif section == "Account information":
            if not line.endswith(_OUTGOING):
                target.accounts.append(line)
        elif section == "ACL information":
            target.acl.append(line)
    return [target.build() for target in targets]


def parse_accounts(text: str) -> list[str]:
    """The user names of `tgtadm --op show --mode account`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [line.removesuffix(_OUTGOING) for line in lines if line != "Account list:"]


def _field(line: str, entries: list[Any], opener: str) -> None:
    """Adds `Key: value` to the current entry of a section; `opener` starts a new one.
    IP addresses repeat (one per connection), so they are collected in a list."""
    key, _, value = line.partition(":")
    key, value = key.strip(), value.strip()
    if key == opener:
        entries.append({key: value})
    elif entries and key == "IP Address":
        entries[-1].setdefault(key, []).append(value)
    elif entries:
        entries[-1].setdefault(key, value)


def _lun(fields: dict[str, Any]) -> Lun:
    path = fields.get("Backing store path")
    kind = fields.get("Backing store type")
    return Lun(
        number=int(fields["LUN"]),
        backing_store=None if path in (None, "None") else path,
        backing_type=None if kind in (None, "null") else kind,
        readonly=fields.get("Readonly") == "Yes",
    )


def _session(fields: dict[str, Any]) -> Session:
    # "iqn.2008-11.org.linux-kvm alias: none": the name is the first word.
    initiator = str(fields.get("Initiator", ""))
    return Session(
        nexus=int(fields["I_T nexus"]),
        initiator=initiator.split(" ", 1)[0],
        addresses=tuple(fields.get("IP Address", [])),
    )
