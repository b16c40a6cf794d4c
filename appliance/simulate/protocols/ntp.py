"""NTPv4 client and server packets (RFC 5905)."""

from __future__ import annotations

import struct

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def timestamp(unix_seconds: float) -> bytes:
    seconds = int(unix_seconds) + NTP_EPOCH_OFFSET
    fraction = int((unix_seconds % 1) * (1 << 32))
    return struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


def client_request(unix_seconds: float) -> bytes:
    # LI 0, version 4, mode 3 (client); only the transmit timestamp is filled in.
    return struct.pack("!BBbb", 0x23, 0, 6, -23) + bytes(8) + bytes(4) + bytes(24) + timestamp(unix_seconds)


def server_reply(request: bytes, unix_seconds: float, stratum: int, reference_id: bytes) -> bytes:
    origin = request[40:48]
    now = timestamp(unix_seconds)
    return (
        struct.pack("!BBbb", 0x24, stratum, 6, -24)
        + struct.pack("!II", 0x00000120, 0x00000340)
        + reference_id
        + timestamp(unix_seconds - 300)
        + origin
        + now
        + now
    )
