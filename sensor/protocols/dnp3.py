"""DNP3 (TCP/UDP 20000): link addresses and the application function code of each first fragment."""

from __future__ import annotations

import struct

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.records import Dnp3Event, Event

START = b"\x05\x64"
LINK_HEADER = 10  # start (2), length, control, destination (2), source (2), CRC (2)
BLOCK = 16  # user data travels in 16-byte blocks, each followed by a 2-byte CRC
CRC = 2
TRANSPORT_FIRST = 0x40
RESPONSES = frozenset((129, 130))  # RESPONSE, UNSOLICITED_RESPONSE
MAX_FRAMES_PER_SEGMENT = 32

_ADDRESSES = struct.Struct("<HH")


def frame_size(user_length: int) -> int:
    return LINK_HEADER + user_length + CRC * -(-user_length // BLOCK)


def user_data(frame: bytes, user_length: int) -> bytes:
    """The frame's user data with the per-block CRCs left out (they are not checked)."""
    chunks = []
    pos = LINK_HEADER
    remaining = user_length
    while remaining > 0:
        take = min(BLOCK, remaining)
        chunks.append(frame[pos : pos + take])
        pos += take + CRC
        remaining -= take
    return b"".join(chunks)


class Dnp3Extractor(PortBasedExtractor):
    tcp_ports = frozenset((20000,))
    udp_ports = frozenset((20000,))

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        events: list[Event] = []
        pos = 0
        frames = 0
        while payload.startswith(START, pos) and frames < MAX_FRAMES_PER_SEGMENT:
            frames += 1
            if pos + LINK_HEADER > len(payload) or payload[pos + 2] < 5:
                break
            user_length = payload[pos + 2] - 5  # the length counts control and both addresses
            end = pos + frame_size(user_length)
            if end > len(payload):
                break
            dest, source = _ADDRESSES.unpack_from(payload, pos + 4)
            data = user_data(payload[pos:end], user_length)
            # transport header, then application control and function code, only on a first fragment
            if len(data) >= 3 and data[0] & TRANSPORT_FIRST:
                function = data[2]
                events.append(
                    ctx.event(
                        Dnp3Event,
                        function_code=function,
                        source_addr=source,
                        dest_addr=dest,
                        is_response=function in RESPONSES,
                    )
                )
            pos = end
        return events
