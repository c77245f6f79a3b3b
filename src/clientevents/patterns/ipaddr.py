"""IP address literals and CIDR ranges, as EventBridge reads them.

An IP address literal is four dot-separated decimal numbers of at most three digits, each at
most 255, or an IPv6 address made of hex digits and colons (no embedded dotted quad). An
IPv4-mapped IPv6 address (``::ffff:a00:1``) is the IPv4 address it maps. Addresses are
represented as ``(family, integer)`` with family 4 or 6, so ranges are integer intervals.

A CIDR ``a/n`` covers the addresses from ``a`` itself up to ``a`` with its low ``32 - n``
(or ``128 - n``) bits set; EventBridge does not clear host bits of ``a`` first, and
accepts mask lengths 0-31 for IPv4 and 0-127 for IPv6.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

_V4: Final = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
_V6: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")

Address = tuple[int, int]
"""(family, address as an integer), family 4 or 6."""


def parse_ip(text: str) -> Address | None:
    """The address of an IP literal, or None when ``text`` is not one."""
    m = _V4.fullmatch(text)
    if m is not None:
        parts = [int(g) for g in m.groups()]
        if any(p > 255 for p in parts):
            return None
        return (4, (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3])
    if ":" in text and _V6.fullmatch(text) is not None:
        try:
            v6 = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        mapped = v6.ipv4_mapped
        if mapped is not None:
            return (4, int(mapped))
        return (6, int(v6))
    return None


def parse_cidr(text: str) -> tuple[int, int, int]:
    """``(family, low, high)`` of a CIDR string; raises ValueError naming the problem."""
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(f"malformed CIDR {text!r}: exactly one '/' is required, like 10.0.0.0/24")
    ip_text, bits_text = parts
    if not re.fullmatch(r"[+-]?\d+", bits_text):
        raise ValueError(f"malformed CIDR {text!r}: the mask length must be an integer")
    bits = int(bits_text)
    if bits < 0:
        raise ValueError(f"malformed CIDR {text!r}: the mask length must not be negative")
    address = parse_ip(ip_text)
    if address is None:
        raise ValueError(f"malformed CIDR {text!r}: {ip_text!r} is not an IPv4 or IPv6 address")
    family, value = address
    width = 32 if family == 4 else 128
    if bits >= width:
        raise ValueError(f"malformed CIDR {text!r}: IPv{family} mask length must be below {width}")
    host = (1 << (width - bits)) - 1
    return family, value, value | host
