"""Writing pcapng blocks by hand (little-endian), including ones no capture tool would write."""

from __future__ import annotations

import struct

SECTION_HEADER = 0x0A0D0D0A


def block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def short_block(block_type: int, length: int) -> bytes:
    """A block whose length field holds less than the fixed fields of its type (zero-filled)."""
    return struct.pack("<II", block_type, length) + b"\0" * (length - 12) + struct.pack("<I", length)


def shb() -> bytes:
    return block(SECTION_HEADER, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int, tsresol: int | None = None) -> bytes:
    options = b""
    if tsresol is not None:
        options = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    return block(1, struct.pack("<HHI", linktype, 0, 0) + options)


def epb(interface: int, ticks: int, frame: bytes) -> bytes:
    return block(6, struct.pack("<IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def spb(frame: bytes) -> bytes:
    return block(3, struct.pack("<I", len(frame)) + frame)
