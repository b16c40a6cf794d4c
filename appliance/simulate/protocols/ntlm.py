"""NTLMSSP (MS-NLMP) messages wrapped in SPNEGO (RFC 4178), as SMB2 SESSION_SETUP carries them."""

from __future__ import annotations

import random
import struct

from appliance.simulate.protocols.der import (
    application,
    context,
    enumerated,
    object_identifier,
    octet_string,
    sequence,
)

SIGNATURE = b"NTLMSSP\x00"
FLAGS = 0xE2888235  # 56/128-bit, key exchange, version, target info, extended session security, NTLM, unicode
VERSION = struct.pack("<BBHBBBB", 10, 0, 19041, 0, 0, 0, 15)  # Windows 10 build 19041, NTLM revision 15
SPNEGO_OID = "1.3.6.1.5.5.2"
NTLMSSP_OID = "1.3.6.1.4.1.311.2.2.10"
AV_EOL, AV_NB_COMPUTER, AV_NB_DOMAIN, AV_DNS_COMPUTER, AV_DNS_DOMAIN, AV_TIMESTAMP = 0, 1, 2, 3, 4, 7


def _field(length: int, offset: int) -> bytes:
    return struct.pack("<HHI", length, length, offset)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def negotiate() -> bytes:
    return SIGNATURE + struct.pack("<II", 1, FLAGS) + _field(0, 0) + _field(0, 0) + VERSION


def target_info(domain: str, computer: str, dns_domain: str, filetime: int) -> bytes:
    pairs = [
        (AV_NB_DOMAIN, _utf16(domain)),
        (AV_NB_COMPUTER, _utf16(computer)),
        (AV_DNS_DOMAIN, _utf16(dns_domain)),
        (AV_DNS_COMPUTER, _utf16(f"{computer.lower()}.{dns_domain}")),
        (AV_TIMESTAMP, struct.pack("<Q", filetime)),
    ]
    return b"".join(struct.pack("<HH", kind, len(value)) + value for kind, value in pairs) + struct.pack(
        "<HH", AV_EOL, 0
    )


def challenge(rng: random.Random, domain: str, info: bytes) -> bytes:
    name = _utf16(domain)
    header_size = 56
    return (
        SIGNATURE
        + struct.pack("<I", 2)
        + _field(len(name), header_size)
        + struct.pack("<I", FLAGS)
        + rng.randbytes(8)
        + bytes(8)
        + _field(len(info), header_size + len(name))
        + VERSION
        + name
        + info
    )


def authenticate(rng: random.Random, domain: str, user: str, workstation: str, info: bytes, filetime: int) -> bytes:
    """An NTLMv2 AUTHENTICATE: the NT response is the proof (16 bytes) plus the client's blob."""
    blob = struct.pack("<BBHIQ", 1, 1, 0, 0, filetime) + rng.randbytes(8) + bytes(4) + info + bytes(4)
    payloads = [
        bytes(24),
        rng.randbytes(16) + blob,
        _utf16(domain),
        _utf16(user),
        _utf16(workstation),
        rng.randbytes(16),
    ]
    offset = 88
    fields = []
    for payload in payloads:
        fields.append(_field(len(payload), offset))
        offset += len(payload)
    return (
        SIGNATURE
        + struct.pack("<I", 3)
        + b"".join(fields)
        + struct.pack("<I", FLAGS)
        + VERSION
        + rng.randbytes(16)
        + b"".join(payloads)
    )


def message_signature(rng: random.Random, sequence_number: int = 0) -> bytes:
    """NTLMSSP_MESSAGE_SIGNATURE (version 1, 8-byte checksum, sequence number): the SPNEGO mechListMIC."""
    return struct.pack("<I", 1) + rng.randbytes(8) + struct.pack("<I", sequence_number)


def spnego_init(token: bytes) -> bytes:
    mech_types = context(0, sequence(object_identifier(NTLMSSP_OID)))
    return application(
        0, object_identifier(SPNEGO_OID) + context(0, sequence(mech_types, context(2, octet_string(token))))
    )


def spnego_response(state: int | None, token: bytes | None, mic: bytes | None, offer_mech: bool = False) -> bytes:
    """NegTokenResp. state: 0 accept-completed, 1 accept-incomplete, 2 reject."""
    parts = []
    if state is not None:
        parts.append(context(0, enumerated(state)))
    if offer_mech:
        parts.append(context(1, object_identifier(NTLMSSP_OID)))
    if token is not None:
        parts.append(context(2, octet_string(token)))
    if mic is not None:
        parts.append(context(3, octet_string(mic)))
    return context(1, sequence(*parts))
