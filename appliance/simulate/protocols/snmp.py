"""SNMPv2c (RFC 3416) GetRequest and Response in BER, as monitoring servers poll printers, switches and
servers: sysUpTime, interface counters, a printer's page counter and toner level."""

from __future__ import annotations

import random

from appliance.simulate.protocols.der import integer, object_identifier, octet_string, sequence, tlv

PORT = 161
GET_REQUEST, RESPONSE = 0xA0, 0xA2
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10.1"
IF_OUT_OCTETS = "1.3.6.1.2.1.2.2.1.16.1"
HR_PROCESSOR_LOAD = "1.3.6.1.2.1.25.3.3.1.2.196608"
PRINTER_PAGE_COUNT = "1.3.6.1.2.1.43.10.2.1.4.1.1"
PRINTER_TONER_LEVEL = "1.3.6.1.2.1.43.11.1.1.9.1.1"
HOST_OIDS = (SYS_UPTIME, IF_IN_OCTETS, IF_OUT_OCTETS, HR_PROCESSOR_LOAD)
PRINTER_OIDS = (SYS_UPTIME, PRINTER_PAGE_COUNT, PRINTER_TONER_LEVEL)
_NULL = b"\x05\x00"


TIMETICKS, COUNTER32 = 0x43, 0x41


def _unsigned(tag: int, value: int) -> bytes:
    """Application-tagged 32-bit unsigned values are still BER integers: a leading zero keeps them positive."""
    raw = (value & 0xFFFFFFFF).to_bytes(4, "big").lstrip(b"\x00") or b"\x00"
    return tlv(tag, raw if raw[0] < 0x80 else b"\x00" + raw)


def _message(community: str, pdu_type: int, request_id: int, bindings: list[tuple[str, bytes]]) -> bytes:
    varbinds = sequence(*(sequence(object_identifier(oid), value) for oid, value in bindings))
    pdu = tlv(pdu_type, integer(request_id) + integer(0) + integer(0) + varbinds)
    return sequence(integer(1), octet_string(community.encode()), pdu)


def get_request(community: str, request_id: int, oids: tuple[str, ...]) -> bytes:
    return _message(community, GET_REQUEST, request_id, [(oid, _NULL) for oid in oids])


def response(community: str, request_id: int, oids: tuple[str, ...], rng: random.Random, uptime_s: float) -> bytes:
    def value(oid: str) -> bytes:
        if oid == SYS_UPTIME:
            return _unsigned(TIMETICKS, int(uptime_s * 100))
        if oid in (IF_IN_OCTETS, IF_OUT_OCTETS, PRINTER_PAGE_COUNT):
            return _unsigned(COUNTER32, int(uptime_s * rng.uniform(900, 1100)))
        return integer(rng.randint(1, 99))

    return _message(community, RESPONSE, request_id, [(oid, value(oid)) for oid in oids])
