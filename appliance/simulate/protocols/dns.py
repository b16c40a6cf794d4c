"""DNS messages (RFC 1035): queries and responses with name compression."""

from __future__ import annotations

import struct

TYPE_A = 1
TYPE_NULL = 10
TYPE_TXT = 16
TYPE_AAAA = 28
CLASS_IN = 1

_HEADER = struct.Struct("!HHHHHH")
_POINTER_TO_QUESTION = b"\xc0\x0c"  # the question name always starts right after the 12-byte header


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) <= 63:
            raise ValueError(f"DNS label of {len(raw)} bytes in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"DNS name longer than 255 bytes: {name!r}")
    return bytes(out)


def query(txid: int, name: str, qtype: int, recursion_desired: bool = True) -> bytes:
    flags = 0x0100 if recursion_desired else 0
    return _HEADER.pack(txid, flags, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def response(txid: int, name: str, qtype: int, rdatas: list[bytes], ttl: int, rcode: int = 0) -> bytes:
    """An answer from a recursive resolver: QR, RD and RA set, every record owned by the question's name."""
    flags = 0x8180 | rcode
    message = [_HEADER.pack(txid, flags, 1, len(rdatas), 0, 0), encode_name(name), struct.pack("!HH", qtype, CLASS_IN)]
    for rdata in rdatas:
        message.append(_POINTER_TO_QUESTION + struct.pack("!HHIH", qtype, CLASS_IN, ttl, len(rdata)) + rdata)
    return b"".join(message)


def txt_rdata(text: bytes) -> bytes:
    """TXT RDATA: one or more character-strings of at most 255 bytes."""
    return b"".join(bytes((len(text[i : i + 255]),)) + text[i : i + 255] for i in range(0, len(text), 255))
