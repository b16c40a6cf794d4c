"""DHCP over BOOTP (UDP 67/68): message type, client MAC, server id, offered/requested address, host name."""

from __future__ import annotations

import socket

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.text import printable
from sensor.records import DhcpEvent, Event

MAGIC_COOKIE = b"\x63\x82\x53\x63"
OPTIONS_START = 240  # fixed BOOTP header (236) + magic cookie
OPT_PAD, OPT_END = 0, 255
OPT_HOSTNAME, OPT_REQUESTED_IP, OPT_MESSAGE_TYPE, OPT_SERVER_ID = 12, 50, 53, 54
HTYPE_ETHERNET = 1


def _ipv4(value: bytes) -> str:
    return socket.inet_ntoa(value) if len(value) == 4 else ""


def _options(msg: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    pos = OPTIONS_START
    size = len(msg)
    while pos < size:
        code = msg[pos]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            pos += 1
            continue
        if pos + 1 >= size:
            break
        length = msg[pos + 1]
        options.setdefault(code, msg[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return options


class DhcpExtractor(PortBasedExtractor):
    udp_ports = frozenset((67, 68))

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        if len(payload) < OPTIONS_START or payload[236:240] != MAGIC_COOKIE or payload[0] not in (1, 2):
            return []
        options = _options(payload)
        message_type = options.get(OPT_MESSAGE_TYPE, b"")
        hlen = payload[2] if payload[1] == HTYPE_ETHERNET else 0
        return [
            ctx.event(
                DhcpEvent,
                msg_type=message_type[0] if len(message_type) == 1 else 0,
                client_mac=payload[28 : 28 + min(hlen, 16)].hex(":"),
                server_id=_ipv4(options.get(OPT_SERVER_ID, b"")),
                offered_ip=_ipv4(payload[16:20]) if payload[16:20] != b"\0\0\0\0" else "",
                requested_ip=_ipv4(options.get(OPT_REQUESTED_IP, b"")),
                xid=int.from_bytes(payload[4:8], "big"),
                hostname=printable(options.get(OPT_HOSTNAME, b""), 64),
            )
        ]
