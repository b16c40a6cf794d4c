"""Real-time media as video-call clients send it: a STUN binding check (RFC 8489) to the media relay, then
SRTP (RFC 3711): a 12-byte RTP header in clear, the payload encrypted, a 10-byte authentication tag."""

from __future__ import annotations

import struct

STUN_BINDING_REQUEST, STUN_BINDING_SUCCESS = 0x0001, 0x0101
STUN_MAGIC_COOKIE = 0x2112A442
RTP_VERSION = 0x80
OPUS, VP8 = 111, 96
SRTP_TAG = 10


def stun_binding(transaction_id: bytes, response: bool = False) -> bytes:
    kind = STUN_BINDING_SUCCESS if response else STUN_BINDING_REQUEST
    return struct.pack("!HHI", kind, 0, STUN_MAGIC_COOKIE) + transaction_id


def srtp(payload_type: int, sequence: int, timestamp: int, ssrc: int, encrypted: bytes, marker: bool) -> bytes:
    header = struct.pack("!BBHII", RTP_VERSION, payload_type | (0x80 if marker else 0), sequence & 0xFFFF,
                         timestamp & 0xFFFFFFFF, ssrc)
    return header + encrypted
