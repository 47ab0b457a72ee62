"""`tgtadm --op show` decoded into typed values, against output recorded from tgt 1.0.85:
a read-only aio LUN with a logged-in initiator, an incoming and an outgoing account, an
ACL of two addresses, and a bare target open to all."""

from __future__ import annotations

from pathlib import Path

from app.drivers.targets.tgtshow import Lun, Session, Target, parse_accounts, parse_targets

RECORDED = Path(__file__).parent / "recorded"


def test_targets_are_decoded_with_luns_accounts_acl_and_sessions() -> None:
    text = (RECORDED / "tgtadm-show-target.txt").read_text()
    controller = Lun(number=0)
    assert parse_targets(text) == [
        Target(
            tid=1,
            iqn="iqn.2010-10.org.openstack:volume-0b6f",
            luns=(
                controller,
                Lun(
                    number=1,
                    backing_store="/tmp/pumice-sample/volume-0b6f",
                    backing_type="aio",
                    readonly=True,
                ),
            ),
            accounts=("alice",),
            acl=("127.0.0.1", "10.0.0.5"),
            sessions=(
                Session(nexus=1, initiator="iqn.2008-11.org.linux-kvm", addresses=("127.0.0.1",)),
            ),
        ),
        Target(
            tid=3,
            iqn="iqn.2010-10.org.openstack:volume-77aa",
            luns=(controller,),
            acl=("ALL",),
        ),
    ]


def test_a_lun_is_found_by_number() -> None:
    [target, _] = parse_targets((RECORDED / "tgtadm-show-target.txt").read_text())
    data = target.lun(1)
    assert data is not None and data.backing_store == "/tmp/pumice-sample/volume-0b6f"
    assert target.lun(2) is None


def test_no_targets_is_an_empty_list() -> None:
    assert parse_targets("") == []


def test_accounts_are_the_user_names() -> None:
    text = (RECORDED / "tgtadm-show-account.txt").read_text()
    assert parse_accounts(text) == ["out1", "alice"]
    assert parse_accounts("Account list:\n") == []
