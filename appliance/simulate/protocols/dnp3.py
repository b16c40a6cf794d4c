"""DNP3 (IEEE 1815) over TCP: link-layer frames with their CRCs, transport and application layers."""

from __future__ import annotations

import struct

PORT = 20000
READ, WRITE, SELECT, OPERATE, DIRECT_OPERATE = 1, 2, 3, 4, 5
RESPONSE = 129


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1  # 0x3D65 reflected
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc(data: bytes) -> bytes:
    value = 0
    for byte in data:
        value = (value >> 8) ^ _CRC_TABLE[(value ^ byte) & 0xFF]
    return struct.pack("<H", ~value & 0xFFFF)


def frame(destination: int, source: int, user_data: bytes, from_master: bool) -> bytes:
    """Link header (start bytes, length, control, addresses) + CRC, then user data in 16-byte blocks,
    each followed by its CRC. Control: DIR set from the master, PRM set, function 4 (unconfirmed data)."""
    control = (0x80 if from_master else 0) | 0x40 | 0x04
    header = struct.pack("<BBBBHH", 0x05, 0x64, 5 + len(user_data), control, destination, source)
    blocks = [header + crc(header)]
    for i in range(0, len(user_data), 16):
        block = user_data[i : i + 16]
        blocks.append(block + crc(block))
    return b"".join(blocks)


def application_request(sequence: int, function: int, objects: bytes) -> bytes:
    """Transport header (FIR, FIN, sequence) then application control (FIR, FIN, sequence) and function."""
    return bytes((0xC0 | (sequence & 0x3F), 0xC0 | (sequence & 0x0F), function)) + objects


def application_response(sequence: int, objects: bytes) -> bytes:
    internal_indications = b"\x00\x00"
    return bytes((0xC0 | (sequence & 0x3F), 0xC0 | (sequence & 0x0F), RESPONSE)) + internal_indications + objects


CLASS_0_POLL = b"\x3c\x01\x06"  # group 60 var 1 (class 0 data), qualifier 6 (all)
CLEAR_RESTART_BIT = b"\x50\x01\x00\x07\x07\x00"  # WRITE: group 80 var 1, IIN1.7 device restart = 0


def control_relay_output(index: int, close: bool) -> bytes:
    """Group 12 var 1 (CROB), qualifier 0x28 (count and 2-byte index), one latch-on / latch-off command."""
    code = 0x03 if close else 0x04
    return struct.pack("<BBBHHBBIIB", 12, 1, 0x28, 1, index, code, 1, 1000, 0, 0)


def analog_points(values: list[int]) -> bytes:
    """Group 30 var 2 (16-bit analog input with flags), qualifier 0x00 (start-stop 1-byte index)."""
    return struct.pack("<BBBBB", 30, 2, 0, 0, len(values) - 1) + b"".join(struct.pack("<Bh", 1, v) for v in values)
