"""Numbers from the wire formats that both decoders (per packet and vectorised) agree on."""

from __future__ import annotations

import numpy as np

LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OPENBSD = 12
LINKTYPE_RAW_ALT = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108  # like NULL, but the family is always big-endian
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
RAW_IP_LINKTYPES = (LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_ALT, LINKTYPE_RAW)

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
VLAN_ETHERTYPES = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad (QinQ outer), old QinQ
ADDRESS_FAMILIES_IPV6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, Darwin

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58
PROTO_NAMES = {PROTO_ICMP: "ICMP", PROTO_TCP: "TCP", PROTO_UDP: "UDP", PROTO_ICMPV6: "ICMPv6"}

# IPv6 extension headers we walk through to find the transport header.
IPV6_HOP_BY_HOP = 0
IPV6_ROUTING = 43
IPV6_FRAGMENT = 44
IPV6_AUTH = 51
IPV6_DEST_OPTIONS = 60
IPV6_EXTENSIONS = frozenset({IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AUTH, IPV6_DEST_OPTIONS, 135, 139, 140})

# Minimum transport header bytes that must be captured and declared before we trust its fields.
TCP_HEADER = 20
UDP_HEADER = 8
ICMP_HEADER = 4  # type, code, checksum; the rest depends on the type
ICMP_PAYLOAD_START = 8

# IPv4 addresses live in the IPv4-mapped IPv6 space (::ffff:a.b.c.d) so one key layout holds both.
IPV4_MAPPED = 0xFFFF00000000

# ICMP request/reply pairs: both directions of an exchange share one flow (as Zeek's "counterpart" types).
_ICMP_PAIRS = {8: 0, 13: 14, 15: 16, 17: 18, 10: 9}
_ICMPV6_PAIRS = {128: 129, 133: 134, 135: 136, 130: 131}


def _counterpart_table(pairs: dict[int, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int64)
    for request, reply in pairs.items():
        table[request], table[reply] = reply, request
    return table


ICMP_COUNTERPART = _counterpart_table(_ICMP_PAIRS)
ICMPV6_COUNTERPART = _counterpart_table(_ICMPV6_PAIRS)


def icmp_key_ports(icmp_type: int, code: int, v6: bool) -> tuple[int, int]:
    """The (src_port, dst_port) an ICMP message is keyed on: its type and the type that answers it."""
    counterpart = int((ICMPV6_COUNTERPART if v6 else ICMP_COUNTERPART)[icmp_type])
    return icmp_type, counterpart if counterpart >= 0 else code
