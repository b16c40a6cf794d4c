"""A per-connection cutoff, as Zeek's Time Machine and Arkime keep long captures small.

The first KEEP bytes of TCP payload of every connection (both directions together) stay whole; later packets
of that connection keep only their first SNAP bytes (Ethernet, IP and TCP headers and a little payload). The
pcap record's original length is left as it was, so packet sizes, counts and times are all still true.
Non-TCP packets (ARP, DNS, ICMP, NTP, the DNS tunnel) are never cut.
"""

from __future__ import annotations

import struct
from pathlib import Path

KEEP = 8192
SNAP = 128
CUTOFF_NOTE = (
    f"the first {KEEP} bytes of TCP payload of each connection are whole; its later packets are cut to {SNAP} "
    "bytes (the pcap keeps their original length); non-TCP packets are whole"
)
_RECORD = struct.Struct("<IIII")  # ts_sec, ts_usec, incl_len, orig_len (little-endian pcap, as dumpcap writes)


def _connection(frame: bytes) -> tuple[tuple, int] | None:
    """(connection key, TCP payload length) of an Ethernet/IPv4/TCP frame, else None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    tcp = 14 + ihl
    if len(frame) < tcp + 13:
        return None
    src, dst = frame[26:30], frame[30:34]
    sport, dport = struct.unpack_from("!HH", frame, tcp)
    payload = total - ihl - (frame[tcp + 12] >> 4) * 4
    key = tuple(sorted([(src, sport), (dst, dport)]))
    return key, max(payload, 0)


def cut_long_connections(source: Path, target: Path, keep: int = KEEP, snap: int = SNAP) -> None:
    seen: dict[tuple, int] = {}
    data = source.read_bytes()
    if data[:4] != b"\xd4\xc3\xb2\xa1":
        raise ValueError(f"{source}: not a little-endian microsecond pcap")
    out = bytearray(data[:24])
    offset = 24
    while offset + 16 <= len(data):
        ts_sec, ts_usec, incl_len, orig_len = _RECORD.unpack_from(data, offset)
        frame = data[offset + 16 : offset + 16 + incl_len]
        offset += 16 + incl_len
        found = _connection(frame)
        if found is not None:
            key, payload = found
            already = seen.get(key, 0)
            seen[key] = already + payload
            if already >= keep and len(frame) > snap:
                frame = frame[:snap]
        out += _RECORD.pack(ts_sec, ts_usec, len(frame), orig_len) + frame
    target.write_bytes(bytes(out))
