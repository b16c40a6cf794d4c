"""DER (X.690) encoding of the few ASN.1 types Kerberos and SPNEGO use."""

from __future__ import annotations


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def sequence(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def context(number: int, content: bytes) -> bytes:
    return tlv(0xA0 | number, content)


def application(number: int, content: bytes) -> bytes:
    return tlv(0x60 | number, content)


def integer(value: int) -> bytes:
    size = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return tlv(0x02, value.to_bytes(size, "big", signed=True))


def general_string(text: str) -> bytes:
    return tlv(0x1B, text.encode())


def octet_string(data: bytes) -> bytes:
    return tlv(0x04, data)


def bit_string(flags: int) -> bytes:
    return tlv(0x03, b"\x00" + flags.to_bytes(4, "big"))


def object_identifier(dotted: str) -> bytes:
    numbers = [int(part) for part in dotted.split(".")]
    body = bytearray((40 * numbers[0] + numbers[1],))
    for number in numbers[2:]:  # base 128, most significant group first, high bit set on all but the last
        groups = [number & 0x7F]
        rest = number >> 7
        while rest:
            groups.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body += bytes(reversed(groups))
    return tlv(0x06, bytes(body))


def enumerated(value: int) -> bytes:
    return tlv(0x0A, bytes((value,)))
