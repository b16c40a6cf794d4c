"""BACnet/IP (UDP 47808): BVLC, NPDU and the APDU's service choice (15 = WriteProperty)."""

from __future__ import annotations

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.records import BacnetEvent, Event

BVLC_TYPE = 0x81
BVLC_FORWARDED_NPDU = 0x04  # carries the original sender's B/IP address (6 bytes) before the NPDU
BVLC_WITH_NPDU = frozenset((0x04, 0x09, 0x0A, 0x0B))
NPDU_VERSION = 0x01
NPDU_NETWORK_MESSAGE = 0x80  # no APDU follows
NPDU_HAS_DESTINATION = 0x20
NPDU_HAS_SOURCE = 0x08
APDU_SEGMENTED = 0x08

CONFIRMED_REQUEST, UNCONFIRMED_REQUEST, SIMPLE_ACK, COMPLEX_ACK, ERROR = 0, 1, 2, 3, 5


def apdu_offset(msg: bytes) -> int | None:
    """Where the APDU begins, after the BVLC and NPDU headers, or None if there is none."""
    if len(msg) < 6 or msg[0] != BVLC_TYPE or msg[1] not in BVLC_WITH_NPDU:
        return None
    pos = 10 if msg[1] == BVLC_FORWARDED_NPDU else 4
    if pos + 2 > len(msg) or msg[pos] != NPDU_VERSION:
        return None
    control = msg[pos + 1]
    if control & NPDU_NETWORK_MESSAGE:
        return None
    pos += 2
    if control & NPDU_HAS_DESTINATION:  # DNET (2), DLEN, DADR
        if pos + 3 > len(msg):
            return None
        pos += 3 + msg[pos + 2]
    if control & NPDU_HAS_SOURCE:  # SNET (2), SLEN, SADR
        if pos + 3 > len(msg):
            return None
        pos += 3 + msg[pos + 2]
    if control & NPDU_HAS_DESTINATION:
        pos += 1  # hop count
    return pos if pos < len(msg) else None


def service_choice(apdu: bytes, pos: int) -> tuple[int, int] | None:
    """(PDU type, service choice) of the APDU at `pos`; None for PDUs without a service."""
    pdu_type = apdu[pos] >> 4
    segmented = bool(apdu[pos] & APDU_SEGMENTED)
    if pdu_type == CONFIRMED_REQUEST:  # flags, max segments/APDU, invoke id, [sequence, window], service
        offset = 5 if segmented else 3
    elif pdu_type == COMPLEX_ACK:  # flags, invoke id, [sequence, window], service
        offset = 4 if segmented else 2
    elif pdu_type in (SIMPLE_ACK, ERROR):  # type, invoke id, service
        offset = 2
    elif pdu_type == UNCONFIRMED_REQUEST:  # type, service
        offset = 1
    else:
        return None
    if pos + offset >= len(apdu):
        return None
    return pdu_type, apdu[pos + offset]


class BacnetExtractor(PortBasedExtractor):
    udp_ports = frozenset((47808,))

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        pos = apdu_offset(payload)
        choice = service_choice(payload, pos) if pos is not None else None
        if choice is None:
            return []
        pdu_type, service = choice
        return [
            ctx.event(
                BacnetEvent,
                service=service,
                confirmed=pdu_type != UNCONFIRMED_REQUEST,
                is_response=pdu_type in (SIMPLE_ACK, COMPLEX_ACK, ERROR),
            )
        ]
