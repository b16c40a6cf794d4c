"""LDAP (RFC 4511) searches as Windows clients make them: the CLDAP "netlogon ping" that finds a domain
controller (UDP 389) and the anonymous rootDSE read over TCP 389."""

from __future__ import annotations

from appliance.simulate.protocols.der import application, enumerated, integer, octet_string, sequence, tlv

PORT = 389
SCOPE_BASE = 0
SUCCESS = 0


def _message(message_id: int, operation: bytes) -> bytes:
    return sequence(integer(message_id), operation)


def _equality(attribute: str, value: bytes) -> bytes:
    return tlv(0xA3, octet_string(attribute.encode()) + octet_string(value))


def search_request(message_id: int, base: str, filter_: bytes, attributes: list[str]) -> bytes:
    return _message(
        message_id,
        application(
            3,
            b"".join(
                (
                    octet_string(base.encode()),
                    enumerated(SCOPE_BASE),
                    enumerated(0),
                    integer(0),
                    integer(0),
                    tlv(0x01, b"\x00"),
                    filter_,
                    sequence(*(octet_string(a.encode()) for a in attributes)),
                )
            ),
        ),
    )


def present(attribute: str) -> bytes:
    return tlv(0x87, attribute.encode())


def netlogon_filter(dns_domain: str, host: str) -> bytes:
    """(&(DnsDomain=...)(Host=...)(NtVer=0x16)): what a Windows client sends to find its DC."""
    return tlv(
        0xA0,
        _equality("DnsDomain", dns_domain.encode())
        + _equality("Host", host.encode())
        + _equality("NtVer", b"\x16\x00\x00\x00"),
    )


def search_entry(message_id: int, attributes: dict[str, list[bytes]]) -> bytes:
    partial = sequence(
        *(
            sequence(octet_string(name.encode()), tlv(0x31, b"".join(octet_string(v) for v in values)))
            for name, values in attributes.items()
        )
    )
    return _message(message_id, application(4, octet_string(b"") + partial))


def search_done(message_id: int) -> bytes:
    return _message(message_id, application(5, enumerated(SUCCESS) + octet_string(b"") + octet_string(b"")))
