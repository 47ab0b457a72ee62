"""The address initiators reach this host on (Cinder's `my_ip`), and portal strings."""

from __future__ import annotations

import ipaddress
import socket

# A documentation address (RFC 5737): connecting a UDP socket only asks the kernel for a
# route, no packet is sent and no DNS is asked, so this works offline and never leaks.
_PROBE = ("192.0.2.1", 9)
_LOOPBACK = "127.0.0.1"


def primary_address() -> str:
    """The source address of this host's default route; 127.0.0.1 only without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_PROBE)
            address = str(probe.getsockname()[0])
        except OSError:
            return _LOOPBACK
    return _LOOPBACK if address == "0.0.0.0" else address


def portal(address: str, port: int) -> str:
    """os-brick's portal: "ip:port", an IPv6 address in brackets."""
    if ipaddress.ip_address(address).version == 6:
        return f"[{address}]:{port}"
    return f"{address}:{port}"
