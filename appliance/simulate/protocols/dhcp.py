"""DHCP (RFC 2131/2132) over BOOTP: DISCOVER, OFFER, REQUEST, ACK."""

from __future__ import annotations

import struct

DISCOVER, OFFER, REQUEST, ACK = 1, 2, 3, 5
MAGIC_COOKIE = b"\x63\x82\x53\x63"
_BOOTP_MIN = 300  # BOOTP messages are padded to at least 300 bytes

OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN = 1, 3, 6, 12, 15
OPT_REQUESTED_IP, OPT_LEASE_TIME, OPT_MESSAGE_TYPE, OPT_SERVER_ID = 50, 51, 53, 54
OPT_PARAMETER_LIST, OPT_CLIENT_ID = 55, 61
_WINDOWS_PARAMETER_LIST = bytes((1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252))


def _option(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def message(
    *,
    op: int,
    xid: int,
    client_mac: bytes,
    options: list[tuple[int, bytes]],
    yiaddr: bytes = bytes(4),
    siaddr: bytes = bytes(4),
    broadcast: bool = False,
) -> bytes:
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        op,
        1,
        6,
        0,
        xid,
        0,
        0x8000 if broadcast else 0,
        bytes(4),
        yiaddr,
        siaddr,
        bytes(4),
        client_mac,
        b"",
        b"",
    )
    body = header + MAGIC_COOKIE + b"".join(_option(code, value) for code, value in options) + b"\xff"
    return body.ljust(_BOOTP_MIN, b"\x00")


def client_message(
    msg_type: int,
    xid: int,
    client_mac: bytes,
    hostname: str,
    requested_ip: bytes | None = None,
    server_id: bytes | None = None,
) -> bytes:
    options = [(OPT_MESSAGE_TYPE, bytes((msg_type,))), (OPT_CLIENT_ID, b"\x01" + client_mac)]
    if requested_ip:
        options.append((OPT_REQUESTED_IP, requested_ip))
    if server_id:
        options.append((OPT_SERVER_ID, server_id))
    options += [(OPT_HOSTNAME, hostname.encode()), (OPT_PARAMETER_LIST, _WINDOWS_PARAMETER_LIST)]
    return message(op=1, xid=xid, client_mac=client_mac, options=options)


def server_message(
    msg_type: int,
    xid: int,
    client_mac: bytes,
    offered_ip: bytes,
    server_ip: bytes,
    router: bytes,
    dns: bytes,
    domain: str,
    lease_seconds: int = 691200,
) -> bytes:
    options = [
        (OPT_MESSAGE_TYPE, bytes((msg_type,))),
        (OPT_SERVER_ID, server_ip),
        (OPT_LEASE_TIME, lease_seconds.to_bytes(4, "big")),
        (OPT_SUBNET_MASK, b"\xff\xff\x00\x00"),
        (OPT_ROUTER, router),
        (OPT_DNS, dns),
        (OPT_DOMAIN, domain.encode()),
    ]
    return message(op=2, xid=xid, client_mac=client_mac, options=options, yiaddr=offered_ip, siaddr=server_ip)
