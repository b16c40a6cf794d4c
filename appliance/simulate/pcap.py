"""Classic libpcap files: Ethernet link type, microsecond timestamps."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

PCAP_MAGIC_MICROSECONDS = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535

_GLOBAL_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")


class PcapFormatError(ValueError):
    """The file is not a classic little- or big-endian microsecond pcap with Ethernet frames."""


def write_pcap(
    path: Path, records: Iterable[tuple[int, bytes]], written: Callable[[int], None] = lambda count: None
) -> int:
    """Write (timestamp in microseconds, frame) records in the given order; return how many were written.
    `written(count)` is told how many are written so far, every few thousand."""
    count = 0
    pack_record = _RECORD_HEADER.pack
    with open(path, "wb") as out:
        out.write(_GLOBAL_HEADER.pack(PCAP_MAGIC_MICROSECONDS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        chunk: list[bytes] = []
        for ts_us, frame in records:
            seconds, micros = divmod(ts_us, 1_000_000)
            chunk.append(pack_record(seconds, micros, len(frame), len(frame)))
            chunk.append(frame)
            count += 1
            if len(chunk) >= 8192:
                out.write(b"".join(chunk))
                chunk.clear()
                written(count)
        out.write(b"".join(chunk))
        written(count)
    return count


def read_pcap(path: Path) -> Iterator[tuple[float, bytes]]:
    """Yield (timestamp in seconds, frame) from a microsecond or nanosecond pcap with Ethernet frames."""
    with open(path, "rb") as source:
        header = source.read(_GLOBAL_HEADER.size)
        if len(header) < _GLOBAL_HEADER.size:
            raise PcapFormatError(f"{path}: too short to be a pcap file")
        magic_le = int.from_bytes(header[:4], "little")
        endian = {0xA1B2C3D4: "<", 0xA1B23C4D: "<", 0xD4C3B2A1: ">", 0x4D3CB2A1: ">"}.get(magic_le)
        if endian is None:
            raise PcapFormatError(f"{path}: not a pcap file (pcapng is not supported here)")
        magic, _, _, _, _, _, linktype = struct.unpack(endian + "IHHiIII", header)
        if linktype != LINKTYPE_ETHERNET:
            raise PcapFormatError(f"{path}: link type {linktype} is not Ethernet")
        divisor = 1e9 if magic == 0xA1B23C4D else 1e6
        record = struct.Struct(endian + "IIII")
        while True:
            head = source.read(record.size)
            if not head:
                return
            if len(head) < record.size:
                raise PcapFormatError(f"{path}: truncated record header")
            seconds, fraction, captured, _ = record.unpack(head)
            frame = source.read(captured)
            if len(frame) < captured:
                raise PcapFormatError(f"{path}: truncated frame")
            yield seconds + fraction / divisor, frame
