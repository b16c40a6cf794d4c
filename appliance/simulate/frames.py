"""Ethernet, IPv4, TCP, UDP, ICMP and ARP on the wire, built with struct (scapy is far too slow here)."""

from __future__ import annotations

import socket
import struct

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6

_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_TCP_HEADER = struct.Struct("!HHIIBBHHH")
_UDP_HEADER = struct.Struct("!HHHH")
_PSEUDO_HEADER = struct.Struct("!4s4sBBH")


def mac_to_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def mac_to_string(mac: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in mac)


def ip_to_bytes(ip: str) -> bytes:
    return socket.inet_aton(ip)


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum. The one's-complement sum of 16-bit words equals the big integer modulo 0xFFFF,
    which CPython computes in C: an order of magnitude faster than summing words in Python."""
    if len(data) & 1:
        data += b"\x00"
    folded = int.from_bytes(data, "big") % 0xFFFF
    # folded == 0 means the true sum is 0xFFFF (the data is never all zeros), whose complement is 0.
    return 0xFFFF - folded if folded else 0


def ethernet(dst_mac: bytes, src_mac: bytes, ethertype: int, payload: bytes) -> bytes:
    frame = dst_mac + src_mac + ethertype.to_bytes(2, "big") + payload
    # Ethernet pads to its 60-byte minimum (without FCS); a capture on the wire shows the padding.
    return frame if len(frame) >= 60 else frame + bytes(60 - len(frame))


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int, ttl: int, tos: int = 0) -> bytes:
    header = _IPV4_HEADER.pack(0x45, tos, 20 + len(payload), ident & 0xFFFF, 0x4000, ttl, proto, 0, src, dst)
    checksum = internet_checksum(header)
    return header[:10] + checksum.to_bytes(2, "big") + header[12:] + payload


def tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    window: int = 64240,
    options: bytes = b"",
) -> bytes:
    header_len = 20 + len(options)
    header = (
        _TCP_HEADER.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (header_len // 4) << 4, flags, window, 0, 0)
        + options
    )
    pseudo = _PSEUDO_HEADER.pack(src, dst, 0, IPPROTO_TCP, header_len + len(payload))
    checksum = internet_checksum(pseudo + header + payload)
    return header[:16] + checksum.to_bytes(2, "big") + header[18:] + payload


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    pseudo = _PSEUDO_HEADER.pack(src, dst, 0, IPPROTO_UDP, length)
    checksum = internet_checksum(pseudo + _UDP_HEADER.pack(sport, dport, length, 0) + payload)
    # A computed zero goes out as 0xFFFF: zero on the wire means "no checksum" for UDP.
    return _UDP_HEADER.pack(sport, dport, length, checksum or 0xFFFF) + payload


def icmp(icmp_type: int, code: int, rest_of_header: bytes, payload: bytes = b"") -> bytes:
    message = bytes((icmp_type, code, 0, 0)) + rest_of_header + payload
    return message[:2] + internet_checksum(message).to_bytes(2, "big") + message[4:]


def arp(op: int, sender_mac: bytes, sender_ip: bytes, target_mac: bytes, target_ip: bytes) -> bytes:
    return struct.pack("!HHBBH6s4s6s4s", 1, ETHERTYPE_IPV4, 6, 4, op, sender_mac, sender_ip, target_mac, target_ip)


def tcp_syn_options(mss: int = 1460, wscale: int = 8) -> bytes:
    """MSS, NOP, window scale, NOP, NOP, SACK permitted: what Windows and Linux both offer on a SYN."""
    return struct.pack("!BBH", 2, 4, mss) + b"\x01\x03\x03" + bytes((wscale,)) + b"\x01\x01\x04\x02"
