"""A small frame decoder written with struct, independent of the generator's encoders, so tests do not
check the simulator against itself."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Frame:
    ts: float
    raw: bytes
    eth_src: str
    eth_dst: str
    ethertype: int
    src: str = ""
    dst: str = ""
    proto: int = 0
    sport: int = 0
    dport: int = 0
    tcp_flags: int = 0
    payload: bytes = b""
    arp: tuple[int, str, str, str, str] | None = None  # op, sender mac, sender ip, target mac, target ip


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def decode(ts: float, raw: bytes) -> Frame:
    ethertype = struct.unpack_from("!H", raw, 12)[0]
    base = dict(ts=ts, raw=raw, eth_dst=_mac(raw[0:6]), eth_src=_mac(raw[6:12]), ethertype=ethertype)
    if ethertype == 0x0806:
        op, smac, sip, tmac, tip = struct.unpack_from("!6xH6s4s6s4s", raw, 14)
        return Frame(
            **base, arp=(op, _mac(smac), str(ipaddress.IPv4Address(sip)), _mac(tmac), str(ipaddress.IPv4Address(tip)))
        )
    assert ethertype == 0x0800, f"unexpected ethertype {ethertype:#x}"
    ihl = (raw[14] & 0x0F) * 4
    total = struct.unpack_from("!H", raw, 16)[0]
    proto = raw[23]
    src, dst = str(ipaddress.IPv4Address(raw[26:30])), str(ipaddress.IPv4Address(raw[30:34]))
    l4 = 14 + ihl
    end = 14 + total
    if proto == 6:
        sport, dport, flags_offset = struct.unpack_from("!HH8xH", raw, l4)
        data = l4 + (flags_offset >> 12) * 4
        return Frame(
            **base,
            src=src,
            dst=dst,
            proto=6,
            sport=sport,
            dport=dport,
            tcp_flags=flags_offset & 0x3F,
            payload=raw[data:end],
        )
    if proto == 17:
        sport, dport = struct.unpack_from("!HH", raw, l4)
        return Frame(**base, src=src, dst=dst, proto=17, sport=sport, dport=dport, payload=raw[l4 + 8 : end])
    return Frame(**base, src=src, dst=dst, proto=proto, payload=raw[l4:end])


def message_starts(frames: list[Frame]) -> list[Frame]:
    """Frames a per-packet decoder can read whole: everything except the middle and tail segments of a
    TCP message (the generator sets PSH on the last segment of each application message)."""
    pending: dict[tuple[str, str, int, int], bool] = {}
    starts = []
    for frame in frames:
        if frame.proto == 6 and frame.payload:
            key = (frame.src, frame.dst, frame.sport, frame.dport)
            continuation = pending.get(key, False)
            pending[key] = not frame.tcp_flags & 0x08
            if continuation:
                continue
        starts.append(frame)
    return starts
