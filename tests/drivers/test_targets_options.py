"""The target options every backend has, validated at start, and ExportSpec's checks."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from app.drivers import DriverConfigError, DriverError, ExportSpec, parse_options
from app.drivers.targets.address import portal, primary_address


def options(**values: object) -> dict[str, object]:
    return {"path": "/tmp/unused", **values}


def _has_default_route() -> bool:
    # /proc/net/route: a destination of 00000000 is the default route.
    lines = Path("/proc/net/route").read_text().splitlines()[1:]
    return any(line.split()[1] == "00000000" for line in lines if line.split())


def test_defaults_are_cinders() -> None:
    parsed = parse_options("file", options())
    assert parsed.target_helper == "tgtadm"
    assert parsed.target_prefix == "iqn.2010-10.org.openstack:"
    assert parsed.target_port == 3260
    assert parsed.tgt_control_port is None
    assert parsed.target_ip_address == primary_address()


def test_the_default_address_is_the_hosts_own_not_loopback() -> None:
    address = ipaddress.ip_address(primary_address())
    if _has_default_route():
        assert not address.is_loopback
    else:
        assert str(address) == "127.0.0.1"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"target_helper": "lioadm"}, "target helper 'lioadm' is not implemented"),
        ({"target_helper": "fake"}, "unknown target helper 'fake'"),
        ({"target_prefix": "volumes-"}, "target_prefix: Value error, must be an IQN prefix"),
        ({"target_ip_address": "host.example"}, "target_ip_address: Value error, must be an IP"),
        ({"target_port": 0}, "target_port: Input should be greater than or equal to 1"),
        ({"tgt_control_port": -1}, "tgt_control_port: Input should be greater than or equal"),
    ],
)
def test_bad_target_options_refuse_to_start(values: dict[str, object], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        parse_options("file", options(**values))


def test_portals_bracket_ipv6() -> None:
    assert portal("192.0.2.7", 3260) == "192.0.2.7:3260"
    assert portal("2001:db8::7", 3260) == "[2001:db8::7]:3260"
    parsed = parse_options("file", options(target_ip_address="2001:DB8::7"))
    assert parsed.target_ip_address == "2001:db8::7"


def test_an_export_spec_never_shows_its_secret() -> None:
    spec = ExportSpec(chap_user="u1", chap_secret="s3cr3t-value")
    assert "s3cr3t-value" not in repr(spec)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"chap_user": "two words"}, "invalid CHAP user"),
        ({"chap_user": ""}, "invalid CHAP user"),
        ({"chap_secret": ""}, "invalid CHAP secret"),
        ({"chap_secret": "with space"}, "invalid CHAP secret"),
        # "ALL" would open the target to everybody: only addresses are initiators.
        ({"initiators": ("ALL",)}, "invalid initiator address 'ALL'"),
        ({"initiators": ("10.0.0.5", "host")}, "invalid initiator address 'host'"),
    ],
)
def test_invalid_export_specs_are_refused(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"chap_user": "u1", "chap_secret": "secret", **fields}
    with pytest.raises(DriverError, match=message):
        ExportSpec(**values)  # type: ignore[arg-type]
