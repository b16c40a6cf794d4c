"""Kerberos 5 (UDP and TCP 88): requested etypes, service, realm, ticket etype and error code.

A minimal DER reader walks just the fields named in RFC 4120 section 5; nothing is decrypted.
"""

from __future__ import annotations

from typing import NamedTuple

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.reassembly import SegmentedMessages
from sensor.protocols.text import printable
from sensor.records import Event, KerberosEvent

AS_REQ, AS_REP, TGS_REQ, TGS_REP, KRB_ERROR = 10, 11, 12, 13, 30
REQUESTS = frozenset((AS_REQ, TGS_REQ))
REPLIES = frozenset((AS_REP, TGS_REP))
MAX_ETYPES = 32
MAX_NAME_PARTS = 8
MAX_TCP_MESSAGE = 65536

DER_INTEGER, DER_GENERAL_STRING, DER_SEQUENCE = 0x02, 0x1B, 0x30
CLASS_MASK = 0xE0
CONTEXT_CONSTRUCTED = 0xA0
APPLICATION_CONSTRUCTED = 0x60
TICKET_TAG = APPLICATION_CONSTRUCTED | 1


class Span(NamedTuple):
    """A DER element: its tag and where its value lies in the message."""

    tag: int
    start: int
    end: int


def read_element(data: bytes, pos: int, end: int) -> Span | None:
    """The element at `pos`, if its header and value fit before `end`."""
    if pos + 2 > end:
        return None
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F:  # high tag numbers never occur in Kerberos
        return None
    if length & 0x80:
        octets = length & 0x7F
        if octets == 0 or octets > 4 or pos + octets > end:
            return None
        length = int.from_bytes(data[pos : pos + octets], "big")
        pos += octets
    if pos + length > end:
        return None
    return Span(tag, pos, pos + length)


def context_fields(data: bytes, outer: Span | None) -> dict[int, Span]:
    """The [n]-tagged fields of the SEQUENCE that `outer` wraps, keyed by n."""
    fields: dict[int, Span] = {}
    if outer is None:
        return fields
    sequence = read_element(data, outer.start, outer.end)
    if sequence is None or sequence.tag != DER_SEQUENCE:
        return fields
    pos = sequence.start
    while pos < sequence.end:
        element = read_element(data, pos, sequence.end)
        if element is None:
            break
        if element.tag & CLASS_MASK == CONTEXT_CONSTRUCTED:
            fields[element.tag & 0x1F] = element
        pos = element.end
    return fields


def _integer(data: bytes, field: Span | None) -> int | None:
    if field is None:
        return None
    inner = read_element(data, field.start, field.end)
    if inner is None or inner.tag != DER_INTEGER or not 0 < inner.end - inner.start <= 8:
        return None
    return int.from_bytes(data[inner.start : inner.end], "big", signed=True)


def _string(data: bytes, field: Span | None) -> str:
    inner = read_element(data, field.start, field.end) if field else None
    if inner is None or inner.tag != DER_GENERAL_STRING:
        return ""
    return printable(data[inner.start : inner.end])


def _integers(data: bytes, field: Span | None) -> list[int]:
    """A SEQUENCE OF INTEGER such as the etype list of a request body."""
    values: list[int] = []
    sequence = read_element(data, field.start, field.end) if field else None
    if sequence is None or sequence.tag != DER_SEQUENCE:
        return values
    pos = sequence.start
    while pos < sequence.end and len(values) < MAX_ETYPES:
        element = read_element(data, pos, sequence.end)
        if element is None or element.tag != DER_INTEGER or not 0 < element.end - element.start <= 8:
            break
        values.append(int.from_bytes(data[element.start : element.end], "big", signed=True))
        pos = element.end
    return values


def _principal(data: bytes, field: Span | None) -> str:
    """PrincipalName as "HTTP/dc-mantvydas": its name-string components joined by slashes."""
    names = context_fields(data, field).get(1)
    sequence = read_element(data, names.start, names.end) if names else None
    if sequence is None or sequence.tag != DER_SEQUENCE:
        return ""
    parts: list[str] = []
    pos = sequence.start
    while pos < sequence.end and len(parts) < MAX_NAME_PARTS:
        element = read_element(data, pos, sequence.end)
        if element is None or element.tag != DER_GENERAL_STRING:
            break
        parts.append(printable(data[element.start : element.end]))
        pos = element.end
    return "/".join(parts)


def parse_message(ctx: PacketContext, msg: bytes) -> KerberosEvent | None:
    top = read_element(msg, 0, len(msg))
    if top is None or top.tag & CLASS_MASK != APPLICATION_CONSTRUCTED:
        return None
    msg_type = top.tag & 0x1F
    fields = context_fields(msg, top)
    if msg_type in REQUESTS:
        body = context_fields(msg, fields.get(4))
        if not body:
            return None
        return ctx.event(
            KerberosEvent,
            msg_type=msg_type,
            requested_etypes=_integers(msg, body.get(8)),
            service=_principal(msg, body.get(3)),
            realm=_string(msg, body.get(2)),
        )
    if msg_type in REPLIES:
        ticket_field = fields.get(5)
        ticket = read_element(msg, ticket_field.start, ticket_field.end) if ticket_field else None
        if ticket is None or ticket.tag != TICKET_TAG:
            return None
        # the Ticket is an [APPLICATION 1] wrapper around its SEQUENCE
        ticket_fields = context_fields(msg, ticket)
        enc_part = context_fields(msg, ticket_fields.get(3))
        return ctx.event(
            KerberosEvent,
            msg_type=msg_type,
            ticket_etype=_integer(msg, enc_part.get(0)) or 0,
            service=_principal(msg, ticket_fields.get(2)),
            realm=_string(msg, ticket_fields.get(1)),
        )
    if msg_type == KRB_ERROR:
        error_code = _integer(msg, fields.get(6))
        if error_code is None:
            return None
        return ctx.event(
            KerberosEvent,
            msg_type=msg_type,
            error_code=error_code,
            service=_principal(msg, fields.get(10)),
            realm=_string(msg, fields.get(9)),
        )
    return None


def _tcp_message_length(data: bytes, start: int) -> int | None:
    if start + 4 > len(data):
        return 4
    if data[start] & 0x80:  # the high bit is reserved for a length-extension scheme nobody uses
        return None
    return 4 + int.from_bytes(data[start : start + 4], "big")


class KerberosExtractor(PortBasedExtractor):
    tcp_ports = frozenset((88,))
    udp_ports = frozenset((88,))

    def __init__(self) -> None:
        self._segments = SegmentedMessages(_tcp_message_length, max_message=MAX_TCP_MESSAGE)

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        if ctx.proto == "UDP":
            messages = [payload]
        else:  # TCP puts a 4-byte length in front of each message
            messages = [m[4:] for m in self._segments.feed((ctx.flow_uid, ctx.src_ip, ctx.src_port), payload)]
        return [event for message in messages if (event := parse_message(ctx, message))]
